"""One shard sample to one token sequence in the token layout.

``KEY.tokens.npy`` is used when present (the engine tokenized the corpus already);
otherwise ``KEY.json`` is read as a ``schemas.Document`` and laid out as the engine's
``tokenize`` stage lays it out (``schemas.token_parts``): texts through the text
tokenizer, images with status ``ok`` through the VQ tokenizer. Pairs (one image, text)
can be shown in either order, chosen per document and epoch from the seed, so the model
learns both text-to-image and captioning; with ``condition_dropout`` the text before the
image is sometimes dropped, which is what classifier-free guidance needs at generation time.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.corpus import TOKENS_MEMBER
from schemas.document import Document
from schemas.token_layout import ImageCodes, Part, TokenLayout
from schemas.token_parts import token_parts
from trainer.data.shards import sample_document
from trainer.text_tokenizer import TextTokenizer
from trainer.vq.tokenizer import ImageTokenizer


class BadSample(ValueError):
    """A sample that cannot be tokenized; the message says which and why. The loader counts and skips it."""


def document_parts(doc: Document, members: dict[str, bytes], text: TextTokenizer,
                   images: ImageTokenizer | None) -> list[Part | bytes]:
    """Text ids and image bytes of a document in reading order (``schemas.token_parts``).

    ``members`` maps member names (``KEY.0.png``) to bytes. Images stay encoded bytes here, so
    that ``encode_images`` can put the images of many documents through the VQ in one batch.
    """
    try:
        plan = token_parts(doc)
    except ValueError as exc:
        raise BadSample(str(exc)) from None
    parts: list[Part | bytes] = []
    for part in plan:
        if isinstance(part, str):
            parts.append(np.asarray(text.encode(part), dtype=np.int64))
            continue
        member = doc.images[part].member
        if not member or member not in members:
            raise BadSample(f"document {doc.id}: image {part} has status ok but member {member!r} is not in the shard")
        if images is None:
            raise BadSample(f"document {doc.id} has images but no KEY.tokens.npy, and no VQ tokenizer was given")
        parts.append(members[member])
    return parts


def encode_images(documents: list[list[Part | bytes]], images: ImageTokenizer | None,
                  keys: list[str]) -> list[list[Part] | BadSample]:
    """Replace the image bytes of every document by ``ImageCodes``, with one VQ call for all of them.

    When the batch fails (an image that does not decode), each document is encoded alone,
    so only the documents with a bad image become ``BadSample``.
    """
    pictures = [p for parts in documents for p in parts if isinstance(p, bytes)]
    if not pictures:
        return list(documents)
    try:
        codes = iter(images.encode(pictures))
    except (OSError, ValueError) as exc:
        if len(documents) == 1:
            return [BadSample(f"document {keys[0]}: an image could not be decoded ({exc})")]
        return [encode_images([parts], images, [key])[0] for parts, key in zip(documents, keys)]
    return [[ImageCodes(next(codes)) if isinstance(p, bytes) else p for p in parts] for parts in documents]


def _is_pair(parts: list[Part]) -> bool:
    n_images = sum(isinstance(p, ImageCodes) for p in parts)
    return n_images == 1 and len(parts) == 2


@dataclass
class DocumentTokenizer:
    """Sample dict to int32 tokens, with per-document pair order and condition dropout."""

    layout: TokenLayout
    text: TextTokenizer
    images: ImageTokenizer | None = None
    pair_order: str = "as_is"
    condition_dropout: float = 0.0
    seed: int = 0

    def _raw_parts(self, sample: dict[str, Any]) -> list[Part | bytes]:
        """The sample as text ids and image bytes (or image codes, from ``tokens.npy`` when present)."""
        key = sample.get("__key__")
        if TOKENS_MEMBER in sample:
            try:
                tokens = np.load(io.BytesIO(sample[TOKENS_MEMBER]), allow_pickle=False)
            except ValueError as exc:
                raise BadSample(f"sample {key}: tokens.npy is unreadable ({exc})") from None
            if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
                raise BadSample(f"sample {key}: tokens.npy must be a 1-D integer array, "
                                f"got {tokens.dtype}{tokens.shape}")
            if tokens.size and (tokens.min() < 0 or tokens.max() >= self.layout.vocab_size):
                raise BadSample(f"sample {key}: tokens.npy has ids outside the layout's "
                                f"0..{self.layout.vocab_size - 1}")
            try:
                return self.layout.decode(tokens)
            except ValueError as exc:
                raise BadSample(f"sample {key}: tokens.npy is malformed: {exc}") from None
        try:
            doc = sample_document(sample)
        except ValueError as exc:
            raise BadSample(str(exc)) from None
        members = {f"{key}.{ext}": value for ext, value in sample.items() if not ext.startswith("__")}
        return document_parts(doc, members, self.text, self.images)

    def parts(self, sample: dict[str, Any]) -> list[Part]:
        """The sample as text ids and ``ImageCodes`` (from ``tokens.npy`` when present)."""
        result = encode_images([self._raw_parts(sample)], self.images, [str(sample.get("__key__"))])[0]
        if isinstance(result, BadSample):
            raise result
        return result

    def _arrange(self, parts: list[Part], key: Any, epoch: int) -> np.ndarray:
        if not parts:
            raise BadSample(f"sample {key} has no text and no usable image")
        if _is_pair(parts) and (self.pair_order == "random" or self.condition_dropout > 0):
            h = zlib.crc32(str(key).encode())
            rng = np.random.default_rng([self.seed, epoch, h])
            image, text = (parts[0], parts[1]) if isinstance(parts[0], ImageCodes) else (parts[1], parts[0])
            if self.pair_order == "random":
                text_first = bool(rng.random() < 0.5)
            else:
                text_first = isinstance(parts[1], ImageCodes)
            parts = [text, image] if text_first else [image, text]
            if text_first and rng.random() < self.condition_dropout:
                parts = [image]
        return self.layout.encode(parts)

    def __call__(self, sample: dict[str, Any], epoch: int = 0) -> np.ndarray:
        """Tokens of ``sample`` as shown in ``epoch`` (pair order and dropout depend on both)."""
        return self._arrange(self.parts(sample), sample.get("__key__"), epoch)

    def many(self, samples: list[tuple[dict[str, Any], int]]) -> list[np.ndarray | BadSample]:
        """Tokens of several ``(sample, epoch)`` pairs, their images encoded in one VQ batch.

        A sample that cannot be tokenized gives its ``BadSample`` in its place; the others are
        exactly what ``__call__`` gives one at a time.
        """
        raw: list[list[Part | bytes] | BadSample] = []
        for sample, _ in samples:
            try:
                raw.append(self._raw_parts(sample))
            except BadSample as exc:
                raw.append(exc)
        good = [i for i, r in enumerate(raw) if not isinstance(r, BadSample)]
        keys = [str(samples[i][0].get("__key__")) for i in good]
        for i, parts in zip(good, encode_images([raw[i] for i in good], self.images, keys)):
            raw[i] = parts
        out: list[np.ndarray | BadSample] = []
        for (sample, epoch), parts in zip(samples, raw):
            if isinstance(parts, BadSample):
                out.append(parts)
                continue
            try:
                out.append(self._arrange(parts, sample.get("__key__"), epoch))
            except BadSample as exc:
                out.append(exc)
        return out
