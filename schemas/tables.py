"""Arrow schemas of the tables of a corpus (folders in ``schemas.corpus``).

- ``docs/NAME.parquet``: the manifest of shard ``shards/NAME.tar``, one row per document.
- ``images/NAME.parquet``: one row per image slot of those documents.
- ``rejected/PARTITION.parquet``: everything the stages removed (see ``Rejection``).

``DOCUMENT_ROWS`` is not a file: it is the row of ``dataengine.shards.read_documents``, a corpus
as a Ray Data dataset of whole documents.

Only types that every stock reader maps (pyarrow, DuckDB, Ray Data, HF ``datasets``, pandas):
``scores`` is a list of ``{name, value}`` entries rather than an Arrow map, which ``datasets``
has no feature type for. The catalog shows it as a DuckDB ``MAP`` (``scores['clip']``).
"""

from __future__ import annotations

import pyarrow as pa

SCORES = pa.list_(pa.struct([("name", pa.string()), ("value", pa.float64())]))

DOCS = pa.schema([
    ("id", pa.string()),
    ("url", pa.string()),
    ("shard", pa.string()),          # shard name, without extension
    ("partition", pa.string()),
    ("offset", pa.int64()),          # byte offset of the sample's first tar header
    ("size", pa.int64()),            # bytes from that header to the end of the sample's last member
    ("source_kind", pa.string()),
    ("source_uri", pa.string()),
    ("fetch_time", pa.string()),
    ("language", pa.string()),
    ("title", pa.string()),
    ("n_segments", pa.int32()),
    ("n_text", pa.int32()),
    ("n_images", pa.int32()),         # image slots, failed ones included
    ("n_images_ok", pa.int32()),
    ("text_chars", pa.int64()),
    ("image_bytes", pa.int64()),
    ("n_tokens", pa.int64()),         # null until tokenized
    ("n_text_tokens", pa.int64()),
    ("n_image_tokens", pa.int64()),
    ("scores", SCORES),
    ("assessment", pa.string()),     # JSON of the document's assessment (alignment samples), else null
])

IMAGES = pa.schema([
    ("doc_id", pa.string()),
    ("shard", pa.string()),
    ("index", pa.int32()),
    ("url", pa.string()),
    ("alt", pa.string()),
    ("caption", pa.string()),
    ("caption_model", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("format", pa.string()),
    ("sha256", pa.string()),
    ("phash", pa.string()),
    ("member", pa.string()),
    ("bytes", pa.int64()),
    ("status", pa.string()),
    ("error", pa.string()),
    ("scores", SCORES),
])

REJECTED = pa.schema([
    ("id", pa.string()),
    ("url", pa.string()),
    ("level", pa.string()),
    ("stage", pa.string()),
    ("reason", pa.string()),
    ("value", pa.float64()),
    ("threshold", pa.float64()),
    ("image_index", pa.int32()),
    ("detail", pa.string()),
    ("partition", pa.string()),
])

DOCUMENT_ROWS = pa.schema([
    ("id", pa.string()),
    ("url", pa.string()),
    ("shard", pa.string()),
    ("document", pa.string()),         # the document's JSON, as KEY.json holds it
    ("images", pa.list_(pa.binary())),  # one entry per image slot, null where the slot holds no bytes
    ("tokens", pa.list_(pa.int32())),  # null until tokenized
])
