"""The per-shard pass: read one shard, write the signatures the global decisions need.

For shard ``NAME`` it writes four Parquet tables under the work folder (``WORK/KIND/NAME.parquet``):

- ``docs``: ``doc_id, shard, url_key`` (canonical URL), ``host``, ``minhash`` (the signature,
  null for a document without text);
- ``bands``: ``doc_id, shard, band, key``, one row per LSH band of each signature;
- ``images``: ``doc_id, shard, index, phash`` (uint64), ``colour`` (8x8 RGB thumbnail, only
  when the config compares colours), one row per ``ok`` image; an image whose bytes do not
  decode gets a null ``phash`` and is left to the exact rules;
- ``paragraphs``: ``doc_id, shard, position`` (segment index), ``hash`` (of the normalised text).

Shards are independent, so the pass runs as one task per shard (Ray tasks across the
cluster, or in-process); the work folder must be reachable by every worker.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataengine.dedup.config import DedupConfig
from dataengine.dedup.minhash import EMPTY, MinHasher, normalize
from dataengine.dedup.phash import colour_thumbnail, parse_phash, phash_int
from dataengine.filters.images import open_rgb
from dataengine.shards import ShardReader
from dataengine.shards.layout import fs_and_path, join
from schemas.document import canonical_url

KINDS = ("docs", "bands", "images", "paragraphs")


def schemas(config: DedupConfig) -> dict[str, pa.Schema]:
    """The Arrow schema of each signature table."""
    return {
        "docs": pa.schema([("doc_id", pa.string()), ("shard", pa.string()), ("url_key", pa.string()),
                           ("host", pa.string()), ("minhash", pa.list_(pa.uint32(), config.num_perm))]),
        "bands": pa.schema([("doc_id", pa.string()), ("shard", pa.string()), ("band", pa.int16()),
                            ("key", pa.uint64())]),
        "images": pa.schema([("doc_id", pa.string()), ("shard", pa.string()), ("index", pa.int32()),
                             ("phash", pa.uint64()), ("colour", pa.binary())]),
        "paragraphs": pa.schema([("doc_id", pa.string()), ("shard", pa.string()), ("position", pa.int32()),
                                 ("hash", pa.uint64())]),
    }


def paragraph_hash(text: str) -> int:
    """A 64-bit hash of a paragraph after normalisation (case, punctuation and spacing ignored)."""
    return int.from_bytes(hashlib.blake2b(normalize(text).encode("utf-8"), digest_size=8).digest(), "little")


def host_of(url: str) -> str:
    """The lower-case host of ``url`` ('' when it has none)."""
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def image_signature(data: bytes | None, stored: str | None, colour: bool) -> tuple[int | None, bytes | None]:
    """``(phash, colour thumbnail)`` of one image; the stored pHash is used when there is one."""
    value = parse_phash(stored)
    if value is not None and not colour:
        return value, None
    try:
        picture = open_rgb(data or b"")
    except Exception:  # undecodable bytes: no perceptual signature, the exact rules still apply
        return value, None
    return (value if value is not None else phash_int(picture)), (colour_thumbnail(picture) if colour else None)


def shard_signatures(shard_path: str, work: str, config: DedupConfig) -> dict[str, int]:
    """Compute and write the four signature tables of one shard; return row counts."""
    reader = ShardReader(shard_path)
    name = reader.name
    rows: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    texts: list[str] = []
    colour = config.max_colour_distance is not None
    for doc in reader:
        rows["docs"].append({"doc_id": doc.id, "shard": name, "url_key": canonical_url(doc.url),
                             "host": host_of(doc.url)})
        texts.append(doc.text if config.documents else "")
        if config.paragraphs:
            for position, seg in enumerate(doc.segments):
                if seg.kind == "text" and seg.text and seg.text.strip():
                    rows["paragraphs"].append({"doc_id": doc.id, "shard": name, "position": position,
                                               "hash": paragraph_hash(seg.text)})
        if config.images:
            for image in doc.images:
                if image.status == "ok":
                    value, thumb = image_signature(image.data, image.phash, colour)
                    rows["images"].append({"doc_id": doc.id, "shard": name, "index": image.index,
                                           "phash": value, "colour": thumb})
    hasher = MinHasher(config.num_perm, config.seed, config.shingle, config.shingle_size)
    sigs = hasher.signatures(texts)
    has_shingles = (sigs != EMPTY).any(axis=1)
    for n, row in enumerate(rows["docs"]):
        row["minhash"] = sigs[n].tolist() if has_shingles[n] else None
    tables = {kind: pa.Table.from_pylist(rows[kind], schema=schema) for kind, schema in schemas(config).items()
              if kind != "bands"}
    keys = hasher.band_keys(sigs[has_shingles], config.bands, config.rows)
    ids = np.array([row["doc_id"] for row in rows["docs"]], dtype=object)[has_shingles]
    tables["bands"] = pa.table({"doc_id": pa.array(np.repeat(ids, config.bands), pa.string()),
                                "shard": pa.array([name] * keys.size, pa.string()),
                                "band": pa.array(np.tile(np.arange(config.bands, dtype=np.int16), len(ids))),
                                "key": pa.array(keys.ravel())}, schema=schemas(config)["bands"])
    fs, root = fs_and_path(work)
    for kind in KINDS:
        fs.makedirs(join(root, kind), exist_ok=True)
        with fs.open(join(root, kind, name + ".parquet"), "wb") as f:
            pq.write_table(tables[kind], f)
    return {kind: tables[kind].num_rows for kind in KINDS}
