"""Drawing the sample web's scenes: groups of solid shapes on a plain background.

The trainer's ground-truth judge checks an image against a ``Scene`` by pixel analysis
(connected components of each colour, and where their centroids lie), so the drawing keeps
to rules it can rely on:

- every pixel is either ``BACKGROUND`` or exactly one of the scene's ``COLOURS`` (PIL's
  ``ImageDraw`` does not anti-alias, and scenes are saved as PNG);
- the shapes of a group never touch each other, so each is one connected component;
- every shape's centroid lies in its position's region (``position_region``): ``left`` /
  ``right`` = the left / right third of the width (any height), ``top`` / ``bottom`` = the
  top / bottom third of the height (any width), ``center`` = the middle third of both;
- two groups in one scene have different colours and positions whose regions do not
  overlap (``COMPATIBLE_POSITIONS``), so ``left`` never shares a scene with ``top``.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from schemas.scenes import BACKGROUND, COLOURS, COUNTS, POSITIONS, SHAPES, Scene, SceneObject

# Position pairs whose regions are disjoint; a two-group scene uses one of these.
COMPATIBLE_POSITIONS: tuple[tuple[str, str], ...] = (
    ("left", "right"), ("top", "bottom"),
    ("left", "center"), ("right", "center"), ("top", "center"), ("bottom", "center"),
)
# Shape sizes on a 64-pixel canvas; they scale with ``Scene.size``.
_STRIP_SIZE = {1: 14, 2: 13, 3: 12, 4: 11}
_CENTER_SIZE = {1: 14, 2: 9, 3: 9, 4: 9}
_CENTER_STEP = 6  # offset of a centre shape from the middle when there are several
_CENTER_OFFSETS = {
    1: [(0, 0)],
    2: [(-1, 0), (1, 0)],
    3: [(-1, -1), (1, -1), (0, 1)],
    4: [(-1, -1), (1, -1), (-1, 1), (1, 1)],
}


def position_region(position: str, size: int = 64) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)``: where the centroid of every shape at ``position`` lies (half-open)."""
    third = size / 3
    x0, y0, x1, y1 = 0.0, 0.0, float(size), float(size)
    if position == "left":
        x1 = third
    elif position == "right":
        x0 = 2 * third
    elif position == "top":
        y1 = third
    elif position == "bottom":
        y0 = 2 * third
    elif position == "center":
        x0, y0, x1, y1 = third, third, 2 * third, 2 * third
    else:
        raise ValueError(f"scene position must be one of {POSITIONS}, got {position!r}")
    return x0, y0, x1, y1


def shape_boxes(obj: SceneObject, size: int = 64) -> list[tuple[float, float, float]]:
    """Centre ``(x, y)`` and side length of each of the group's shapes, before jitter."""
    scale = size / 64
    third = size / 3
    if obj.position == "center":
        side = _CENTER_SIZE[obj.count] * scale
        step = _CENTER_STEP * scale
        return [(size / 2 + dx * step, size / 2 + dy * step, side) for dx, dy in _CENTER_OFFSETS[obj.count]]
    side = _STRIP_SIZE[obj.count] * scale
    across = third / 2 if obj.position in ("left", "top") else size - third / 2
    along = [(i + 0.5) * size / obj.count for i in range(obj.count)]
    if obj.position in ("left", "right"):
        return [(across, a, side) for a in along]
    return [(a, across, side) for a in along]


def render_scene(scene: Scene, seed: int = 0) -> Image.Image:
    """Draw ``scene`` as an RGB image of ``scene.size`` pixels; the same ``seed`` gives the same pixels.

    The seed only moves each group by at most one pixel, which keeps every rule of the
    module docstring.
    """
    rng = random.Random(seed)
    image = Image.new("RGB", (scene.size, scene.size), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        dx, dy = rng.choice((-1, 0, 1)), rng.choice((-1, 0, 1))
        for cx, cy, side in shape_boxes(obj, scene.size):
            _draw_shape(draw, obj.shape, cx + dx, cy + dy, side, COLOURS[obj.colour])
    return image


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, side: float,
                fill: tuple[int, int, int]) -> None:
    half = side / 2
    x0, y0 = round(cx - half), round(cy - half)
    x1, y1 = round(cx + half) - 1, round(cy + half) - 1
    if shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    else:  # triangle, apex up
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) / 2, y0)], fill=fill)


def random_scene(rng: random.Random, size: int = 64, two_groups: float = 0.25) -> Scene:
    """A scene drawn from the closed vocabulary: one group, or two with probability ``two_groups``."""
    if rng.random() < two_groups:
        positions = rng.choice(COMPATIBLE_POSITIONS)
        colours = rng.sample(sorted(COLOURS), 2)
        objects = tuple(SceneObject(rng.choice(SHAPES), colour, rng.choice(COUNTS), position)
                        for colour, position in zip(colours, positions))
    else:
        objects = (SceneObject(rng.choice(SHAPES), rng.choice(sorted(COLOURS)), rng.choice(COUNTS),
                               rng.choice(POSITIONS)),)
    return Scene(objects, size)
