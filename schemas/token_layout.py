"""The token layout: how a document becomes one int32 sequence. Defined once, read by both sides.

Ids are laid out in three ranges::

    [0, text_vocab_size)                                text tokens
    [image_offset, image_offset + codebook_size)        image codes
    [special_offset, vocab_size)                        specials: bos, eos, boi, eoi, pad,
                                                        then grid heights 1..max_grid,
                                                        then grid widths 1..max_grid

An image is ``<|boi|> <|h=H|> <|w=W|> code*(H*W) <|eoi|>`` (codes in row-major order), and a
document is ``<|bos|> part part ... <|eos|>``. The layout is versioned and saved beside
tokenized corpora and checkpoints, so the trainer never has to guess.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Union

import numpy as np

LAYOUT_VERSION = 1
SPECIALS = ("<|bos|>", "<|eos|>", "<|boi|>", "<|eoi|>", "<|pad|>")

Part = Union[np.ndarray, "ImageCodes"]


@dataclass(frozen=True)
class ImageCodes:
    """An image as a grid of codebook indices, shape ``(height, width)``."""

    codes: np.ndarray


@dataclass(frozen=True)
class TokenLayout:
    """Id ranges for text, image codes and special tokens (see module docstring)."""

    text_vocab_size: int
    codebook_size: int
    max_grid: int = 64
    version: int = LAYOUT_VERSION

    def __post_init__(self) -> None:
        if self.version != LAYOUT_VERSION:
            raise ValueError(f"token layout version {self.version} is not supported (this is {LAYOUT_VERSION})")
        for name in ("text_vocab_size", "codebook_size", "max_grid"):
            if getattr(self, name) <= 0:
                raise ValueError(f"token layout {name} must be positive, got {getattr(self, name)}")

    @property
    def image_offset(self) -> int:
        """First id of the image codebook."""
        return self.text_vocab_size

    @property
    def special_offset(self) -> int:
        """First id of the special tokens."""
        return self.text_vocab_size + self.codebook_size

    def special(self, name: str) -> int:
        """Id of a special token by its name, e.g. ``"<|boi|>"``."""
        return self.special_offset + SPECIALS.index(name)

    @property
    def bos(self) -> int:
        return self.special("<|bos|>")

    @property
    def eos(self) -> int:
        return self.special("<|eos|>")

    @property
    def boi(self) -> int:
        return self.special("<|boi|>")

    @property
    def eoi(self) -> int:
        return self.special("<|eoi|>")

    @property
    def pad(self) -> int:
        return self.special("<|pad|>")

    def height_token(self, h: int) -> int:
        """Id of the grid-height token for ``h`` rows (1..max_grid)."""
        if not 1 <= h <= self.max_grid:
            raise ValueError(f"image grid height {h} outside 1..{self.max_grid}")
        return self.special_offset + len(SPECIALS) + h - 1

    def width_token(self, w: int) -> int:
        """Id of the grid-width token for ``w`` columns (1..max_grid)."""
        if not 1 <= w <= self.max_grid:
            raise ValueError(f"image grid width {w} outside 1..{self.max_grid}")
        return self.special_offset + len(SPECIALS) + self.max_grid + w - 1

    @property
    def vocab_size(self) -> int:
        """Total number of ids the model's embedding must cover."""
        return self.special_offset + len(SPECIALS) + 2 * self.max_grid

    def is_text(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask of text-token positions."""
        return ids < self.image_offset

    def is_image_code(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask of image-code positions."""
        return (ids >= self.image_offset) & (ids < self.special_offset)

    def image_tokens(self, codes: np.ndarray) -> np.ndarray:
        """``<|boi|> <|h|> <|w|> codes <|eoi|>`` for a ``(h, w)`` grid of codebook indices."""
        codes = np.asarray(codes)
        if codes.ndim != 2:
            raise ValueError(f"image codes must be a 2-D grid, got shape {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise ValueError(f"image codes must lie in the codebook, 0..{self.codebook_size - 1}")
        h, w = codes.shape
        head = [self.boi, self.height_token(h), self.width_token(w)]
        body = codes.reshape(-1).astype(np.int64) + self.image_offset
        return np.concatenate([head, body, [self.eoi]]).astype(np.int32)

    def encode(self, parts: list[Part]) -> np.ndarray:
        """One document as int32 tokens: ``bos``, each part (text ids or ``ImageCodes``), ``eos``."""
        chunks = [np.array([self.bos], dtype=np.int32)]
        for part in parts:
            if isinstance(part, ImageCodes):
                chunks.append(self.image_tokens(part.codes))
            else:
                ids = np.asarray(part, dtype=np.int64)
                if ids.size and (ids.min() < 0 or ids.max() >= self.text_vocab_size):
                    raise ValueError(f"text ids must lie in 0..{self.text_vocab_size - 1}")
                chunks.append(ids.astype(np.int32))
        chunks.append(np.array([self.eos], dtype=np.int32))
        return np.concatenate(chunks)

    def decode(self, tokens: np.ndarray) -> list[Part]:
        """Split a token sequence back into text-id arrays and ``ImageCodes`` (inverse of ``encode``).

        Raises ``ValueError`` naming the position when an image block is malformed.
        """
        tokens = np.asarray(tokens)
        parts: list[Part] = []
        text: list[int] = []
        i = 0
        grid0 = self.special_offset + len(SPECIALS)
        while i < len(tokens):
            t = int(tokens[i])
            if t == self.boi:
                if text:
                    parts.append(np.array(text, dtype=np.int32))
                    text = []
                if i + 2 >= len(tokens):
                    raise ValueError(f"image at position {i} is cut off before its grid size")
                h = int(tokens[i + 1]) - grid0 + 1
                w = int(tokens[i + 2]) - grid0 - self.max_grid + 1
                if not (1 <= h <= self.max_grid and 1 <= w <= self.max_grid):
                    raise ValueError(f"image at position {i} has no valid height/width tokens")
                start, end = i + 3, i + 3 + h * w
                if end >= len(tokens) or int(tokens[end]) != self.eoi:
                    raise ValueError(f"image at position {i} does not end with <|eoi|> after {h}x{w} codes")
                codes = tokens[start:end].astype(np.int64) - self.image_offset
                if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
                    raise ValueError(f"image at position {i} contains ids outside the codebook")
                parts.append(ImageCodes(codes.reshape(h, w)))
                i = end + 1
            elif t in (self.bos, self.eos, self.pad):
                i += 1
            else:
                text.append(t)
                i += 1
        if text:
            parts.append(np.array(text, dtype=np.int32))
        return parts

    def to_json(self) -> str:
        """Serialise, for ``token_layout.json`` beside a corpus or checkpoint."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TokenLayout:
        """Parse the output of ``to_json``."""
        return cls(**json.loads(text))
