"""``MinHasher``: MinHash signatures and LSH band keys of many texts at once, in numpy.

Shingle hashing is vectorised too: text is normalised (lower case, every run of
non-word characters becomes one space), its code points become one array, and every word
(or character window) gets a polynomial hash from one prefix sum. The polynomial is taken
modulo 2^64, where numpy's wrapping arithmetic is exact, and a window's hash comes out of
the prefix sum because the base is odd, hence invertible modulo 2^64. Hashes are then
mixed with the splitmix64 finaliser and folded to 32 bits.

Each of the ``num_perm`` MinHash functions is a random affine map ``a * x + b`` modulo 2^32
with ``a`` odd, i.e. a random permutation of the 32-bit hash space, applied to the
(well-mixed) shingle hashes in uint32 arithmetic, one ``(shingles x num_perm)`` product at
a time; a signature value is the function's minimum over the document's shingles. The
fraction of equal values of two signatures estimates the Jaccard similarity of their
shingle sets, as with ``datasketch.MinHash`` (SHA-1 per shingle and ``(a * x + b) mod p``
with ``p = 2^61 - 1``); ``bench/dedup.py`` checks that both land as close to the exact
similarity.
"""

from __future__ import annotations

import re

import numpy as np

_NON_WORD = re.compile(r"[\W_]+")
_LOW32 = np.uint64(0xFFFFFFFF)
_BASE = np.uint64(0x100000001B3)        # odd, so invertible modulo 2^64
_BASE_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))
_BAND_MULT = np.uint64(0x9E3779B97F4A7C15)
EMPTY = np.uint32(0xFFFFFFFF)           # a signature value no shingle set produces (empty text)


def normalize(text: str) -> str:
    """Lower case, with every run of non-word characters (and ``_``) as one space, trimmed."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, element-wise on a uint64 array (a good 64-bit mixer)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _powers(base: np.uint64, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.uint64)
    if n:
        out[0] = 1
        out[1:] = base
        np.cumprod(out, out=out)  # wraps modulo 2^64, which is the arithmetic we want
    return out


def window_hashes(symbols: np.ndarray, n: int) -> np.ndarray:
    """``sum(symbols[i + k] * BASE^(n-1-k) for k < n)`` mod 2^64 for every window start ``i``."""
    m = len(symbols) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    inv = _powers(_BASE_INV, len(symbols))
    prefix = np.cumsum(symbols.astype(np.uint64) * inv, dtype=np.uint64)
    upper = prefix[n - 1:]
    lower = np.concatenate(([np.uint64(0)], prefix[:m - 1]))
    return (upper - lower) * _powers(_BASE, len(symbols))[n - 1:]


def shingle_hashes(text: str, kind: str = "word", size: int = 5) -> np.ndarray:
    """32-bit hashes (uint64 array) of the text's shingles; a text shorter than one shingle is one shingle."""
    norm = normalize(text)
    if not norm:
        return np.empty(0, dtype=np.uint64)
    points = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + np.uint64(1)
    if kind == "char":
        hashes = window_hashes(points, min(size, len(points)))
    else:
        spaces = np.flatnonzero(points == np.uint64(33))  # a space is code point 32, plus one
        starts = np.concatenate(([0], spaces + 1))
        ends = np.concatenate((spaces, [len(points)]))
        # a word's hash: its code points' polynomial, read off the same prefix sum
        inv = _powers(_BASE_INV, len(points))
        prefix = np.concatenate(([np.uint64(0)], np.cumsum(points * inv, dtype=np.uint64)))
        words = (prefix[ends] - prefix[starts]) * _powers(_BASE, len(points) + 1)[ends]
        words = splitmix64(words)
        hashes = window_hashes(words, min(size, len(words)))
    return splitmix64(hashes) & _LOW32


class MinHasher:
    """MinHash signatures with ``num_perm`` functions drawn from ``seed``, and their LSH band keys."""

    def __init__(self, num_perm: int = 128, seed: int = 1, shingle: str = "word", shingle_size: int = 5,
                 chunk: int = 1 << 15):
        rng = np.random.default_rng(seed)
        self.a = (rng.integers(0, 1 << 31, num_perm, dtype=np.uint64) * 2 + 1).astype(np.uint32)  # odd
        self.b = rng.integers(0, 1 << 32, num_perm, dtype=np.uint64).astype(np.uint32)
        self.num_perm, self.shingle, self.shingle_size, self.chunk = num_perm, shingle, shingle_size, chunk

    def shingles(self, text: str) -> np.ndarray:
        """The 32-bit shingle hashes of ``text`` under this hasher's shingling."""
        return shingle_hashes(text, self.shingle, self.shingle_size)

    def signatures(self, texts: list[str]) -> np.ndarray:
        """A ``(len(texts), num_perm)`` uint32 array; rows of empty texts are all ``EMPTY``."""
        out = np.full((len(texts), self.num_perm), EMPTY, dtype=np.uint32)
        parts = [self.shingles(t) for t in texts]
        lengths = np.array([len(p) for p in parts], dtype=np.int64)
        if not lengths.sum():
            return out
        flat = np.concatenate(parts).astype(np.uint32)
        owner = np.repeat(np.arange(len(texts)), lengths)
        # a chunk of shingles at a time: (num_perm x chunk) uint32 stays a few tens of MB; reducing
        # along rows (contiguous memory) is about twice as fast as along columns
        for start in range(0, len(flat), self.chunk):
            values = np.outer(self.a, flat[start:start + self.chunk])
            values += self.b[:, None]  # both wrap modulo 2^32: that is the permutation
            rows = owner[start:start + self.chunk]
            firsts = np.concatenate(([0], np.flatnonzero(np.diff(rows)) + 1))
            mins = np.minimum.reduceat(values, firsts, axis=1).T
            docs = rows[firsts]
            out[docs] = np.minimum(out[docs], mins)
        return out

    @staticmethod
    def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
        """A ``(n, bands)`` uint64 array: one hash of each band's ``rows`` signature values."""
        n = signatures.shape[0]
        if signatures.shape[1] != bands * rows:
            raise ValueError(f"signatures have {signatures.shape[1]} values, bands * rows is {bands * rows}")
        blocks = signatures.reshape(n, bands, rows).astype(np.uint64)
        mult = _powers(_BAND_MULT, rows)
        return splitmix64((blocks * mult).sum(axis=2, dtype=np.uint64))


def jaccard_estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise fraction of equal signature values (the MinHash estimate of Jaccard similarity)."""
    return (np.asarray(a) == np.asarray(b)).mean(axis=-1)
