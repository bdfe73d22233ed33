"""The crawl's output: WARC files of fetched pages, each with a fetch log beside it.

One batch is a pair ``ORIGIN-NNNNN.warc.gz`` + ``ORIGIN-NNNNN.log.jsonl`` holding up to
``pages_per_warc`` pages of one origin. The log has one ``Outcome`` per URL taken from the
frontier: a page (with the byte offset and length of its WARC record), a rejection (with
its reason), or a redirect (with its target). A batch is one partition of the pipeline.

Durability: a page's WARC record is written and flushed before its log line. A crawl killed
between the two leaves a record the log does not name; ``recover_batch`` finds such records
and logs them (so the page is not fetched again), and cuts off a record or log line that
was only partly written.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from dataengine.crawl.fetch import Response

WARC_SUFFIX = ".warc.gz"
LOG_SUFFIX = ".log.jsonl"
_HOP_BY_HOP = {"content-encoding", "transfer-encoding", "content-length", "connection", "keep-alive"}


@dataclass
class Outcome:
    """What became of one URL taken from the frontier (one line of a fetch log).

    ``kind`` is ``page`` (stored in the WARC at ``offset``/``length``), ``rejected`` (``reason``,
    ``detail``, ``value``) or ``redirect`` (to ``target``, reached through ``chain``).
    """

    url: str
    kind: str
    depth: int = 0
    reason: str | None = None
    detail: str | None = None
    value: float | None = None
    status: int | None = None
    target: str | None = None
    chain: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    noimageai: bool = False
    offset: int | None = None
    length: int | None = None
    fetch_time: str | None = None
    attempts: int = 0

    def to_json(self) -> dict:
        """The log line's object (empty fields left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False and v != []}

    @classmethod
    def from_json(cls, obj: dict) -> Outcome:
        """Build from a log line's object."""
        return cls(**{k: v for k, v in obj.items() if k in cls.__dataclass_fields__})


def warc_record(url: str, resp: Response) -> bytes:
    """One gzipped WARC ``response`` record of a fetched page (body as decoded, headers to match)."""
    body = resp.body or b""
    headers = [(k, v) for k, v in resp.headers if k.lower() not in _HOP_BY_HOP]
    headers.append(("Content-Length", str(len(body))))
    http = StatusAndHeaders(f"{resp.status} {resp.reason_phrase}".strip(), headers, protocol="HTTP/1.1")
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    date = (resp.fetch_time or "").replace("+00:00", "Z") or None
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                       warc_headers_dict={"WARC-Date": date} if date else None)
    writer.write_record(record)
    return buf.getvalue()


class WarcBatch:
    """An open batch: appends page records and log lines (thread-safe)."""

    def __init__(self, folder: Path, slug: str, seq: int):
        self.warc_path = folder / f"{slug}-{seq:05d}{WARC_SUFFIX}"
        self.log_path = folder / f"{slug}-{seq:05d}{LOG_SUFFIX}"
        self._warc = open(self.warc_path, "ab")
        self._log = open(self.log_path, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self.pages = 0

    def add(self, outcome: Outcome, resp: Response | None = None) -> None:
        """Log ``outcome``; for a page, first append its WARC record and note where it is."""
        with self._lock:
            if resp is not None:
                data = warc_record(outcome.url, resp)
                outcome.offset, outcome.length = self._warc.tell(), len(data)
                self._warc.write(data)
                self._warc.flush()
                self.pages += 1
            self._log.write(json.dumps(outcome.to_json(), ensure_ascii=False) + "\n")
            self._log.flush()

    def close(self) -> None:
        """Close both files."""
        with self._lock:
            self._warc.close()
            self._log.close()


def next_sequence(folder: Path, slug: str) -> int:
    """The first unused batch number of origin ``slug`` in ``folder``."""
    logs = folder.glob(f"{slug}-[0-9][0-9][0-9][0-9][0-9]{LOG_SUFFIX}")
    used = [int(p.name[len(slug) + 1:len(slug) + 6]) for p in logs]
    return max(used, default=-1) + 1


def read_log(path: Path) -> list[Outcome]:
    """The outcomes of a fetch log; a last line cut short by a kill is ignored."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            out.append(Outcome.from_json(json.loads(line)))
    return out


def list_batches(folder: Path) -> list[tuple[Path, Path]]:
    """``(warc, log)`` of every batch in ``folder``, sorted by name."""
    return [(log.with_name(log.name[: -len(LOG_SUFFIX)] + WARC_SUFFIX), log)
            for log in sorted(folder.glob(f"*{LOG_SUFFIX}"))]


def recover_batch(warc: Path, log: Path, describe: Callable[[str, bytes, list[tuple[str, str]]], Outcome]) -> int:
    """Make a batch whole after a kill; return how many records were logged late.

    Cuts a partly written last log line, logs every complete WARC record past the last logged
    one (``describe(url, body, headers)`` rebuilds its outcome) and cuts a partly written record.
    """
    with open(log, "rb") as f:
        text = f.read()
    keep = text[: text.rfind(b"\n") + 1]
    if len(keep) != len(text):
        with open(log, "r+b") as f:
            f.truncate(len(keep))
    if not warc.exists():
        return 0
    outcomes = read_log(log)
    end = max((o.offset + o.length for o in outcomes if o.kind == "page" and o.offset is not None), default=0)
    size = warc.stat().st_size
    if size <= end:
        return 0
    late: list[Outcome] = []
    good_end = end
    with open(warc, "rb") as f:
        f.seek(end)
        records = ArchiveIterator(f)
        try:
            for record in records:
                if record.rec_type == "response":
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    body = record.content_stream().read()
                    headers = list(record.http_headers.headers) if record.http_headers else []
                    outcome = describe(url, body, headers)
                    outcome.offset = records.get_record_offset()  # absolute: warcio starts from tell()
                    outcome.fetch_time = record.rec_headers.get_header("WARC-Date")
                    late.append(outcome)
                else:
                    record.content_stream().read()
                records.read_to_end()
                good_end = records.get_record_offset() + records.get_record_length()
                if late and late[-1].length is None:
                    late[-1].length = good_end - late[-1].offset
        except Exception:  # noqa: BLE001 - any parse failure means the rest was cut by the kill
            late = [o for o in late if o.length is not None]
    if good_end < size:
        with open(warc, "r+b") as f:
            f.truncate(good_end)
    with open(log, "a", encoding="utf-8") as f:
        for outcome in late:
            f.write(json.dumps(outcome.to_json(), ensure_ascii=False) + "\n")
    return len(late)
