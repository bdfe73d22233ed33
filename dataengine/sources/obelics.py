"""The OBELICS parquet layout, and its import as a source.

OBELICS (HuggingFaceM4/OBELICS) stores one web document per row in four columns:

- ``images`` and ``texts``: two lists of the same length, in reading order; at each position
  exactly one of them is set (an image URL, or a text), the other is ``None``;
- ``metadata``: a JSON string, a list of the same length with a dict per image position
  (``document_url``, ``src``, ``alt_text``, ``original_width``, ...) and ``None`` per text;
- ``general_metadata``: a JSON string, a dict with the document's ``url`` and its place in
  Common Crawl (``warc_filename``, ``warc_record_offset``, ``warc_record_length``).

Import (``ObelicsSource``, kind ``obelics``): each row becomes a document, one segment per
list position, images ``pending`` (OBELICS holds URLs, not bytes) with their alt text.
Partitions are fixed-size chunks of rows. A row that breaks the layout is a ``rejected``
row naming the file, the row and the problem.

Export, the other way: ``dataengine.sources.obelics_export``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from dataengine.errors import ConfigError
from dataengine.sources.base import Partition, Source
from dataengine.sources.paths import InputFiles, stand_in_url
from dataengine.sources.rows import columns, count_rows, iter_rows, row_partitions
from schemas import Document, ImageRecord, Rejection, Segment, SourceRef, document_id

STAGE = "source:obelics"
COLUMNS = ("images", "metadata", "general_metadata", "texts")
SCHEMA = pa.schema([("images", pa.list_(pa.string())), ("metadata", pa.string()),
                    ("general_metadata", pa.string()), ("texts", pa.list_(pa.string()))])


class LayoutError(ValueError):
    """A row that does not follow the OBELICS layout."""


@dataclass
class ObelicsConfig(InputFiles):
    """The ``obelics`` source's parameters: its parquet files (``InputFiles``) and the rows of a partition."""

    rows_per_partition: int = 1000

    def __post_init__(self) -> None:
        if self.rows_per_partition < 1:
            raise ValueError("rows_per_partition must be at least 1")


class ObelicsSource(Source):
    """Documents from parquet files in the OBELICS layout (local or remote, globs and path lists)."""

    name = "obelics"
    Config = ObelicsConfig
    config: ObelicsConfig

    def partitions(self) -> list[Partition]:
        """Check each file has ``images`` and ``texts``; cut its rows into chunks."""
        out: list[Partition] = []
        for uri in self.config.files(self.describe()):
            try:
                found = columns(uri, "parquet", self.config.storage_options)
                n_rows = count_rows(uri, "parquet", self.config.storage_options)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"obelics source: cannot read {uri} as parquet: {type(exc).__name__}: {exc}") \
                    from None
            missing = [c for c in ("images", "texts") if c not in found]
            if missing:
                raise ConfigError(f"obelics source: {uri} has no column {', '.join(map(repr, missing))}; "
                                  f"columns found: {', '.join(found) or 'none'}")
            out += row_partitions("obelics", uri, n_rows, self.config.rows_per_partition,
                                  {"columns": [c for c in COLUMNS if c in found]})
        return out

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Yield the partition's documents in row order, a rejection per row that breaks the layout."""
        uri, meta = partition.uri, partition.meta
        rows = iter_rows(uri, "parquet", meta["start"], meta["stop"], self.config.storage_options, meta["columns"])
        try:
            for i, row in rows:
                try:
                    yield row_document(row, uri, i)
                except LayoutError as exc:
                    yield Rejection(None, None, "document", STAGE, "bad_row", detail=f"{uri} row {i}: {exc}")
        except (OSError, ValueError) as exc:
            yield Rejection(None, uri, "document", STAGE, "parquet_unreadable",
                            detail=f"{uri} rows {meta['start']}-{meta['stop']}: {type(exc).__name__}: {exc}")


def _json(value: Any, what: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise LayoutError(f"{what} is not valid JSON: {exc}") from None


def row_document(row: dict[str, Any], uri: str, i: int) -> Document | Rejection:
    """The document of one OBELICS row; raises ``LayoutError`` when the row breaks the layout."""
    images, texts = row.get("images"), row.get("texts")
    if not isinstance(images, list) or not isinstance(texts, list) or len(images) != len(texts):
        raise LayoutError("images and texts must be lists of the same length")
    image_meta = _json(row.get("metadata"), "metadata") or [None] * len(images)
    general = _json(row.get("general_metadata"), "general_metadata") or {}
    if not isinstance(image_meta, list) or len(image_meta) != len(images) or not isinstance(general, dict):
        raise LayoutError("metadata must be a list as long as images, general_metadata a dict")
    segments: list[Segment] = []
    records: list[ImageRecord] = []
    for j, (image, text, meta) in enumerate(zip(images, texts, image_meta)):
        if (image is None) == (text is None):
            raise LayoutError(f"position {j} must have exactly one of an image and a text")
        if text is not None:
            segments.append(Segment.of_text(text))
            continue
        meta = meta if isinstance(meta, dict) else {}
        records.append(ImageRecord(index=len(records), url=image, alt=meta.get("alt_text"),
                                   title=meta.get("title")))
        segments.append(Segment.of_image(records[-1].index))
    url = general.get("url") or next((m.get("document_url") for m in image_meta if isinstance(m, dict)), None)
    url = url or stand_in_url(uri, f"row={i}")
    doc_id = document_id(url, uri, i)
    if not segments:
        return Rejection(doc_id, url, "document", STAGE, "empty_document", detail=f"{uri} row {i}")
    return Document(id=doc_id, url=url, source=SourceRef("hf", uri, i), segments=segments, images=records,
                    title=general.get("title"), language=general.get("language"))
