"""The scene world's held-out split: compositions that never appear in training.

A *composition* is one group's ``(shape, colour, count, position)``; a *pairing* is the two
``(colour, shape)`` kinds of a two-group scene, unordered. ``CompositionSplit`` holds a
seeded set of each. A training scene must use neither a held-out composition in any group
nor a held-out pairing; the evaluation scenes are exactly the held-out ones, so a model is
scored on combinations of words it has seen only apart.

The split is written beside the data (``WORLD/split.json``), and every tool that trains or
scores on a scene-world corpus reads it from there: the generator, ``trainer train`` (which
refuses a corpus that overlaps it) and ``trainer eval``.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.scenes import COLOURS, COUNTS, POSITIONS, SHAPES, Scene, SceneObject

SPLIT_FILE = "split.json"
Composition = tuple[str, str, int, str]          # shape, colour, count, position
Pairing = frozenset[tuple[str, str]]             # two (colour, shape) kinds


def composition(obj: SceneObject) -> Composition:
    """The composition of one group."""
    return obj.shape, obj.colour, obj.count, obj.position


def pairing(scene: Scene) -> Pairing | None:
    """The pairing of a two-group scene; None for a one-group scene."""
    if len(scene.objects) != 2:
        return None
    return frozenset((o.colour, o.shape) for o in scene.objects)


def all_compositions() -> list[Composition]:
    """Every composition of the vocabulary, in a fixed order (360)."""
    return list(itertools.product(SHAPES, sorted(COLOURS), COUNTS, POSITIONS))


def all_pairings() -> list[Pairing]:
    """Every pairing of two kinds of different colours, in a fixed order (135)."""
    kinds = list(itertools.product(sorted(COLOURS), SHAPES))
    return [frozenset(p) for p in itertools.combinations(kinds, 2) if p[0][0] != p[1][0]]


@dataclass(frozen=True)
class CompositionSplit:
    """Held-out compositions and pairings, drawn from ``seed``."""

    seed: int
    compositions: frozenset[Composition]
    pairings: frozenset[Pairing]

    @classmethod
    def draw(cls, seed: int = 0, compositions: int = 48, pairings: int = 16) -> CompositionSplit:
        """Hold out ``compositions`` of the 360 compositions and ``pairings`` of the 135 pairings.

        Every shape, colour, count and position stays in training in many compositions, so a
        held-out one is a new combination of known words.
        """
        if not 0 < compositions < len(all_compositions()) // 2 or not 0 < pairings < len(all_pairings()) // 2:
            raise ValueError(f"hold out between 1 and half of the compositions ({len(all_compositions())}) "
                             f"and pairings ({len(all_pairings())}); got {compositions} and {pairings}")
        rng = random.Random(seed)
        return cls(seed, frozenset(rng.sample(all_compositions(), compositions)),
                   frozenset(rng.sample(all_pairings(), pairings)))

    def is_held_out(self, scene: Scene) -> bool:
        """Whether ``scene`` uses a held-out composition in any group, or a held-out pairing."""
        return (any(composition(o) in self.compositions for o in scene.objects)
                or pairing(scene) in self.pairings)

    def to_json(self) -> dict[str, Any]:
        """The form of ``split.json``."""
        return {"seed": self.seed,
                "compositions": [list(c) for c in sorted(self.compositions)],
                "pairings": sorted(sorted(list(k) for k in p) for p in self.pairings)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CompositionSplit:
        """Parse ``split.json``; a malformed entry is a ``ValueError`` naming it."""
        try:
            comps = frozenset(composition(SceneObject(s, c, int(n), p)) for s, c, n, p in obj["compositions"])
            pairs = frozenset(frozenset((c, s) for c, s in p) for p in obj["pairings"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a composition split: {exc}") from None
        if any(len(p) != 2 for p in pairs):
            raise ValueError("not a composition split: a pairing must name two different kinds")
        return cls(int(obj.get("seed", 0)), comps, pairs)

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/split.json``."""
        path = Path(folder) / SPLIT_FILE
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path


def find_split(corpus: str | Path) -> Path | None:
    """``split.json`` in the corpus folder or the folder above it (the world root), if any."""
    base = Path(corpus)
    for folder in (base, base.parent):
        if (folder / SPLIT_FILE).is_file():
            return folder / SPLIT_FILE
    return None


def load_split(path: str | Path) -> CompositionSplit:
    """Read a ``split.json``; an unreadable one is a ``ValueError`` naming the file."""
    try:
        return CompositionSplit.from_json(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
