"""Which tokenizers and token layout a corpus was tokenized with, recorded beside its shards.

::

    CORPUS/token_layout.json   schemas.token_layout.TokenLayout.to_json(), read by the trainer
    CORPUS/tokenizer.json      {"text": text tokenizer spec, "vq": VQ checkpoint, "text_sha256": ...}

(``schemas.corpus`` names them; a trainer run folder has the same two). The ``tokenize`` stage
produces them (``vocabulary_files``) and the runner writes them when a tokenize run commits;
``dataengine publish`` copies them to its output with ``write_vocabulary``.
``corpus_vocabulary`` reads them back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dataengine.shards.layout import join, open_corpus
from schemas.corpus import LAYOUT_FILE, TOKENIZER_FILE, read_token_layout
from schemas.token_layout import TokenLayout


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


def vocabulary_files(vocabulary: CorpusVocabulary) -> dict[str, str]:
    """The contents of ``token_layout.json`` and ``tokenizer.json`` for ``vocabulary``."""
    return {LAYOUT_FILE: vocabulary.layout.to_json(),
            TOKENIZER_FILE: json.dumps(vocabulary.tokenizer_json(), sort_keys=True)}


def corpus_vocabulary(corpus: str) -> CorpusVocabulary | None:
    """The corpus's vocabulary from its two files; None when it has none (it is not tokenized)."""
    fs, root = open_corpus(corpus)
    tokenizer_path = join(root, TOKENIZER_FILE)
    layout = read_token_layout(fs, root) if fs.exists(tokenizer_path) else None
    if layout is None:
        return None
    with fs.open(tokenizer_path, "r") as f:
        record = json.load(f)
    return CorpusVocabulary(layout, record["text"], record.get("vq"), record.get("text_sha256"))


def write_vocabulary(corpus: str, vocabulary: CorpusVocabulary) -> None:
    """Write ``token_layout.json`` and ``tokenizer.json`` into ``corpus``."""
    fs, root = open_corpus(corpus)
    for name, text in vocabulary_files(vocabulary).items():
        with fs.open(join(root, name), "w") as f:
            f.write(text)
