"""A corpus as a Ray Data dataset of whole documents, for users who process it further on their cluster.

``ray.data.read_webdataset`` reads the tars too, but gives one column per member name: a
document's images are spread over ``0.jpg``, ``1.png``... columns that most rows lack (and
that Ray pickles when a block mixes bytes with missing values). ``read_documents`` gives one
row per document instead, in the ``schemas.tables.DOCUMENT_ROWS`` layout:

    ds = read_documents("CORPUS")                 # or s3://bucket/corpus
    ds = ds.filter(lambda row: len(row["images"]) >= 2)
    doc = Document.from_json(json.loads(row["document"]))   # images[i] is slot i's bytes

Each shard is read by one task, streaming its tar, so a worker holds ``batch_documents``
documents at a time whatever the shard size. Remote corpora are opened by fsspec on the
workers: give them the credentials and endpoint (``AWS_ENDPOINT_URL``...) in the job's
``runtime_env`` ``env_vars``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from dataengine.shards.layout import shard_urls
from dataengine.shards.reader import ShardReader
from schemas.tables import DOCUMENT_ROWS


def _shard_documents(batch: pa.Table, batch_documents: int) -> Iterator[pa.Table]:
    for shard in batch.column("shard").to_pylist():
        reader = ShardReader(shard)
        rows: list[dict[str, Any]] = []
        for doc in reader:
            rows.append({"id": doc.id, "url": doc.url, "shard": reader.name,
                         "document": json.dumps(doc.to_json(), ensure_ascii=False, separators=(",", ":")),
                         "images": [im.data for im in doc.images],
                         "tokens": None if doc.tokens is None else doc.tokens.tolist()})
            if len(rows) == batch_documents:
                yield pa.Table.from_pylist(rows, schema=DOCUMENT_ROWS)
                rows = []
        if rows:
            yield pa.Table.from_pylist(rows, schema=DOCUMENT_ROWS)


def read_documents(corpus: str, batch_documents: int = 64) -> Any:
    """A ``ray.data.Dataset`` with one row per committed document of ``corpus`` (``DOCUMENT_ROWS``).

    Rows come shard by shard; each shard is one read task. Needs a running Ray (``ray.init``).
    """
    import ray.data

    if batch_documents < 1:
        raise ValueError(f"batch_documents must be at least 1, got {batch_documents}")
    shards = shard_urls(corpus)
    if not shards:
        return ray.data.from_arrow(DOCUMENT_ROWS.empty_table())
    items = ray.data.from_items([{"shard": s} for s in shards], override_num_blocks=len(shards))
    return items.map_batches(
        _shard_documents, batch_size=1, batch_format="pyarrow", fn_kwargs={"batch_documents": batch_documents})
