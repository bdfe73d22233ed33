"""One shard sample to one token sequence in the token layout.

``KEY.tokens.npy`` is used when present (the engine tokenized the corpus already);
otherwise text segments go through the text tokenizer and images with status ``ok``
through the VQ tokenizer. Pairs (one image, text) can be shown in either order, chosen per
document and epoch from the seed, so the model learns both text-to-image and captioning;
with ``condition_dropout`` the text before the image is sometimes dropped, which is what
classifier-free guidance needs at generation time.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from schemas.token_layout import ImageCodes, Part, TokenLayout
from trainer.data.shards import sample_document
from trainer.text_tokenizer import TextTokenizer
from trainer.vq.tokenizer import ImageTokenizer


class BadSample(ValueError):
    """A sample that cannot be tokenized; the message says which and why. The loader counts and skips it."""


def document_parts(doc: dict[str, Any], members: dict[str, bytes], text: TextTokenizer,
                   images: ImageTokenizer | None) -> list[Part]:
    """Text ids and ``ImageCodes`` of a ``KEY.json`` document in reading order.

    ``members`` maps member names (``KEY.0.png``) to bytes. Images whose status is not
    ``ok`` are left out (the engine recorded why). Consecutive text segments are joined
    by a blank line so paragraph breaks survive.
    """
    key = doc.get("id", "?")
    parts: list[Part] = []
    pending_text: list[str] = []
    image_slots: list[int] = []
    image_bytes: list[bytes] = []

    def flush_text() -> None:
        if pending_text:
            parts.append(np.asarray(text.encode("\n\n".join(pending_text)), dtype=np.int64))
            pending_text.clear()

    records = doc.get("images") or []
    for seg in doc.get("segments") or []:
        if seg.get("type") == "text":
            if seg.get("text"):
                pending_text.append(seg["text"])
            continue
        index = seg.get("image")
        if not isinstance(index, int) or not 0 <= index < len(records):
            raise BadSample(f"document {key}: segment refers to image {index!r}, which does not exist")
        record = records[index]
        if record.get("status") != "ok":
            continue
        member = record.get("member")
        if not member or member not in members:
            raise BadSample(f"document {key}: image {index} has status ok but member {member!r} is not in the shard")
        if images is None:
            raise BadSample(f"document {key} has images but no KEY.tokens.npy, and no VQ tokenizer was given")
        flush_text()
        image_slots.append(len(parts))
        parts.append(None)  # filled below, after one batched encode of the document's images
        image_bytes.append(members[member])
    flush_text()
    if image_bytes:
        try:
            codes = images.encode(image_bytes)
        except (OSError, ValueError) as exc:
            raise BadSample(f"document {key}: an image could not be decoded ({exc})") from None
        for slot, grid in zip(image_slots, codes):
            parts[slot] = ImageCodes(grid)
    return parts


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

    def parts(self, sample: dict[str, Any]) -> list[Part]:
        """The sample as text ids and image codes (from ``tokens.npy`` when present)."""
        key = sample.get("__key__")
        if "tokens.npy" in sample:
            try:
                tokens = np.load(io.BytesIO(sample["tokens.npy"]), allow_pickle=False)
            except ValueError as exc:
                raise BadSample(f"sample {key}: tokens.npy is unreadable ({exc})") from None
            if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
                raise BadSample(f"sample {key}: tokens.npy must be a 1-D integer array, got {tokens.dtype}{tokens.shape}")
            if tokens.size and (tokens.min() < 0 or tokens.max() >= self.layout.vocab_size):
                raise BadSample(f"sample {key}: tokens.npy has ids outside the layout's 0..{self.layout.vocab_size - 1}")
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

    def __call__(self, sample: dict[str, Any], epoch: int = 0) -> np.ndarray:
        """Tokens of ``sample`` as shown in ``epoch`` (pair order and dropout depend on both)."""
        parts = self.parts(sample)
        if not parts:
            raise BadSample(f"sample {sample.get('__key__')} has no text and no usable image")
        if _is_pair(parts) and (self.pair_order == "random" or self.condition_dropout > 0):
            h = zlib.crc32(str(sample.get("__key__")).encode())
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
