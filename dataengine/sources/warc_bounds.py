"""Bounds on what one WARC record can make the reader hold: its headers and its payload.

warcio reads status and header lines with ``readline()``, which on a stream without a newline
reads the whole stream: a 1 MB ``.warc.gz`` holding 1 GiB of zeros becomes one 1 GiB line,
copied several times as it is decoded and quoted into the error message. Many short header
lines are as bad: each becomes a Python tuple. And warcio's de-chunking reads a whole HTTP
chunk (up to 2 GiB) before handing out any of it. Here are an ``ArchiveIterator`` whose reader
refuses a record's headers beyond a bound, and a payload reader that decodes at most a record's
allowance of bytes.
"""

from __future__ import annotations

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader, DecompressingBufferedReader
from warcio.limitreader import LimitReader

# WARC and HTTP headers of one record together; real ones are a few KB (a long Set-Cookie or
# Content-Security-Policy makes tens of KB), so this only stops input that is not headers at all.
MAX_HEADER_BYTES = 4 * 1024 * 1024


class HeaderTooLarge(ValueError):
    """A record's headers, or one line between records, longer than the bound."""


class _BoundedReader(DecompressingBufferedReader):
    """warcio's reader whose ``readline`` never returns, or holds, more than the header bound."""

    def __init__(self, stream, max_header_bytes: int, **kwargs):
        super().__init__(stream, **kwargs)
        self.max_header_bytes = max_header_bytes
        self.budget: int | None = None  # header bytes the record being parsed has left; None between records

    def readline(self, length: int | None = None) -> bytes:
        """One line, as warcio's ``readline``; raises ``HeaderTooLarge`` past the bound."""
        bound = self.max_header_bytes if self.budget is None else self.budget
        want = bound + 1 if length is None or length > bound else length
        parts, got = [], 0
        while got < want:  # the base class's loop miscounts what is left across buffer boundaries
            self._fillbuff()
            if self.empty():
                break
            part = self.buff.readline(want - got)
            parts.append(part)
            got += len(part)
            if part.endswith(b"\n"):
                break
        if got > bound:
            if self.budget is None:
                raise HeaderTooLarge(f"a line longer than {self.max_header_bytes} bytes between records")
            raise HeaderTooLarge(f"record headers longer than {self.max_header_bytes} bytes "
                                 "(a line that never ends, or too many lines)")
        if self.budget is not None:
            self.budget -= got
        return b"".join(parts)


class BoundedArchiveIterator(ArchiveIterator):
    """warcio's ``ArchiveIterator`` that raises ``HeaderTooLarge`` instead of reading unbounded headers."""

    def __init__(self, fileobj, max_header_bytes: int = MAX_HEADER_BYTES, **kwargs):
        super().__init__(fileobj, **kwargs)
        # warcio builds its reader here but reads nothing until iterated, so swapping it is safe
        self.reader = _BoundedReader(self.fh, max_header_bytes, block_size=self.reader.block_size)

    def _next_record(self, next_line):
        # A record's status line, WARC headers and HTTP headers are all read in here; the status
        # line may have been read already, between records, and counts too.
        self.reader.budget = self.reader.max_header_bytes - len(next_line or b"")
        try:
            return super()._next_record(next_line)
        finally:
            self.reader.budget = None


def read_payload(record, max_bytes: int) -> tuple[bytes | None, int]:
    """The record's payload decoded as warcio's ``content_stream()`` does, or ``None`` when over ``max_bytes``.

    Returns ``(payload, size)``; when the payload is too large, ``size`` is a lower bound of it.
    At most ``max_bytes + 1`` decoded bytes are read, from at most about twice that of the
    record (chunk framing and content encodings take room; a payload needing more is too large).
    """
    raw = LimitReader(record.raw_stream, 2 * max_bytes + 65536)
    body = _decoder(record, raw).read(max_bytes + 1)
    if len(body) > max_bytes:
        return None, len(body)
    if raw.limit == 0 and getattr(record.raw_stream, "limit", 1) > 0:  # the allowance is spent, the record is not
        return None, raw.tell()
    return body, len(body)


def _decoder(record, raw):
    """A reader of ``raw`` that de-chunks and decompresses it as ``ArcWarcRecord.content_stream`` would."""
    http = record.http_headers
    if not http:
        return raw
    encoding = (http.get_header("content-encoding") or "").lower()
    encoding = encoding if encoding in BufferedReader.get_supported_decompressors() else None
    if http.get_header("transfer-encoding") == "chunked":
        return ChunkedDataReader(raw, decomp_type=encoding)
    return BufferedReader(raw, decomp_type=encoding) if encoding else raw
