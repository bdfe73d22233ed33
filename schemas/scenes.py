"""Scenes of the sample web: the closed vocabulary both the generator and the judges use.

The sample web draws simple scenes (a group of identical objects with a shape, a colour, a
count and a position on a plain background) and records each scene in its ground truth.
The trainer's ground-truth judge checks generated images against these specs, so the
vocabulary, the colours' RGB values and the caption wording are part of the contract.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

SHAPES = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (240, 210, 20),
    "purple": (140, 50, 180),
    "orange": (250, 140, 20),
}
POSITIONS = ("left", "right", "top", "bottom", "center")
COUNTS = (1, 2, 3, 4)
BACKGROUND = (255, 255, 255)
_NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}
_COUNT_OF = {w: n for n, w in _NUMBER_WORDS.items()}
_PHRASE = re.compile(rf"({'|'.join(_NUMBER_WORDS.values())}) ({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})(s?) "
                     r"(?:on the (left|right|top|bottom)|in the center)")


@dataclass(frozen=True)
class SceneObject:
    """A group of ``count`` identical shapes of one colour, placed in one region of the image."""

    shape: str
    colour: str
    count: int
    position: str

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"scene shape must be one of {SHAPES}, got {self.shape!r}")
        if self.colour not in COLOURS:
            raise ValueError(f"scene colour must be one of {tuple(COLOURS)}, got {self.colour!r}")
        if self.count not in COUNTS:
            raise ValueError(f"scene count must be one of {COUNTS}, got {self.count!r}")
        if self.position not in POSITIONS:
            raise ValueError(f"scene position must be one of {POSITIONS}, got {self.position!r}")

    def phrase(self) -> str:
        """``"two red circles on the left"`` / ``"one blue square in the center"``."""
        noun = self.shape + ("s" if self.count > 1 else "")
        where = "in the center" if self.position == "center" else f"on the {self.position}"
        return f"{_NUMBER_WORDS[self.count]} {self.colour} {noun} {where}"


@dataclass(frozen=True)
class Scene:
    """A drawn scene: its objects and the image size in pixels."""

    objects: tuple[SceneObject, ...]
    size: int = 64

    def caption(self) -> str:
        """The canonical caption, e.g. ``"Two red circles on the left."``."""
        text = " and ".join(o.phrase() for o in self.objects)
        return text[:1].upper() + text[1:] + "."

    def to_json(self) -> dict[str, Any]:
        """The form stored in ``ground_truth.jsonl``."""
        return {"size": self.size, "objects": [asdict(o) for o in self.objects], "caption": self.caption()}

    @classmethod
    def from_caption(cls, text: str, size: int = 64) -> Scene | None:
        """The scene a canonical caption (``caption()``) describes; None for any other text."""
        phrases = text.strip().removesuffix(".").split(" and ")
        objects = []
        for k, phrase in enumerate(phrases):
            match = _PHRASE.fullmatch(phrase[:1].lower() + phrase[1:] if k == 0 else phrase)
            if match is None:
                return None
            count, colour, shape, plural, side = match.groups()
            n = _COUNT_OF[count]
            if (plural == "s") != (n > 1):
                return None
            objects.append(SceneObject(shape, colour, n, side or "center"))
        return cls(tuple(objects), size)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Scene:
        """Parse the ground-truth form."""
        return cls(tuple(SceneObject(**o) for o in obj["objects"]), obj.get("size", 64))
