"""The run record: what ran, with which versions, and what it did (``runs/RUN_ID.json``).

A record is ``running`` from its first save until it says ``completed`` or ``failed``. A
driver killed outright (SIGKILL, a lost machine) never says either, so a running record
beats: it is saved every ``HEARTBEAT_SECONDS`` with the time, its host and process. When the
next run on the same corpus starts, a record that still says ``running`` but whose process
is gone (same host) or whose heartbeat is older than ``STALE_SECONDS`` (any host) becomes
``interrupted``, so the runs table never shows a dead run as running.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from typing import Any

import fsspec

from dataengine.shards.hf import write_dataset_card

HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 600.0  # twenty missed heartbeats

_PACKAGES = ("dataengine", "ray", "pyarrow", "webdataset", "duckdb", "warcio", "selectolax", "img2dataset",
             "torch", "transformers", "open-clip-torch")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages whose behaviour shapes the output."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a short random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@dataclass
class RunRecord:
    """Everything a later reader needs to know about one ``dataengine run``."""

    run_id: str
    pipeline: str
    config: dict[str, Any]
    output: str
    started_at: str = field(default_factory=_now)
    finished_at: str | None = None
    status: str = "running"
    versions: dict[str, str] = field(default_factory=package_versions)
    partitions: dict[str, int] = field(default_factory=dict)  # total, skipped, done
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> in/out/level:reason
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> summed wall time; "total"
    error: str | None = None
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    heartbeat_at: str | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # the heartbeat saves while the run adds counts

    def add(self, counts: dict[str, dict[str, int]], seconds: dict[str, float]) -> None:
        """Merge one partition's per-stage counts and timings."""
        with self._lock:
            for stage, c in counts.items():
                merged = Counter(self.counts.get(stage, {}))
                merged.update(c)
                self.counts[stage] = dict(merged)
            for stage, s in seconds.items():
                self.seconds[stage] = self.seconds.get(stage, 0.0) + s

    def finish(self, status: str, error: str | None = None) -> None:
        """Mark the run finished with ``status`` (``completed`` or ``failed``)."""
        self.status, self.error, self.finished_at = status, error, _now()

    def save(self) -> None:
        """Write ``runs/RUN_ID.json`` under the output (overwriting the previous save)."""
        with self._lock:
            self.heartbeat_at = _now()
            body = json.dumps(asdict(self), indent=1, sort_keys=True)
        fs, path = fsspec.core.url_to_fs(self.output.rstrip("/") + "/runs")
        fs.makedirs(path, exist_ok=True)
        with fs.open(f"{path}/{self.run_id}.json", "w") as f:
            f.write(body)

    @contextmanager
    def running(self) -> Iterator[RunRecord]:
        """Mark dead earlier runs interrupted, save, beat while the block runs, then finish.

        The record ends ``completed``, or ``failed`` with the exception (which propagates). Either
        way the output's dataset card (``README.md``) is rewritten for the partitions committed so
        far; after a failure that is best-effort, so the run's own exception is the one raised.
        """
        mark_interrupted(self.output)
        self.save()
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_SECONDS):
                try:
                    self.save()
                except Exception:  # a storage hiccup; the next beat tries again
                    continue

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.run_id}", daemon=True)
        thread.start()
        try:
            yield self
        except BaseException as exc:
            stop.set()
            thread.join()
            self.finish("failed", f"{type(exc).__name__}: {exc}")
            self.save()
            try:
                write_dataset_card(self.output)
            except Exception:  # noqa: S110 - the run's exception matters more than its card
                pass
            raise
        stop.set()
        thread.join()
        write_dataset_card(self.output)
        self.finish("completed")
        self.save()


def _alive(host: str | None, pid: Any, heartbeat_at: str | None, now: datetime) -> bool:
    """Whether a record that says ``running`` may still be running."""
    if host == socket.gethostname() and isinstance(pid, int):
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # someone else's process
    try:
        beat = datetime.fromisoformat(heartbeat_at) if heartbeat_at else None
    except ValueError:
        beat = None
    return beat is not None and now - beat < timedelta(seconds=STALE_SECONDS)


def read_records(output: str) -> list[tuple[str, dict[str, Any]]]:
    """``(path, record)`` of every readable run record under ``output`` (none when it has no ``runs/``)."""
    fs, path = fsspec.core.url_to_fs(output.rstrip("/") + "/runs")
    try:
        names = sorted(p for p in fs.ls(path, detail=False) if p.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    records = []
    for name in names:
        try:
            with fs.open(name, "r") as f:
                obj = json.load(f)
        except (OSError, ValueError):
            continue  # validate reports unreadable records
        if isinstance(obj, dict):
            records.append((name, obj))
    return records


def mark_interrupted(output: str) -> list[str]:
    """Rewrite the records under ``output`` that say ``running`` but whose driver is gone; returns their ids."""
    fs, _ = fsspec.core.url_to_fs(output)
    now = datetime.now(UTC)
    marked = []
    for name, obj in read_records(output):
        if obj.get("status") != "running":
            continue
        if _alive(obj.get("host"), obj.get("pid"), obj.get("heartbeat_at"), now):
            continue
        last = obj.get("heartbeat_at") or obj.get("started_at")
        obj.update(status="interrupted", finished_at=last,
                   error=f"the driver stopped without finishing (last heard from at {last})")
        with fs.open(name, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
        marked.append(str(obj.get("run_id")))
    return marked
