"""Checks of a training plan against its corpora, run before the first step.

A mistake that would only show after minutes of training (a stage's corpus that is missing,
a sequence length that cannot hold one image of it, training data that uses the held-out
compositions of its own evaluation split) is a one-line ``ConfigError`` instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from schemas.scene_split import find_split, load_split
from schemas.scenes import Scene
from trainer.assets import Vocabulary
from trainer.config import ConfigError, CorpusSpec, StageConfig
from trainer.data.shards import CorpusError, list_shards, read_samples, sample_document
from trainer.data.tokenize import BadSample, DocumentTokenizer

IMAGE_OVERHEAD = 4  # <|boi|> <|h|> <|w|> ... <|eoi|>


def check_corpora(plan: list[StageConfig], mixtures: list[list[CorpusSpec]]) -> None:
    """Every stage's corpora have shards, and none overlaps the held-out split beside it."""
    checked: set[str] = set()
    for stage, mixture in zip(plan, mixtures):
        for spec in mixture:
            if spec.path in checked:
                continue
            try:
                list_shards(spec.path)
            except CorpusError as exc:
                raise ConfigError(f"stage {stage.name!r}: {exc}") from None
            check_split(spec.path)
            checked.add(spec.path)


def check_rows(plan: list[StageConfig], mixtures: list[list[CorpusSpec]], default_seq_len: int,
               vocab: Vocabulary) -> None:
    """Every stage's rows can hold one image of each of its corpora that has images."""
    if vocab.images is None:
        return
    need = vocab.images.grid ** 2 + IMAGE_OVERHEAD + 2  # with <|bos|> and <|eos|>
    holds: dict[str, bool] = {}
    for stage, mixture in zip(plan, mixtures):
        seq_len = stage.seq_len or default_seq_len
        for spec in mixture:
            if spec.path not in holds:
                holds[spec.path] = _holds_images(spec.path, vocab)
            if holds[spec.path] and seq_len < need:
                raise ConfigError(f"stage {stage.name!r}: seq_len {seq_len} cannot hold one image of "
                                  f"{spec.path} ({need} tokens with a {vocab.images.grid}x{vocab.images.grid} "
                                  "grid); raise the stage's seq_len")


def _holds_images(corpus: str, vocab: Vocabulary) -> bool:
    """Whether the corpus's first sample has an image (read as the loader reads it)."""
    for sample in read_samples(list_shards(corpus)[0]):
        try:
            return any(im.status == "ok" for im in sample_document(sample).images)
        except ValueError:  # no KEY.json: tokens only
            try:
                return vocab.layout.boi in DocumentTokenizer(vocab.layout, vocab.text, None)(sample).tolist()
            except BadSample:
                return False
    return False


def check_split(corpus: str) -> None:
    """Refuse a training corpus whose ground truth uses a held-out composition or pairing of its split."""
    split_path = find_split(corpus)
    truth = Path(corpus) / "ground_truth.jsonl"
    if split_path is None or not truth.is_file():
        return
    try:
        split = load_split(split_path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    overlap, first = 0, None
    for line in truth.read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("kind") == "image" and row.get("scene"):
            scene = Scene.from_json(row["scene"])
            if split.is_held_out(scene):
                overlap += 1
                first = first or scene.caption()
    if overlap:
        raise ConfigError(f"training corpus {corpus} holds {overlap} scenes of the held-out split {split_path} "
                          f"(the first: {first!r}); train on data without them, or use another split")
