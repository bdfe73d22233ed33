"""Text tokenizers as the engine uses them: ids for text, never a special token, and back.

A tokenizer is named by a spec string, the same strings the trainer's ``tokenizer.text``
takes:

- ``byte``: UTF-8 bytes as ids 0..255 (no files needed);
- a local path: a directory that ``transformers.AutoTokenizer`` reads, or a ``tokenizer.json``
  file of the ``tokenizers`` library (what ``train_bpe`` writes is both);
- a Hugging Face hub name (``gpt2``), loaded by ``AutoTokenizer`` as users would; nothing is
  downloaded unless the name is not a local path and the hub is reachable.

Fast tokenizers are driven through their ``tokenizers`` backend with ``encode_batch_fast``, so
the engine tokenizes as fast as the library itself (``bench/tokenize_caption.py`` measures it). Special
tokens that appear literally in web text (``<|eos|>``, ``</s>``) are encoded as the plain
characters they are: the layout owns the real special tokens, and a page must not be able to
end its own document.

``train_bpe`` trains a byte-level BPE (exact round trip: ``decode(encode(text)) == text``) and
registers the layout's special tokens (``schemas.token_layout.SPECIALS``) as the tokenizer's
special tokens, so tools that load the directory with ``AutoTokenizer`` know ``bos``/``eos``/
``pad``. They take the first ids of the text range and never come out of ``encode``; in a
token sequence the layout's own special ids (above the image codebook) mark documents and
images.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Protocol

from schemas.token_layout import SPECIALS

BYTE = "byte"
MIN_BPE_VOCAB = 256 + len(SPECIALS)  # the byte alphabet plus the registered specials


class TextTokenizer(Protocol):
    """What the engine needs from a text tokenizer."""

    spec: str
    vocab_size: int

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text, without special tokens."""

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``."""


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255 (the trainer's ``byte`` tokenizer)."""

    spec = BYTE
    vocab_size = 256

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """The UTF-8 bytes of each text."""
        return [list(t.encode("utf-8")) for t in texts]

    def decode(self, ids: list[int]) -> str:
        """Bytes back to text; invalid sequences become U+FFFD."""
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")


class RustTokenizer:
    """A ``tokenizers.Tokenizer`` (a ``tokenizer.json``, or the backend of a fast HF tokenizer)."""

    def __init__(self, spec: str, backend: Any):
        self.spec = spec
        self.backend = backend
        # Literal special-token strings in web text are text, not control tokens.
        self.backend.encode_special_tokens = True
        self.vocab_size = backend.get_vocab_size(with_added_tokens=True)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text, without special tokens.

        ``encode_batch_fast`` is the library's parallel batch encoder without character offsets,
        which the engine never uses: the same ids as ``encode_batch``, sooner.
        """
        return [e.ids for e in self.backend.encode_batch_fast(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``."""
        return self.backend.decode(list(ids), skip_special_tokens=False)


class PythonTokenizer:
    """A Hugging Face tokenizer without a Rust backend, called through ``transformers``."""

    def __init__(self, spec: str, tokenizer: Any):
        self.spec = spec
        self.tokenizer = tokenizer
        self.vocab_size = len(tokenizer)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text, without special tokens."""
        return [self.tokenizer.encode(t, add_special_tokens=False) for t in texts]

    def decode(self, ids: list[int]) -> str:
        """Text of ``ids``."""
        return self.tokenizer.decode(list(ids))


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


def train_bpe(texts: Iterable[str], vocab_size: int, out_dir: str | Path, min_frequency: int = 2,
              progress: bool = False) -> RustTokenizer:
    """Train a byte-level BPE on ``texts`` and save it in ``out_dir``; returns it loaded from there.

    ``out_dir`` gets ``tokenizer.json`` (the ``tokenizers`` file) and ``tokenizer_config.json``
    (so ``AutoTokenizer.from_pretrained(out_dir)`` loads it with ``bos``/``eos``/``pad`` set).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < MIN_BPE_VOCAB:
        raise ValueError(f"--vocab-size must be at least {MIN_BPE_VOCAB} (256 bytes + {len(SPECIALS)} special "
                         f"tokens), got {vocab_size}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIALS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=progress)
    tokenizer.train_from_iterator(texts, trainer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|bos|>", eos_token="<|eos|>",
                            pad_token="<|pad|>").save_pretrained(str(out))
    return RustTokenizer(str(out), Tokenizer.from_file(str(out / "tokenizer.json")))


def tokenizer_digest(spec: str) -> str | None:
    """sha256 of a local tokenizer's ``tokenizer.json`` (``spec`` a directory or that file), else None."""
    path = Path(spec)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()
