"""Text tokenizers, the one module the engine's ``tokenize`` stage and the trainer both load them with.

A tokenizer is named by a spec string, the same in the engine (``tokenize``'s
``text_tokenizer``) and the trainer (``tokenizer.text``), and saved with checkpoints so that
generation decodes with the tokenizer the model was trained with:

- ``byte``: UTF-8 bytes as ids 0..255 (no files needed);
- a local path: a directory that ``transformers.AutoTokenizer`` reads, or a ``tokenizer.json``
  file of the ``tokenizers`` library (what ``dataengine tokenizer train`` writes is both);
- a Hugging Face hub name (``gpt2``), passed to ``AutoTokenizer`` exactly as given, as users
  would; nothing is downloaded unless the name is not a local path and the hub is reachable
  (the local hub cache serves it offline).

Ids never include special tokens: ``encode`` adds none, and special tokens that appear
literally in text (``<|eos|>``, ``</s>``) are encoded as the plain characters they are. The
token layout (``schemas.token_layout``) owns the real special tokens, and a page must not be
able to end its own document. ``decode`` drops ids outside the vocabulary (a model's
mistakes) and keeps everything else.

Fast tokenizers are driven through their ``tokenizers`` backend with ``encode_batch_fast``,
so the engine tokenizes as fast as the library itself (``bench/tokenize_caption.py``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol

BYTE = "byte"


class TextTokenizer(Protocol):
    """What engine and trainer need from a text tokenizer."""

    spec: str
    vocab_size: int

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, without special tokens."""

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text, without special tokens (``encode`` of each, at once)."""

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``; ids outside the vocabulary are dropped."""


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255."""

    spec = BYTE
    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        """The UTF-8 bytes of ``text``."""
        return list(text.encode("utf-8"))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """The UTF-8 bytes of each text."""
        return [self.encode(t) for t in texts]

    def decode(self, ids: list[int]) -> str:
        """Bytes back to text; invalid sequences (a model's mistakes) become U+FFFD."""
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")


class RustTokenizer:
    """A ``tokenizers.Tokenizer`` (a ``tokenizer.json``, or the backend of a fast HF tokenizer)."""

    def __init__(self, spec: str, backend: Any):
        self.spec = spec
        self.backend = backend
        # Literal special-token strings in text are text, not control tokens.
        self.backend.encode_special_tokens = True
        self.vocab_size = backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, without special tokens."""
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text, without special tokens.

        ``encode_batch_fast`` is the library's parallel batch encoder without character offsets,
        which neither side uses: the same ids as ``encode_batch``, sooner.
        """
        return [e.ids for e in self.backend.encode_batch_fast(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` (ids outside the vocabulary are dropped)."""
        return self.backend.decode([i for i in ids if 0 <= i < self.vocab_size], skip_special_tokens=False)


class PythonTokenizer:
    """A Hugging Face tokenizer without a Rust backend, called through ``transformers``."""

    def __init__(self, spec: str, tokenizer: Any):
        self.spec = spec
        self.tokenizer = tokenizer
        self.vocab_size = len(tokenizer)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, without special tokens."""
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text, without special tokens."""
        return [self.encode(t) for t in texts]

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids`` (ids outside the vocabulary are dropped)."""
        return self.tokenizer.decode([i for i in ids if 0 <= i < self.vocab_size])


def load_text_tokenizer(spec: str) -> TextTokenizer:
    """The tokenizer named by ``spec`` (``byte``, a local path or a hub name); ``ValueError`` when unusable."""
    if spec == BYTE:
        return ByteTokenizer()
    path = Path(spec)
    if path.is_file():
        from tokenizers import Tokenizer

        try:
            return RustTokenizer(spec, Tokenizer.from_file(str(path)))
        except Exception as exc:  # the library raises its own exception type for malformed files
            raise ValueError(f"text tokenizer {spec}: not a tokenizers JSON file ({exc})") from None
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec, local_files_only=path.exists())
    except (OSError, ValueError) as exc:
        where = "local directory" if path.exists() else "local path or reachable hub name"
        raise ValueError(f"text tokenizer {spec!r} cannot be loaded as a {where}: {exc}".splitlines()[0]) from None
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is not None:
        return RustTokenizer(spec, backend)
    return PythonTokenizer(spec, tokenizer)


def tokenizer_digest(spec: str) -> str | None:
    """sha256 of a local tokenizer's ``tokenizer.json`` (``spec`` a directory or that file), else None."""
    path = Path(spec)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()
