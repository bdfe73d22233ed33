"""Text tokenizers: a built-in byte-level one (no files needed) or a local Hugging Face tokenizer.

A tokenizer is named by a spec string: ``byte`` or a path to a directory that
``transformers.AutoTokenizer.from_pretrained`` can read (or a ``tokenizer.json`` file of the
``tokenizers`` library). The spec is saved with checkpoints so generation decodes with the
same tokenizer the model was trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class TextTokenizer(Protocol):
    """What the trainer needs from a text tokenizer."""

    spec: str
    vocab_size: int

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, without special tokens."""

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``."""


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255."""

    spec = "byte"
    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        """The UTF-8 bytes of ``text``."""
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        """Bytes back to text; invalid sequences (a model's mistakes) become U+FFFD."""
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")


class HFTokenizer:
    """A Hugging Face tokenizer loaded from a local path (never from the hub at run time)."""

    def __init__(self, path: str):
        self.spec = path
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"text tokenizer {path} does not exist (give 'byte' or a local path)")
        if p.is_file():
            from tokenizers import Tokenizer

            self._tok = Tokenizer.from_file(str(p))
            self.vocab_size = self._tok.get_vocab_size()
            self._encode = lambda text: self._tok.encode(text, add_special_tokens=False).ids
            self._decode = lambda ids: self._tok.decode(ids)
        else:
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
            self.vocab_size = len(self._tok)
            self._encode = lambda text: self._tok.encode(text, add_special_tokens=False)
            self._decode = lambda ids: self._tok.decode(ids)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, without special tokens."""
        return list(self._encode(text))

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` (ids outside the vocabulary are dropped)."""
        return self._decode([i for i in ids if 0 <= i < self.vocab_size])


def load_text_tokenizer(spec: str) -> TextTokenizer:
    """The tokenizer named by ``spec`` (``byte`` or a local path)."""
    if spec == "byte":
        return ByteTokenizer()
    return HFTokenizer(spec)
