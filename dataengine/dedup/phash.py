"""Perceptual signatures of images: imagehash's 64-bit pHash, its bands, and a colour thumbnail.

The pHash is computed here, in the dedup phase, from the image bytes in the shards,
unless the image already carries one (``ImageRecord.phash``, 16 hex digits). The phase
reads every shard anyway for the text signatures, so one pass serves both, and it works on
any corpus, whatever pipeline wrote it; rewritten shards then carry the hash.
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

COLOUR_SIDE = 8  # the colour thumbnail is COLOUR_SIDE x COLOUR_SIDE RGB, 192 bytes


def phash_int(picture: Image.Image) -> int:
    """The 64-bit DCT perceptual hash (imagehash.phash, 8x8) as an unsigned integer."""
    return int(str(imagehash.phash(picture)), 16)


def phash_hex(value: int) -> str:
    """The 16-hex-digit form kept in ``ImageRecord.phash``."""
    return f"{value:016x}"


def parse_phash(text: str | None) -> int | None:
    """An ``ImageRecord.phash`` string as an integer, ``None`` when absent or not 64-bit hex."""
    if not text or len(text) != 16:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def band_bounds(bands: int) -> list[tuple[int, int]]:
    """``(first bit, width)`` of each of ``bands`` nearly equal slices of a 64-bit hash."""
    edges = [i * 64 // bands for i in range(bands + 1)]
    return [(edges[i], edges[i + 1] - edges[i]) for i in range(bands)]


def auto_bands(n_images: int, chance_candidates: float = 4.0) -> int:
    """How many bands to cut ``n_images`` pHashes into.

    More bands find more near duplicates (a pair within ``bands - 1`` bits always shares
    one) but narrower bands also match by chance: an image expects ``bands * n / 2^bits``
    unrelated candidates. This is the most bands that keeps that under
    ``chance_candidates``: exhaustive for small corpora, 3 bands of 21 bits at 2M images.
    """
    best = 1
    for bands in range(1, 33):
        if bands * n_images / 2 ** (64 // bands) <= chance_candidates:
            best = bands
    return best


def colour_thumbnail(picture: Image.Image) -> bytes:
    """The picture box-averaged down to 8x8 RGB: a tiny colour signature."""
    return picture.resize((COLOUR_SIDE, COLOUR_SIDE), Image.BOX).tobytes()


def colour_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise mean absolute difference of colour thumbnails (uint8 rows of 192), 0-255."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=-1)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise number of differing bits of two uint64 arrays."""
    x = np.bitwise_xor(a.astype(np.uint64), b.astype(np.uint64))
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
