"""The scene world: the sample web's scenes as a training source of any size, split by composition.

``write_world(out, WorldConfig(...))`` writes three corpora and the split they share::

    OUT/pairs/        caption + image documents (the canonical caption, then the scene)
    OUT/interleaved/  documents of 2-4 scenes, each introduced (or followed) by a sentence
    OUT/heldout/      one pair per held-out composition and pairing, the evaluation set
    OUT/split.json    the held-out compositions and pairings (``schemas.scene_split``)

No training scene uses a held-out composition or pairing; ``pairs/``, ``interleaved/`` and
``heldout/`` each carry a ``ground_truth.jsonl`` (image lines with their scene), which is
what ``trainer eval --judge sample-web`` and the trainer's overlap check read. Everything
comes from the seed, so the same config writes the same documents.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from dataengine.sampleweb import text
from dataengine.sampleweb.images import png_bytes
from dataengine.sampleweb.scenes import COMPATIBLE_POSITIONS, random_scene, render_scene
from dataengine.shards.writer import ShardWriter
from schemas.document import Document, ImageRecord, Segment, SourceRef, document_id
from schemas.scene_split import CompositionSplit
from schemas.scenes import COUNTS, Scene, SceneObject

HOST = "http://scene-world.invalid"  # a reserved name: these URLs are labels, never fetched
_BEFORE = ("The next picture shows {}.", "Below you can see {}.", "Here is a drawing of {}.",
           "In this figure we placed {}.", "{}.")
_AFTER = ("The picture above shows {}.", "Above: {}.", "This drawing has {}.")


@dataclass(frozen=True)
class WorldConfig:
    """How much of the scene world to write, and its split."""

    pairs: int = 20000
    interleaved: int = 4000
    seed: int = 0
    two_groups: float = 0.25           # share of two-group scenes
    held_out_compositions: int = 48    # of 360
    held_out_pairings: int = 16        # of 135
    split_seed: int = 0
    image_size: int = 32               # drawn at the VQ's resolution: resizing blurs small shapes
    shard_size: int = 2000

    def __post_init__(self) -> None:
        if self.pairs < 1 or self.interleaved < 0:
            raise ValueError(f"the scene world needs pairs >= 1 and interleaved >= 0, got {self.pairs} "
                             f"and {self.interleaved}")
        if not 0.0 <= self.two_groups <= 1.0:
            raise ValueError(f"two_groups must be in [0, 1], got {self.two_groups}")


def training_scene(rng: random.Random, split: CompositionSplit, size: int, two_groups: float) -> Scene:
    """A random scene that uses no held-out composition or pairing."""
    while True:
        scene = random_scene(rng, size, two_groups)
        if not split.is_held_out(scene):
            return scene


def heldout_scenes(split: CompositionSplit, size: int, seed: int) -> list[Scene]:
    """The evaluation scenes: one per held-out composition, then one per held-out pairing."""
    rng = random.Random(seed)
    scenes = [Scene((SceneObject(*c),), size) for c in sorted(split.compositions)]
    for kinds in sorted(sorted(p) for p in split.pairings):
        positions = rng.choice(COMPATIBLE_POSITIONS)
        objects = tuple(SceneObject(shape, colour, rng.choice(COUNTS), where)
                        for (colour, shape), where in zip(kinds, positions))
        scenes.append(Scene(objects, size))
    return scenes


class _CorpusWriter:
    """One corpus of the world: shards through ``ShardWriter`` and the ground truth of its images."""

    def __init__(self, folder: Path, shard_size: int):
        self.folder, self.name = folder, folder.name
        self.writer = ShardWriter(str(folder), "world", maxcount=shard_size)
        self.truth: list[str] = []
        self.n = 0

    def write(self, parts: list[str | tuple[Scene, int]]) -> None:
        """One document of text strings and ``(scene, render seed)`` images, in reading order."""
        url = f"{HOST}/{self.name}/{self.n:06d}"
        doc = Document(id=document_id(url, "scene-world"), url=url, source=SourceRef("generated", "scene-world"))
        for part in parts:
            if isinstance(part, str):
                doc.segments.append(Segment.of_text(part))
                continue
            scene, seed = part
            data = png_bytes(render_scene(scene, seed))
            i = len(doc.images)
            path = f"/{self.name}/{self.n:06d}/{i}.png"
            doc.images.append(ImageRecord(index=i, url=HOST + path, width=scene.size, height=scene.size,
                                          format="png", status="ok", data=data))
            doc.segments.append(Segment.of_image(i))
            self.truth.append(json.dumps({"kind": "image", "path": path, "scene": scene.to_json()}))
        self.writer.write(doc)
        self.n += 1

    def close(self) -> None:
        """Commit the shards and write ``ground_truth.jsonl``."""
        self.writer.close()
        (self.folder / "ground_truth.jsonl").write_text("".join(line + "\n" for line in self.truth))


def _interleaved_parts(rng: random.Random, scenes: list[Scene]) -> list[str | tuple[Scene, int]]:
    parts: list[str | tuple[Scene, int]] = []
    if rng.random() < 0.5:
        parts.append(text.filler(rng, "en", 1))
    for scene in scenes:
        phrase = text.scene_phrase(scene, "en")
        image = (scene, rng.randrange(2**31))
        if rng.random() < 0.75:
            parts += [text.sentence(rng.choice(_BEFORE).format(phrase)), image]
        else:
            parts += [image, text.sentence(rng.choice(_AFTER).format(phrase))]
    return parts


def write_world(out: str | Path, config: WorldConfig = WorldConfig()) -> dict[str, int]:
    """Write the scene world into ``out`` (which must not hold one already); returns documents per corpus."""
    out = Path(out)
    if any((out / name).exists() for name in ("pairs", "interleaved", "heldout", "split.json")):
        raise FileExistsError(f"{out} already holds a scene world; choose a new directory")
    out.mkdir(parents=True, exist_ok=True)
    split = CompositionSplit.draw(config.split_seed, config.held_out_compositions, config.held_out_pairings)
    split.save(out)
    rng = random.Random(config.seed)
    size, two = config.image_size, config.two_groups

    pairs = _CorpusWriter(out / "pairs", config.shard_size)
    for _ in range(config.pairs):
        scene = training_scene(rng, split, size, two)
        pairs.write([scene.caption(), (scene, rng.randrange(2**31))])
    pairs.close()

    interleaved = _CorpusWriter(out / "interleaved", config.shard_size)
    for _ in range(config.interleaved):
        scenes = [training_scene(rng, split, size, two) for _ in range(rng.randint(2, 4))]
        interleaved.write(_interleaved_parts(rng, scenes))
    interleaved.close()

    heldout = _CorpusWriter(out / "heldout", config.shard_size)
    for k, scene in enumerate(heldout_scenes(split, size, config.split_seed)):
        heldout.write([scene.caption(), (scene, k)])
    heldout.close()
    return {"pairs": pairs.n, "interleaved": interleaved.n, "heldout": heldout.n}
