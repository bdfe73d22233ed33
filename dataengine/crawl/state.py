"""The crawl state folder: what a killed crawl needs to resume without fetching a page twice.

::

    STATE/
      crawl.json            the seeds and sitemap this state belongs to
      crawl.lock            held (flock) by the running crawl's driver
      frontier.jsonl        admitted URLs, append-only (``Admission``)
      locks/worker-K.lock   held by each live fetch worker
      robots/ORIGIN.json    cached robots.txt per origin
      warc/ORIGIN-NNNNN.warc.gz + .log.jsonl   the batches (see ``archive``)

The state must be on a filesystem every worker and pipeline task can reach (a local disk
on one machine; a shared mount on a cluster).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from dataengine.crawl.archive import Outcome, list_batches, read_log, recover_batch
from dataengine.crawl.frontier import Admission


def lock_file(path: Path, wait: float) -> int:
    """Take an exclusive ``flock`` on ``path`` within ``wait`` seconds; return the open descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise TimeoutError(f"{path} is still locked after {wait:.0f} s: another crawl process "
                                   "is using this state_dir") from None
            time.sleep(0.05)


class CrawlState:
    """Read and append the files of one crawl state folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.warc_dir = self.path / "warc"
        self._lock_fd: int | None = None
        self._frontier = None

    def acquire(self) -> None:
        """Become the one crawl using this state; a second one gets a clear error."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.warc_dir.mkdir(exist_ok=True)
        fd = os.open(self.path / "crawl.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"crawl state {self.path} is in use by another running crawl") from None
        self._lock_fd = fd

    def release(self) -> None:
        """Close the frontier file and give up the crawl lock."""
        if self._frontier is not None:
            self._frontier.close()
            self._frontier = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def check_origin(self, seeds: list[str], sitemap: str | None) -> None:
        """Record the seeds on first use; refuse a state written for other seeds."""
        path = self.path / "crawl.json"
        mine = {"seeds": sorted(seeds), "sitemap": sitemap}
        if path.exists():
            theirs = json.loads(path.read_text())
            if theirs != mine:
                raise ValueError(f"crawl state {self.path} belongs to a crawl of {theirs}, not {mine}; "
                                 "use another state_dir")
        else:
            path.write_text(json.dumps(mine, indent=1) + "\n")

    def wait_for_workers(self, wait: float) -> None:
        """Wait until no worker of an earlier (killed) crawl is alive, so its logs are final."""
        for path in sorted((self.path / "locks").glob("worker-*.lock")):
            os.close(lock_file(path, wait))

    def admissions(self) -> list[Admission]:
        """Every admission recorded so far (a line cut short by a kill is ignored)."""
        path = self.path / "frontier.jsonl"
        if not path.exists():
            return []
        out = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(Admission.from_json(json.loads(line)))
        return out

    def record_admissions(self, items: list[Admission]) -> None:
        """Append admissions to ``frontier.jsonl`` (flushed: they survive a kill of this process)."""
        if not items:
            return
        if self._frontier is None:
            path = self.path / "frontier.jsonl"
            if path.exists():
                data = path.read_bytes()
                if not data.endswith(b"\n"):  # a line a kill cut short
                    with open(path, "r+b") as f:
                        f.truncate(data.rfind(b"\n") + 1)
            self._frontier = open(path, "a", encoding="utf-8")
        for item in items:
            self._frontier.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
        self._frontier.flush()

    def outcomes(self, describe: Callable[[str, bytes, list[tuple[str, str]]], Outcome]) -> list[Outcome]:
        """Every outcome logged so far, after recovering batches a kill left unfinished."""
        out: list[Outcome] = []
        for warc, log in list_batches(self.warc_dir):
            recover_batch(warc, log, describe)
            out += read_log(log)
        return out

    def batches(self) -> list[tuple[Path, Path]]:
        """``(warc, log)`` of every batch."""
        return list_batches(self.warc_dir)
