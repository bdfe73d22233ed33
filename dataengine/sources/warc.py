"""WARC, ARC and WET files as a source: one partition per file, one document per HTML response.

Files are named by ``paths`` (files, globs) and/or ``path_list`` (Common Crawl's
``warc.paths.gz`` form), local or remote (``s3://...``); see ``dataengine.sources.paths``.
HTML responses become documents carrying their raw page, for ``extract_html``. WET
``conversion`` records become text-only documents (``dataengine.sources.wet``).

Records that cannot become documents are not dropped silently: a non-HTML response, a
record whose body is shorter than its declared length, and a file that stops parsing
half-way (or cannot be opened) all become ``rejected`` rows naming the file and the offset,
and so does a file holding no record at all. Requests, metadata and warcinfo records are not
candidate documents and are skipped.

Memory per record is bounded whatever the file holds (``dataengine.sources.warc_bounds``):
headers beyond a few MB end the file with a ``warc_unreadable`` row, a payload beyond
``max_body_bytes`` is a ``body_too_large`` row and is never held whole.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from warcio.exceptions import ArchiveLoadFailed

from dataengine.sources.base import Partition, Source, partition_id
from dataengine.sources.paths import InputFiles, open_input
from dataengine.sources.warc_bounds import BoundedArchiveIterator, read_payload
from dataengine.sources.wet import conversion_document
from schemas import Document, RawPage, Rejection, SourceRef, document_id

HTML_TYPES = ("text/html", "application/xhtml+xml")
_DOCUMENT_RECORDS = ("response", "resource")
STAGE = "source:warc"


class GzipIntegrityCheck:
    """A read-through wrapper that decompresses gzip members on the side to find corruption.

    warcio prints a decompression error to stderr and carries on, losing every record after
    the damage without a trace; this wrapper notices it, so the loss becomes a rejected row.
    """

    def __init__(self, fileobj):
        self.fileobj = fileobj
        self.position = 0
        self.error: str | None = None
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def read(self, size: int = -1) -> bytes:
        """Read from the wrapped file, checking the bytes as they pass."""
        data = self.fileobj.read(size)
        if self.error is None:
            self._check(data)
        self.position += len(data)
        return data

    def tell(self) -> int:
        """Bytes read so far."""
        return self.position

    def _check(self, data: bytes) -> None:
        while data:
            try:
                self._inflate.decompress(data)  # output discarded; only integrity matters
            except zlib.error as exc:
                self.error = f"corrupt gzip data near byte {self.position}: {exc}"
                return
            if not self._inflate.eof:
                return
            data = self._inflate.unused_data  # the next gzip member starts here
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)


@dataclass
class WarcConfig(InputFiles):
    """The ``warc`` source's parameters: its files (``InputFiles``) and ``max_body_bytes``, the largest payload read."""

    max_body_bytes: int = 10 * 1024 * 1024


class WarcSource(Source):
    """Read HTML responses and WET text from WARC/ARC/WET files (plain or gzipped; local or remote)."""

    name = "warc"
    Config = WarcConfig
    config: WarcConfig

    def partitions(self) -> list[Partition]:
        """One partition per file."""
        files = self.config.files(self.describe())
        return [Partition(partition_id("warc", p), p) for p in files]

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Yield a document per HTML response record, a rejection per unusable record."""
        uri = partition.uri
        offset = n_records = 0
        try:
            with open_input(uri, "rb", self.config.storage_options) as f:
                gzipped = f.read(2) == b"\x1f\x8b"
                f.seek(0)
                stream = GzipIntegrityCheck(f) if gzipped else f
                records = BoundedArchiveIterator(stream, arc2warc=True)
                for record in records:
                    n_records += 1
                    # Where this record starts. get_record_offset() would read the record to its end
                    # first, leaving an empty body for _record; its length is known once it is read.
                    offset = records.offset
                    item = self._record(record, uri, offset)
                    if isinstance(item, Document):
                        item.source.length = records.get_record_length()
                    if item is not None:
                        yield item
            if gzipped and stream.error:
                yield Rejection(None, uri, "document", STAGE, "warc_corrupt", detail=f"{uri}: {stream.error}; "
                                "records after the damage are lost")
            elif not n_records:
                yield Rejection(None, uri, "document", STAGE, "warc_empty", detail=f"{uri}: no WARC or ARC record")
        except (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError) as exc:
            # warcio quotes the offending line in its messages: keep the start of it only
            yield Rejection(None, uri, "document", STAGE, "warc_unreadable", value=float(offset),
                            detail=f"{uri} at byte {offset}: {type(exc).__name__}: {str(exc)[:300]}")

    def _record(self, record, uri: str, offset: int) -> Document | Rejection | None:
        if record.rec_type == "conversion":
            return conversion_document(record, uri, offset, self.config.max_body_bytes)
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
        if ctype.split(";")[0].strip().lower() not in HTML_TYPES:
            return Rejection(doc_id, url, "document", STAGE, "not_html", detail=ctype[:200] or "no content type")
        body, size = read_payload(record, self.config.max_body_bytes)
        if body is None:
            return Rejection(doc_id, url, "document", STAGE, "body_too_large",
                             value=float(size), threshold=float(self.config.max_body_bytes))
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
