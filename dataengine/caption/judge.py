"""Captions scored against the sample web's ground truth: how much of each scene a caption gets right.

A scene is groups of identical shapes (``schemas.scenes``): each group has a count, a colour,
a shape and a position. A caption is split into phrases at ``and``, commas and full stops;
a phrase names whichever of those four attributes it mentions in the scene vocabulary
("two red circles on the left", "red circles", "four circles at the top"). Each true group is
matched to a different phrase, greedily by the number of attributes they share; the score is
the matched attributes over four times the larger of the number of groups and of phrases
that name anything, so a caption that invents groups loses as much as one that misses them.
The canonical caption scores 1.0, a caption naming nothing of the vocabulary 0.0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from schemas.scenes import COLOURS, SHAPES, Scene

ATTRIBUTES = ("count", "colour", "shape", "position")
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4}
_SPLIT = re.compile(r"\band\b|[,.;]")
_POSITION = re.compile(r"\b(left|right|top|bottom|cent(?:er|re)|middle)\b")


def phrase_attributes(phrase: str) -> dict[str, object]:
    """The scene attributes a phrase mentions (a subset of ``ATTRIBUTES``)."""
    words = re.findall(r"[a-z]+", phrase.lower())
    found: dict[str, object] = {}
    for w in words:
        if "count" not in found and w in _NUMBER_WORDS:
            found["count"] = _NUMBER_WORDS[w]
        elif "colour" not in found and w in COLOURS:
            found["colour"] = w
        elif "shape" not in found and w.rstrip("s") in SHAPES:
            found["shape"] = w.rstrip("s")
    where = _POSITION.search(phrase.lower())
    if where:
        word = where.group(1)
        found["position"] = "center" if word in ("center", "centre", "middle") else word
    return found


def caption_score(caption: str | None, scene: Scene) -> float:
    """How much of ``scene`` the caption states correctly, in [0, 1] (see the module docstring)."""
    phrases = [a for a in (phrase_attributes(p) for p in _SPLIT.split(caption or "")) if a]
    truth = [{"count": o.count, "colour": o.colour, "shape": o.shape, "position": o.position} for o in scene.objects]
    pairs = sorted(((sum(p.get(k) == t[k] for k in ATTRIBUTES), i, j)
                    for i, t in enumerate(truth) for j, p in enumerate(phrases)), reverse=True)
    used_truth, used_phrase, matched = set(), set(), 0
    for shared, i, j in pairs:
        if i in used_truth or j in used_phrase:
            continue
        used_truth.add(i)
        used_phrase.add(j)
        matched += shared
    return matched / (len(ATTRIBUTES) * max(len(truth), len(phrases)))


def load_scenes(ground_truth: str | Path) -> dict[str, Scene]:
    """URL path -> scene for every drawn image of a sample web's ``ground_truth.jsonl`` (2x variants too)."""
    scenes: dict[str, Scene] = {}
    for line in Path(ground_truth).read_text().splitlines():
        row = json.loads(line)
        if row.get("kind") != "image" or not row.get("scene"):
            continue
        scene = Scene.from_json(row["scene"])
        for path in [row["path"], *(row.get("srcset") or [])]:
            scenes[path] = scene
    return scenes


@dataclass
class CaptionReport:
    """Captions of one model in a corpus, scored: how many, the mean score, a few examples."""

    model: str | None
    n: int = 0
    mean: float = 0.0
    examples: list[dict[str, object]] = field(default_factory=list)


def score_captions(captions: Iterable[tuple[str | None, str | None]], scenes: dict[str, Scene],
                   model: str | None = None, n_examples: int = 5) -> CaptionReport:
    """Score ``(image URL, caption)`` pairs whose URL path has a true scene in ``scenes``."""
    report, total = CaptionReport(model), 0.0
    for url, caption in captions:
        scene = scenes.get(urlsplit(url or "").path)
        if scene is None or caption is None:
            continue
        score = caption_score(caption, scene)
        total += score
        report.n += 1
        if len(report.examples) < n_examples:
            report.examples.append({"caption": caption, "truth": scene.caption(), "score": score})
    report.mean = total / report.n if report.n else 0.0
    return report

