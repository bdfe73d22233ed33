"""An ILScore-style report for interleaved generation, with a pluggable judge.

ILScore (ILLUME-X) rates an interleaved document on four dimensions: image-text accuracy
(does each image show what the text before it says), single-image quality, consistency
across the document's images, and text quality. A judge is anything with the four methods
of ``InterleavedJudge``; ``SceneJudge`` is the sample web's ground-truth one, which reads
scene phrases from the text and checks pixels against them.
"""

from __future__ import annotations

import re
from typing import Protocol

import numpy as np

from schemas.scenes import BACKGROUND, COLOURS, Scene, SceneObject
from trainer.eval.judge import judge_image, parse_caption


class InterleavedJudge(Protocol):
    """Scores in [0, 1] for the four ILScore dimensions."""

    def image_text(self, text: str, image: np.ndarray) -> float | None:
        """How well ``image`` matches ``text`` (None when the text describes nothing checkable)."""

    def image_quality(self, image: np.ndarray) -> float:
        """Quality of one image on its own."""

    def consistency(self, images: list[np.ndarray]) -> float:
        """How consistent the images of one document are with each other."""

    def text_quality(self, text: str) -> float:
        """Quality of the document's text."""


class SceneJudge:
    """Ground-truth judge for sample-web scenes: palette pixels, scene phrases, known words."""

    def __init__(self, vocabulary: set[str] | None = None):
        from schemas.scenes import POSITIONS, SHAPES

        words = set(COLOURS) | set(POSITIONS) | {s + x for s in SHAPES for x in ("", "s")}
        words |= {"one", "two", "three", "four", "on", "the", "in", "and", "a", "centre"}
        self.vocabulary = words | (vocabulary or set())
        self.palette = np.array(list(COLOURS.values()) + [BACKGROUND], dtype=np.float32)

    def image_text(self, text: str, image: np.ndarray) -> float | None:
        """Mean attribute correctness of the groups the text fully describes."""
        objects = []
        for g in parse_caption(text):
            if all(g[k] is not None for k in ("colour", "count", "position", "shape")):
                objects.append(SceneObject(g["shape"], g["colour"], g["count"], g["position"]))
        if not objects:
            return None
        return float(np.mean([s.mean for s in judge_image(image, Scene(tuple(objects)))]))

    def image_quality(self, image: np.ndarray) -> float:
        """Fraction of pixels close to the scene palette (solid colours on white, as drawn)."""
        dist = np.linalg.norm(image[..., None, :3].astype(np.float32) - self.palette, axis=-1).min(-1)
        return float((dist < 40).mean())

    def consistency(self, images: list[np.ndarray]) -> float:
        """Mean pairwise overlap of the images' palette-colour histograms (1 for a single image)."""
        if len(images) < 2:
            return 1.0
        hists = []
        for im in images:
            nearest = np.linalg.norm(im[..., None, :3].astype(np.float32) - self.palette, axis=-1).argmin(-1)
            h = np.bincount(nearest.ravel(), minlength=len(self.palette))[:-1].astype(np.float64)
            hists.append(h / max(h.sum(), 1))
        pairs = [np.minimum(a, b).sum() for i, a in enumerate(hists) for b in hists[i + 1:]]
        return float(np.mean(pairs))

    def text_quality(self, text: str) -> float:
        """Fraction of words that are real words of the scene language."""
        words = re.findall(r"[A-Za-z]+", text.lower())
        return float(np.mean([w in self.vocabulary for w in words])) if words else 0.0


def ilscore(documents: list[list[str | np.ndarray]], judge: InterleavedJudge) -> dict[str, float]:
    """Mean of each dimension over documents (parts: text strings and uint8 images in order)."""
    accuracy, quality, consistency, text_quality = [], [], [], []
    for parts in documents:
        images = [p for p in parts if isinstance(p, np.ndarray)]
        text_before = ""
        for part in parts:
            if isinstance(part, str):
                text_before = part
            else:
                score = judge.image_text(text_before, part)
                if score is not None:
                    accuracy.append(score)
                quality.append(judge.image_quality(part))
        consistency.append(judge.consistency(images))
        text_quality.append(judge.text_quality(" ".join(p for p in parts if isinstance(p, str))))
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
    return {"ilscore_image_text": mean(accuracy), "ilscore_image_quality": mean(quality),
            "ilscore_consistency": mean(consistency), "ilscore_text": mean(text_quality),
            "ilscore_images": float(sum(len([p for p in d if isinstance(p, np.ndarray)]) for d in documents))}
