"""The sample web's ground-truth judge: scores generated images and captions against ``Scene`` specs.

It uses nothing but the scene vocabulary of ``schemas.scenes`` and pixels. For each group
of a scene, pixels near the group's colour are labelled into connected components (specks
smaller than ``min_area`` are ignored), and the judge checks

- colour: at least one component of that colour exists;
- count: the number of components equals the group's count;
- position: the centroid of the components lies in the position's region (left/right =
  left/right third, top/bottom = top/bottom third, centre = the middle third of both);
- shape: the components' mean fill ratio of their bounding box is nearest to the shape's
  (circle pi/4, square 1, triangle 1/2).

A caption is scored per group on the same four attributes, read from the words of the
sentence (``two red circles on the left``). Chance levels of guessing each attribute
uniformly are reported beside the accuracies, so "above chance" has a number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from schemas.scenes import COLOURS, COUNTS, POSITIONS, SHAPES, Scene, SceneObject

ATTRIBUTES = ("colour", "count", "position", "shape")
FILL = {"circle": math.pi / 4, "square": 1.0, "triangle": 0.5}
CHANCE = {"colour": 1 / len(COLOURS), "count": 1 / len(COUNTS), "position": 1 / len(POSITIONS),
          "shape": 1 / len(SHAPES)}
_NUMBERS = {"one": 1, "a": 1, "an": 1, "single": 1, "two": 2, "three": 3, "four": 4, "1": 1, "2": 2, "3": 3, "4": 4}


@dataclass
class Score:
    """Per-attribute correctness (0 or 1) of one scene group."""

    colour: float
    count: float
    position: float
    shape: float

    @property
    def mean(self) -> float:
        """Fraction of attributes right."""
        return (self.colour + self.count + self.position + self.shape) / 4

    @property
    def all(self) -> bool:
        """Every attribute right."""
        return self.mean == 1.0


def in_region(position: str, x: float, y: float, size: int) -> bool:
    """Whether point ``(x, y)`` lies in the region of ``position`` on a ``size`` canvas."""
    third = size / 3
    return {"left": x < third, "right": x >= 2 * third, "top": y < third, "bottom": y >= 2 * third,
            "center": third <= x < 2 * third and third <= y < 2 * third}[position]


def colour_mask(image: np.ndarray, colour: str, tolerance: float = 60.0) -> np.ndarray:
    """Pixels within ``tolerance`` (RGB distance) of the named colour and nearer to it than to any other."""
    pixels = image[..., :3].astype(np.float32)
    names = list(COLOURS) + ["background"]
    refs = np.array(list(COLOURS.values()) + [(255, 255, 255)], dtype=np.float32)
    dist = np.linalg.norm(pixels[..., None, :] - refs, axis=-1)
    nearest = dist.argmin(-1)
    i = names.index(colour)
    return (nearest == i) & (dist[..., i] < tolerance)


@dataclass
class Measured:
    """What the judge sees of one group: components of its colour, their mean fill's shape, their centroid."""

    count: int
    shape: str | None
    centroid: tuple[float, float] | None   # (x, y) on the scene's own canvas


def measure_group(image: np.ndarray, obj: SceneObject, scene_size: int, min_area: int | None = None) -> Measured:
    """Measure the group ``obj`` asks for in an RGB image (H, W, 3) of any size."""
    scale = image.shape[0] / scene_size
    min_area = min_area if min_area is not None else max(3, round(6 * scale * scale))
    labels, n = ndimage.label(colour_mask(image, obj.colour))
    areas = ndimage.sum(np.ones_like(labels), labels, range(1, n + 1)) if n else np.zeros(0)
    keep = [i + 1 for i, a in enumerate(areas) if a >= min_area]
    if not keep:
        return Measured(0, None, None)
    centroids = ndimage.center_of_mass(np.ones_like(labels), labels, keep)
    cy, cx = np.mean([c[0] for c in centroids]), np.mean([c[1] for c in centroids])
    fills = []
    for box, i in zip(ndimage.find_objects(labels), range(1, n + 1)):
        if i in keep and box is not None:
            region = labels[box] == i
            fills.append(region.sum() / region.size)
    shape = min(FILL, key=lambda s: abs(FILL[s] - float(np.mean(fills))))
    return Measured(len(keep), shape, (float(cx / scale), float(cy / scale)))


def score_group(measured: Measured, obj: SceneObject, scene_size: int) -> Score:
    """The four attributes of ``obj`` checked against what was measured."""
    if measured.centroid is None:
        return Score(0.0, 0.0, 0.0, 0.0)
    return Score(1.0, float(measured.count == obj.count),
                 float(in_region(obj.position, *measured.centroid, scene_size)), float(measured.shape == obj.shape))


def judge_image(image: np.ndarray, scene: Scene, min_area: int | None = None) -> list[Score]:
    """One ``Score`` per group of ``scene`` for an RGB image (H, W, 3) of any size."""
    return [score_group(measure_group(image, obj, scene.size, min_area), obj, scene.size) for obj in scene.objects]


def parse_caption(text: str) -> list[dict[str, object]]:
    """Groups mentioned in a caption: ``[{"colour", "count", "position", "shape"}]`` (missing ones None)."""
    groups = []
    for clause in re.split(r"\band\b|[;.]", text.lower()):
        words = re.findall(r"[a-z0-9]+", clause)
        if not words:
            continue
        found: dict[str, object] = {"colour": None, "count": None, "position": None, "shape": None}
        for w in words:
            if w in COLOURS and found["colour"] is None:
                found["colour"] = w
            elif w.rstrip("s") in SHAPES and found["shape"] is None:
                found["shape"] = w.rstrip("s")
            elif w == "centre":
                found["position"] = found["position"] or "center"
            elif w in POSITIONS and found["position"] is None:
                found["position"] = w
            elif w in _NUMBERS and found["count"] is None:
                found["count"] = _NUMBERS[w]
        if any(v is not None for v in found.values()):
            groups.append(found)
    return groups


def judge_caption(text: str, scene: Scene) -> list[Score]:
    """One ``Score`` per group of ``scene``: the caption clause naming its colour (else the clause in its place)."""
    groups = parse_caption(text)
    scores = []
    for k, obj in enumerate(scene.objects):
        match = next((g for g in groups if g["colour"] == obj.colour), groups[k] if k < len(groups) else None)
        if match is None:
            scores.append(Score(0.0, 0.0, 0.0, 0.0))
            continue
        scores.append(Score(float(match["colour"] == obj.colour), float(match["count"] == obj.count),
                            float(match["position"] == obj.position), float(match["shape"] == obj.shape)))
    return scores


def summarise(scores: list[list[Score]], prefix: str) -> dict[str, float]:
    """``{prefix}_accuracy`` (mean attribute correctness), per attribute, all-correct rate, and both chance levels."""
    flat = [s for group in scores for s in group]
    if not flat:
        return {f"{prefix}_accuracy": float("nan")}
    exact_chance = math.prod(CHANCE.values())  # every attribute of one group right by guessing
    out = {f"{prefix}_accuracy": float(np.mean([s.mean for s in flat])),
           f"{prefix}_all_correct": float(np.mean([all(s.all for s in group) for group in scores])),
           f"{prefix}_chance": float(np.mean(list(CHANCE.values()))),
           f"{prefix}_exact_chance": float(np.mean([exact_chance ** len(group) for group in scores]))}
    for attr in ATTRIBUTES:
        out[f"{prefix}_{attr}"] = float(np.mean([getattr(s, attr) for s in flat]))
    return out
