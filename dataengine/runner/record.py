"""The run record: what ran, with which versions, and what it did (``runs/RUN_ID.json``)."""

from __future__ import annotations

import json
import platform
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import fsspec

_PACKAGES = ("dataengine", "ray", "pyarrow", "webdataset", "duckdb", "warcio", "selectolax", "img2dataset",
             "torch", "transformers", "open-clip-torch")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


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
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


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

    def add(self, counts: dict[str, dict[str, int]], seconds: dict[str, float]) -> None:
        """Merge one partition's per-stage counts and timings."""
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
        fs, path = fsspec.core.url_to_fs(self.output.rstrip("/") + "/runs")
        fs.makedirs(path, exist_ok=True)
        with fs.open(f"{path}/{self.run_id}.json", "w") as f:
            json.dump(asdict(self), f, indent=1, sort_keys=True)
