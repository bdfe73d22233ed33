"""The WARC source on hostile input: decompression bombs and files without a record.

Each bomb is a gzipped WARC of about 1 GiB once inflated, in the shapes that have taken
workers down: one endless line where a status line or a header should be, an endless header
block, an endless body, an endless HTTP chunk. The read runs in a child process under an
address-space cap (so a regression fails the test rather than the machine) and the test
asserts the child's peak resident memory, a behaviour, not a timing.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from repo_paths import REPO

from dataengine.sources.warc import WarcSource
from schemas import Rejection

GIB = 1 << 30
PEAK_RSS_BOUND = 400 * 1024 * 1024
ADDRESS_SPACE_CAP = 3 * GIB  # a regression dies here with MemoryError instead of exhausting the machine

# Reads one WARC file with WarcSource in a fresh interpreter and prints what came out (never the
# items themselves, which a regression may make huge) and the process's peak resident memory.
CHILD = """
import json, sys
from dataengine.sources.warc import WarcSource
def peak_rss():  # VmHWM: ru_maxrss would carry over the forking parent's (the test runner's) size
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) * 1024
source = WarcSource(paths=sys.argv[1])
rows = []
for partition in source.partitions():
    for item in source.read(partition):
        detail = getattr(item, "detail", None) or ""
        rows.append({"reason": getattr(item, "reason", "document"), "detail": detail[:300],
                     "detail_len": len(detail), "value": getattr(item, "value", None)})
        del item
print(json.dumps({"rows": rows, "peak_rss": peak_rss()}))
"""


def write_gzip_member(f, *parts: bytes | tuple[bytes, int]) -> None:
    """One gzip member (a record of a .warc.gz) of ``parts``; ``(pattern, n)`` is ``pattern`` repeated to
    ``n`` bytes, compressed as it is made."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for part in parts:
        if isinstance(part, bytes):
            f.write(deflate.compress(part))
            continue
        pattern, n = part
        block = pattern * ((1 << 22) // len(pattern))
        for start in range(0, n, len(block)):
            f.write(deflate.compress(block[: n - start]))
    f.write(deflate.flush())


def record(headers: str, block_length: int) -> bytes:
    """The head of a WARC/1.0 record whose block (after the blank line) is ``block_length`` bytes."""
    return (f"WARC/1.0\r\n{headers}Content-Length: {block_length}\r\n\r\n").encode()


PAGE = b"<html><body><p>after the bomb</p></body></html>"
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
RESPONSE = "WARC-Type: response\r\nWARC-Target-URI: http://example.com/{}\r\nContent-Type: application/http\r\n"
# A well-formed record after a body bomb (in its own gzip member): reading goes on past the bomb to it.
AFTER = record(RESPONSE.format("after"), len(HTTP_OK + PAGE)) + HTTP_OK + PAGE + b"\r\n\r\n"


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """Each bomb shape as a ~1 GiB (inflated) ``.warc.gz`` of a few MB."""
    folder = tmp_path_factory.mktemp("bombs")
    chunk_head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % GIB
    shapes: dict[str, tuple] = {
        "zeros": ((b"\0", GIB),),  # no status line, no newline: one 1 GiB line
        "warc_header": (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.com/",
                        (b"a", GIB)),
        "many_headers": (b"WARC/1.0\r\nWARC-Type: response\r\n", (b"X: y\r\n", GIB)),
        "http_header": (record(RESPONSE.format("h"), GIB + 100), b"HTTP/1.1 200 OK\r\nX-Bomb: ", (b"a", GIB)),
        "body": (record(RESPONSE.format("b"), len(HTTP_OK) + GIB), HTTP_OK, (b"\0", GIB), b"\r\n\r\n"),
        "chunked": (record(RESPONSE.format("c"), len(chunk_head) + GIB + 7), chunk_head, (b"\0", GIB),
                    b"\r\n0\r\n\r\n\r\n\r\n"),
    }
    paths = {}
    for name, parts in shapes.items():
        paths[name] = folder / f"{name}.warc.gz"
        with paths[name].open("wb") as f:
            write_gzip_member(f, *parts)
            if name in ("body", "chunked"):
                write_gzip_member(f, AFTER)
    return paths


def read_in_child(path: Path, tmp_path: Path) -> dict:
    """Read ``path`` with WarcSource in a capped child process; its rows and peak RSS in bytes."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))

    err = tmp_path / "child.stderr"
    with err.open("wb") as stderr:
        done = subprocess.run([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, stderr=stderr,
                              preexec_fn=cap, cwd=REPO, timeout=600)
    with err.open("rb") as f:  # only the tail: a regression may print the bomb
        f.seek(max(0, err.stat().st_size - 3000))
        tail = f.read().decode(errors="replace")
    assert done.returncode == 0, f"the read died (exit {done.returncode}): ...{tail}"
    return json.loads(done.stdout)


@pytest.mark.parametrize("shape", ["zeros", "warc_header", "many_headers", "http_header"])
def test_header_bombs_end_in_one_short_row_with_bounded_memory(bombs, shape, tmp_path):
    out = read_in_child(bombs[shape], tmp_path)
    assert out["peak_rss"] < PEAK_RSS_BOUND, f"peak RSS {out['peak_rss'] / 2**20:.0f} MiB"
    [row] = out["rows"]
    assert row["reason"] == "warc_unreadable"
    assert f"{shape}.warc.gz" in row["detail"] and "longer than" in row["detail"]
    assert row["detail_len"] < 1000  # the offending line is never repeated in the row


@pytest.mark.parametrize("shape", ["body", "chunked"])
def test_body_bombs_are_body_too_large_and_reading_goes_on(bombs, shape, tmp_path):
    out = read_in_child(bombs[shape], tmp_path)
    assert out["peak_rss"] < PEAK_RSS_BOUND, f"peak RSS {out['peak_rss'] / 2**20:.0f} MiB"
    assert [r["reason"] for r in out["rows"]] == ["body_too_large", "document"]
    assert out["rows"][0]["value"] > 10 * 1024 * 1024


@pytest.mark.parametrize("name, data", [("empty.warc.gz", b""), ("empty.warc", b""),
                                        ("nothing.warc.gz", zlib.compress(b"", wbits=16 + zlib.MAX_WBITS))])
def test_a_file_without_records_is_a_row(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    source = WarcSource(paths=str(tmp_path / name))
    [row] = [item for p in source.partitions() for item in source.read(p)]
    assert isinstance(row, Rejection) and row.reason == "warc_empty" and row.stage == "source:warc"
    assert row.url == str(tmp_path / name) and name in row.detail


def test_rejection_details_are_capped():
    row = Rejection(None, None, "document", "source:warc", "warc_unreadable", detail="x" * 10_000_000)
    assert len(row.detail) == 2000 and row.detail.startswith("xxx") and row.detail.endswith("…")
