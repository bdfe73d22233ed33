"""The vocabulary of a run: token layout, text tokenizer and VQ image tokenizer, resolved once.

The layout comes from the corpus's ``token_layout.json`` when the corpus is tokenized (and
the tokenizers must agree with it), otherwise from the text tokenizer's vocabulary and the
VQ's codebook. A run directory keeps all three (``run.json``, ``token_layout.json``,
``vq.pt``) so generation and evaluation use exactly what training used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.corpus import LAYOUT_FILE, TOKENIZER_FILE
from schemas.token_layout import TokenLayout
from trainer.config import ConfigError
from trainer.data.shards import corpus_layout, corpus_tokenizers, holds_tokens
from trainer.text_tokenizer import TextTokenizer, load_text_tokenizer
from trainer.vq.tokenizer import ImageTokenizer


@dataclass
class Vocabulary:
    """The layout and the two tokenizers of a run."""

    layout: TokenLayout
    text: TextTokenizer
    images: ImageTokenizer | None

    def save(self, run_dir: Path) -> None:
        """Write ``token_layout.json``, copy the VQ to ``vq.pt`` and record the text tokenizer spec."""
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / LAYOUT_FILE).write_text(self.layout.to_json())
        if self.images is not None:
            self.images.save(run_dir / "vq.pt")
        (run_dir / TOKENIZER_FILE).write_text(json.dumps({"text": self.text.spec,
                                                          "vq": "vq.pt" if self.images else None}))

    @classmethod
    def load(cls, run_dir: Path, device: str = "cpu") -> Vocabulary:
        """Read what ``save`` wrote."""
        spec: dict[str, Any] = json.loads((run_dir / TOKENIZER_FILE).read_text())
        layout = TokenLayout.from_json((run_dir / LAYOUT_FILE).read_text())
        images = ImageTokenizer.load(run_dir / spec["vq"], device) if spec.get("vq") else None
        return cls(layout, load_text_tokenizer(spec["text"]), images)


def resolve_vocabulary(text_spec: str, vq_path: str | None, corpora: list[str], max_grid: int) -> Vocabulary:
    """Build the run's vocabulary and check that tokenizers and corpora agree on the layout."""
    try:
        text = load_text_tokenizer(text_spec)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"tokenizer.text {text_spec!r}: {exc}") from None
    try:
        images = ImageTokenizer.load(vq_path) if vq_path else None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"tokenizer.vq {vq_path!r}: {exc}") from None
    layouts = {c: corpus_layout(c) for c in corpora}
    for corpus, layout in layouts.items():
        if layout is None and holds_tokens(corpus):
            # Its ids mean nothing without the layout they were written in: refuse rather than guess.
            raise ConfigError(f"corpus {corpus} holds KEY.tokens.npy but no token_layout.json, so its token ids "
                              "cannot be read; train on its published copy (`dataengine publish` writes the "
                              "layout) or on the corpus before tokenization")
    found = {c: lay for c, lay in layouts.items() if lay is not None}
    if len({lay.to_json() for lay in found.values()}) > 1:
        raise ConfigError(f"corpora have different token layouts: {sorted(found)}")
    if found:
        layout = next(iter(found.values()))
        if layout.text_vocab_size != text.vocab_size:
            corpus = next(iter(found))
            recorded = corpus_tokenizers(corpus).get("text")
            hint = (f"; {corpus} was tokenized with text tokenizer {recorded!r}: pass --set tokenizer.text={recorded}"
                    if recorded else "")
            raise ConfigError(f"text tokenizer {text_spec!r} has {text.vocab_size} ids but the corpus layout "
                              f"has text_vocab_size {layout.text_vocab_size}{hint}")
        if images is not None and layout.codebook_size != images.codebook_size:
            raise ConfigError(f"VQ {vq_path} has {images.codebook_size} codes but the corpus layout has "
                              f"codebook_size {layout.codebook_size}")
        return Vocabulary(layout, text, images)
    if images is None:
        raise ConfigError("no VQ tokenizer given (tokenizer.vq or --vq) and the corpus has no token_layout.json; "
                          "train one with `trainer vq train`")
    return Vocabulary(TokenLayout(text.vocab_size, images.codebook_size, max_grid), text, images)

