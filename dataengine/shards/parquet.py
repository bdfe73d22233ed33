"""Reading and writing the corpus's Parquet tables (manifests, image tables, rejected rows) through fsspec.

``read_table`` copies a file's bytes into memory that Arrow owns before decoding them. A table
that pyarrow 26 decoded from a Python file object (or from a buffer over Python ``bytes``) keeps
Python objects referenced from Arrow's threads; when such a table is still alive as the
interpreter shuts down, the process aborts about one time in three with ``terminate called
without an active exception`` (``dataengine validate`` died that way). The tables read here are
a shard's manifest or image table or a partition's rejected rows: small, so the copy is cheap.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["read_table", "write_table"]


def read_table(fs, path: str, columns: list[str] | None = None) -> pa.Table:
    """The Parquet file ``path`` of fsspec filesystem ``fs`` as a table (only ``columns`` when given)."""
    with fs.open(path, "rb") as f:
        sink = pa.BufferOutputStream()
        sink.write(f.read())
    return pq.read_table(pa.BufferReader(sink.getvalue()), columns=columns)


def write_table(fs, path: str, table: pa.Table) -> None:
    """Write ``table`` to ``path`` (zstd); an empty table gets no row group, so every reader opens it."""
    with fs.open(path, "wb") as f, pq.ParquetWriter(f, table.schema, compression="zstd") as writer:
        if table.num_rows:
            writer.write_table(table)
