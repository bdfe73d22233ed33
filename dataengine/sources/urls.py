"""URL lists in img2dataset's form as a source: one document per row, an image and its caption.

The files are what img2dataset takes as input (parquet, csv, tsv, jsonl or txt, plain or
gzipped; local or remote; globs and path lists as for every file source), with the column
names set the way img2dataset sets them (``url_col``, ``caption_col``). Each row becomes a
pair document: one image segment (status ``pending``, so ``fetch_images`` downloads it)
followed by one text segment holding the caption. ``caption_col: null`` reads lists without
captions into image-only documents.

Partitions are fixed-size chunks of rows; a document's id comes from its URL, its file and
its row number, so a rerun gives the same ids. A list without the configured columns is a
``ConfigError`` naming the file and the columns it has; an unparseable row, an empty or
non-HTTP URL and an empty caption are ``rejected`` rows naming the file and row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dataengine.errors import ConfigError
from dataengine.sources.base import Partition, Source
from dataengine.sources.paths import InputFiles
from dataengine.sources.rows import RowError, columns, count_rows, file_format, iter_rows, row_partitions
from schemas import Document, ImageRecord, Rejection, Segment, SourceRef, document_id

STAGE = "source:urls"


@dataclass
class UrlListConfig(InputFiles):
    """The ``urls`` source's parameters: its list files (``InputFiles``), their ``input_format``
    (``None``: from the file name), img2dataset's ``url_col`` and ``caption_col`` (``None``: a list
    of image URLs only), and the rows of a partition."""

    input_format: str | None = None
    url_col: str = "url"
    caption_col: str | None = "caption"
    rows_per_partition: int = 10_000

    def __post_init__(self) -> None:
        if self.rows_per_partition < 1:
            raise ValueError("rows_per_partition must be at least 1")


class UrlListSource(Source):
    """Image URL lists (img2dataset input) as pair documents, ``rows_per_partition`` rows at a time."""

    name = "urls"
    Config = UrlListConfig
    config: UrlListConfig

    def _wanted(self) -> list[str]:
        return [self.config.url_col] + ([self.config.caption_col] if self.config.caption_col else [])

    def partitions(self) -> list[Partition]:
        """Check each file's columns, count its rows, and cut them into chunks."""
        out: list[Partition] = []
        for uri in self.config.files(self.describe()):
            fmt = file_format(uri, self.config.input_format)
            try:
                n_rows = count_rows(uri, fmt, self.config.storage_options)
                found = columns(uri, fmt, self.config.storage_options) if n_rows else []
            except (OSError, ValueError) as exc:
                raise ConfigError(f"urls source: cannot read {uri}: {type(exc).__name__}: {exc}") from None
            for role, col in (("url_col", self.config.url_col), ("caption_col", self.config.caption_col)):
                if n_rows and col and col not in found:
                    hint = "; set caption_col: null for a list without captions" if role == "caption_col" else ""
                    raise ConfigError(f"urls source: {uri} has no column {col!r} ({role}); columns found: "
                                      f"{', '.join(map(str, found)) or 'none'}{hint}")
            out += row_partitions("urls", uri, n_rows, self.config.rows_per_partition, {"format": fmt})
        return out

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Yield a pair document per usable row, a rejection per unusable one."""
        uri, meta = partition.uri, partition.meta
        rows = iter_rows(uri, meta["format"], meta["start"], meta["stop"], self.config.storage_options, self._wanted())
        try:
            for i, row in rows:
                yield self._document(uri, i, row)
        except (OSError, ValueError) as exc:  # the file went away or broke since partitions() read it
            yield Rejection(None, uri, "document", STAGE, "list_unreadable",
                            detail=f"{uri} rows {meta['start']}-{meta['stop']}: {type(exc).__name__}: {exc}")

    def _document(self, uri: str, i: int, row: dict[str, Any] | RowError) -> Document | Rejection:
        where = f"{uri} row {i}"
        if isinstance(row, RowError):
            return Rejection(None, None, "document", STAGE, row.reason, detail=f"{where}: {row.detail}")
        url = row.get(self.config.url_col)
        if not isinstance(url, str) or not url.strip():
            reason = "empty_url" if url is None or isinstance(url, str) else "bad_url"
            return Rejection(None, None, "document", STAGE, reason, detail=f"{where}: {self.config.url_col}={url!r}")
        url = url.strip()
        doc_id = document_id(url, uri, i)
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            return Rejection(doc_id, url, "document", STAGE, "bad_url", detail=f"{where}: not an http(s) URL")
        segments = [Segment.of_image(0)]
        if self.config.caption_col:
            caption = row.get(self.config.caption_col)
            caption = "" if caption is None else str(caption).strip()
            if not caption:
                return Rejection(doc_id, url, "document", STAGE, "empty_caption", detail=where)
            segments.append(Segment.of_text(caption))
        return Document(id=doc_id, url=url, source=SourceRef("urls", uri, i), segments=segments,
                        images=[ImageRecord(index=0, url=url)])
