"""WARC (and ARC) files as a source: one partition per file, one document per HTML response.

Records that cannot become documents are not dropped silently: a non-HTML response, a
record whose body is shorter than its declared length, and a file that stops parsing
half-way all become ``rejected`` rows naming the file and the offset.
"""

from __future__ import annotations

import zlib
from typing import Iterator

import fsspec
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from dataengine.sources.base import Partition, Source, partition_id
from schemas import Document, RawPage, Rejection, SourceRef, document_id

HTML_TYPES = ("text/html", "application/xhtml+xml")
_DOCUMENT_RECORDS = ("response", "resource")
STAGE = "source:warc"


def expand_paths(paths: list[str] | str) -> list[str]:
    """Expand local or remote globs into a sorted list of files; a pattern matching nothing is an error."""
    out: list[str] = []
    for pattern in [paths] if isinstance(paths, str) else paths:
        fs, _ = fsspec.core.url_to_fs(pattern)
        matches = fs.glob(pattern) if any(c in pattern for c in "*?[") else ([pattern] if fs.exists(pattern) else [])
        if not matches:
            raise FileNotFoundError(f"WARC source: {pattern!r} matches no file")
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        out += [m if "://" in m or protocol == "file" else f"{protocol}://{m}" for m in matches]
    return sorted(set(out))


class WarcSource(Source):
    """Read HTML responses from WARC/ARC files (``.warc``, ``.warc.gz``, ``.arc.gz``; local or remote)."""

    name = "warc"

    def __init__(self, paths: list[str] | str, max_body_bytes: int = 10 * 1024 * 1024):
        self.paths = paths
        self.max_body_bytes = max_body_bytes

    def partitions(self) -> list[Partition]:
        """One partition per file."""
        return [Partition(partition_id("warc", p), p) for p in expand_paths(self.paths)]

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Yield a document per HTML response record, a rejection per unusable record."""
        uri = partition.uri
        offset = 0
        try:
            with fsspec.open(uri, "rb") as f:
                records = ArchiveIterator(f, arc2warc=True)
                for record in records:
                    offset = records.get_record_offset()
                    item = self._record(record, uri, offset)
                    if item is not None:
                        yield item
        except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError) as exc:
            yield Rejection(None, uri, "document", STAGE, "warc_unreadable",
                            value=float(offset), detail=f"{uri} at byte {offset}: {type(exc).__name__}: {exc}")

    def _record(self, record, uri: str, offset: int) -> Document | Rejection | None:
        if record.rec_type not in _DOCUMENT_RECORDS:
            return None  # requests, metadata, warcinfo: not candidate documents
        url = (record.rec_headers.get_header("WARC-Target-URI") or "").strip().strip("<>")
        http = record.http_headers
        status = int(http.get_statuscode() or 0) if http is not None and record.rec_type == "response" else 200
        ctype = (http.get_header("Content-Type") if http is not None else
                 record.rec_headers.get_header("Content-Type")) or ""
        doc_id = document_id(url, uri, offset)
        if status != 200:
            return Rejection(doc_id, url, "document", STAGE, "http_status", value=float(status))
        if not ctype.split(";")[0].strip().lower() in HTML_TYPES:
            return Rejection(doc_id, url, "document", STAGE, "not_html", detail=ctype[:200] or "no content type")
        body = record.content_stream().read(self.max_body_bytes + 1)
        if len(body) > self.max_body_bytes:
            return Rejection(doc_id, url, "document", STAGE, "body_too_large",
                             value=float(len(body)), threshold=float(self.max_body_bytes))
        declared = record.rec_headers.get_header("Content-Length")
        if record.rec_headers.get_header("WARC-Truncated") or _short(record, declared):
            return Rejection(doc_id, url, "document", STAGE, "truncated_record",
                             detail=f"{uri} at byte {offset}: body shorter than declared")
        headers = {k.lower(): v for k, v in (http.headers if http is not None else [])}
        headers.setdefault("content-type", ctype)
        source = SourceRef("warc", uri, offset, None, record.rec_headers.get_header("WARC-Date"))
        return Document(id=doc_id, url=url, source=source, raw=RawPage(body, headers, status))


def _short(record, declared: str | None) -> bool:
    """True when the record's payload stream ended before its declared Content-Length."""
    if not declared or not declared.isdigit():
        return False
    stream = record.raw_stream
    limit = getattr(stream, "limit", None)  # warcio's LimitReader counts down what is left unread
    return bool(limit) and limit > 0
