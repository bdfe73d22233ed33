"""``DedupConfig``: every knob of the dedup phase, from a YAML file and ``--set`` overrides.

A dedup YAML is a mapping of these fields, optionally under a top-level ``dedup:`` key::

    dedup:
      jaccard_threshold: 0.8
      phash_threshold: 8
      repeated_image_max_docs: 10

Unknown keys and values of the wrong kind fail early with the key's name: the file is read by
the loader every config shares (``schemas.config``), and ``DedupConfigError`` is its ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataengine.shards import MiB
from schemas.config import ConfigError, load, parse_overrides

SHINGLE_KINDS = ("word", "char")

DedupConfigError = ConfigError  # the name ``dedup`` callers know; the one config error of every loader


@dataclass
class DedupConfig:
    """What the dedup phase looks for, and how it decides.

    Documents (MinHash-LSH): text is lower-cased, punctuation becomes spaces, and shingles
    are ``shingle_size`` consecutive words, or characters (``shingle: char``, for languages
    written without spaces between words, such as Chinese or Japanese). A signature
    has ``bands * rows`` hash functions; two documents become candidates when all ``rows``
    values of one band agree (likely from Jaccard ~ (1/bands)^(1/rows) up), and duplicates
    when their estimated Jaccard similarity reaches ``jaccard_threshold``.

    Images: byte-identical images (sha256) are duplicates; an image in more than
    ``repeated_image_max_docs`` documents is boilerplate and goes everywhere (``None``: off).
    Perceptual hashes (64-bit pHash) within ``phash_threshold`` bits are near duplicates;
    candidates share one of ``phash_bands`` slices of the hash, which finds every pair within
    ``phash_bands - 1`` bits and many a few bits further; ``None`` picks the most bands the
    corpus size allows without drowning in chance matches (``phash.auto_bands``). pHash sees luminance
    only: ``max_colour_distance`` (mean absolute difference of 8x8 RGB thumbnails, 0-255)
    additionally requires similar colours, for corpora where differently coloured pictures
    share a layout. Paragraphs: a text segment found in ``paragraph_min_docs`` or more
    documents of one host is boilerplate and is removed from all of them.

    Which copy stays: URLs keep the newest capture (``fetch_time``); near-duplicate
    documents keep the longest text, then the most images; images keep the largest, then
    the first by URL; ties end on the document id.

    A band bucket with more than ``max_bucket_pairs`` members links every member to its
    first one only (instead of all pairs), which bounds the work on degenerate buckets.
    Rewritten shards roll over at ``maxcount`` documents or ``maxsize`` bytes;
    ``thumbnails`` removed images per reason and partition are kept as small JPEGs in
    ``rejected/thumbs/`` for the report.
    """

    urls: bool = True
    documents: bool = True
    shingle: str = "word"
    shingle_size: int = 5
    bands: int = 16
    rows: int = 8
    jaccard_threshold: float = 0.8
    seed: int = 1
    images: bool = True
    repeated_image_max_docs: int | None = 10
    phash_threshold: int = 8
    phash_bands: int | None = None
    max_colour_distance: float | None = None
    paragraphs: bool = True
    paragraph_min_docs: int = 5
    max_bucket_pairs: int = 200
    maxcount: int = 1000
    maxsize: int = 256 * MiB
    thumbnails: int = 8

    def __post_init__(self) -> None:
        if self.shingle not in SHINGLE_KINDS:
            raise DedupConfigError(f"shingle: must be one of {', '.join(SHINGLE_KINDS)}, got {self.shingle!r}")
        for key in ("shingle_size", "bands", "rows", "paragraph_min_docs", "max_bucket_pairs", "maxcount", "maxsize"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise DedupConfigError(f"{key}: must be an integer >= 1, got {getattr(self, key)!r}")
        if not 0 < self.jaccard_threshold <= 1:
            raise DedupConfigError(f"jaccard_threshold: must be in (0, 1], got {self.jaccard_threshold!r}")
        if not 0 <= self.phash_threshold < 64:
            raise DedupConfigError(f"phash_threshold: must be 0..63 bits, got {self.phash_threshold!r}")
        if self.phash_bands is not None and (not isinstance(self.phash_bands, int) or not 1 <= self.phash_bands <= 32):
            raise DedupConfigError(f"phash_bands: must be 1..32 or null (automatic), got {self.phash_bands!r}")
        if self.repeated_image_max_docs is not None and self.repeated_image_max_docs < 1:
            raise DedupConfigError("repeated_image_max_docs: must be >= 1 or null, "
                                   f"got {self.repeated_image_max_docs!r}")
        if self.max_colour_distance is not None and self.max_colour_distance < 0:
            raise DedupConfigError(f"max_colour_distance: must be >= 0 or null, got {self.max_colour_distance!r}")
        if self.thumbnails < 0:
            raise DedupConfigError(f"thumbnails: must be >= 0, got {self.thumbnails!r}")

    @property
    def num_perm(self) -> int:
        """Hash functions per MinHash signature."""
        return self.bands * self.rows

    def to_json(self) -> dict[str, Any]:
        """The settings as a plain dict (recorded in the dedup run record)."""
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> DedupConfig:
    """Read a dedup YAML (or start from the defaults) and apply ``key=value`` overrides."""
    return load(DedupConfig, path, parse_overrides(overrides or []), what="dedup config", section="dedup",
                noun="dedup setting")
