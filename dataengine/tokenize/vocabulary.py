"""Which tokenizers and token layout a corpus was tokenized with, recorded beside its shards.

::

    CORPUS/token_layout.json   schemas.token_layout.TokenLayout.to_json(), read by the trainer
    CORPUS/tokenizer.json      {"text": text tokenizer spec, "vq": VQ checkpoint, "text_sha256": ...}

(the same two files, under the same names, as in a trainer run folder). The ``tokenize`` stage
runs inside the runner, which gives a stage no corpus path, so these files are written after
the run: ``corpus_vocabulary`` finds the ``tokenize`` stage and its parameters in the corpus's
run records (``runs/RUN_ID.json``) and rebuilds the layout from the same tokenizers;
``write_vocabulary`` puts the files in place (``dataengine publish`` does both for its output).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dataengine.shards.layout import RUNS, join, open_corpus
from dataengine.tokenize.text import load_text_tokenizer, tokenizer_digest
from schemas.token_layout import TokenLayout

LAYOUT_FILE = "token_layout.json"
TOKENIZER_FILE = "tokenizer.json"
STAGE_NAME = "tokenize"


@dataclass
class CorpusVocabulary:
    """The layout of a tokenized corpus and the specs of the tokenizers that produced it."""

    layout: TokenLayout
    text: str
    vq: str | None
    text_sha256: str | None = None

    def tokenizer_json(self) -> dict[str, Any]:
        """The ``tokenizer.json`` record."""
        return {"text": self.text, "vq": self.vq, "text_sha256": self.text_sha256}


def layout_for(text_vocab_size: int, codebook_size: int, grid: int, max_grid: int) -> TokenLayout:
    """The layout of a text vocabulary and a VQ codebook; ``ValueError`` when the VQ's grid exceeds ``max_grid``."""
    if grid > max_grid:
        raise ValueError(f"tokenize: the VQ's {grid}x{grid} code grid does not fit max_grid {max_grid}")
    return TokenLayout(text_vocab_size, codebook_size, max_grid)


def build_vocabulary(text: str, vq: str | None, max_grid: int) -> CorpusVocabulary:
    """The vocabulary of text tokenizer ``text`` and VQ checkpoint ``vq`` (both loaded to size the layout)."""
    from trainer.vq.tokenizer import ImageTokenizer

    if vq is None:
        raise ValueError("tokenize: a VQ checkpoint is needed to size the image codebook (vq: PATH)")
    images = ImageTokenizer.load(vq)
    layout = layout_for(load_text_tokenizer(text).vocab_size, images.codebook_size, images.grid, max_grid)
    return CorpusVocabulary(layout, text, vq, tokenizer_digest(text))


def _read_json(fs, path: str) -> Any:
    with fs.open(path, "r") as f:
        return json.load(f)


def recorded_tokenize_params(corpus: str) -> dict[str, Any] | None:
    """Parameters of the ``tokenize`` stage in the newest completed run record of ``corpus`` that has one."""
    fs, root = open_corpus(corpus)
    records = sorted(fs.glob(join(root, RUNS, "*.json")), reverse=True)  # run ids sort by time
    for path in records:
        try:
            record = _read_json(fs, path)
        except (OSError, ValueError):
            continue
        if record.get("status") != "completed":
            continue
        for stage in (record.get("config") or {}).get("stages") or []:
            if isinstance(stage, dict) and stage.get("name") == STAGE_NAME:
                return dict(stage.get("params") or {})
    return None


def corpus_vocabulary(corpus: str) -> CorpusVocabulary | None:
    """The corpus's vocabulary: from its files, else from its run records; None when it is not tokenized."""
    fs, root = open_corpus(corpus)
    layout_path, tokenizer_path = join(root, LAYOUT_FILE), join(root, TOKENIZER_FILE)
    if fs.exists(layout_path) and fs.exists(tokenizer_path):
        with fs.open(layout_path, "r") as f:
            layout = TokenLayout.from_json(f.read())
        record = _read_json(fs, tokenizer_path)
        return CorpusVocabulary(layout, record["text"], record.get("vq"), record.get("text_sha256"))
    params = recorded_tokenize_params(corpus)
    if params is None:
        return None
    from dataengine.tokenize.stage import DocumentTokenizer

    defaults = DocumentTokenizer.defaults()
    return build_vocabulary(params.get("text_tokenizer", defaults["text_tokenizer"]), params.get("vq"),
                            int(params.get("max_grid", defaults["max_grid"])))


def write_vocabulary(corpus: str, vocabulary: CorpusVocabulary) -> None:
    """Write ``token_layout.json`` and ``tokenizer.json`` into ``corpus``."""
    fs, root = open_corpus(corpus)
    with fs.open(join(root, LAYOUT_FILE), "w") as f:
        f.write(vocabulary.layout.to_json())
    with fs.open(join(root, TOKENIZER_FILE), "w") as f:
        json.dump(vocabulary.tokenizer_json(), f, sort_keys=True)
