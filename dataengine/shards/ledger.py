"""The ledger: which partitions are committed.

One small JSON file per committed partition (``ledger/PARTITION.json``), written after the
partition's shards and rejected rows were renamed into place. A file per partition keeps
concurrent commits from different workers independent and works the same on object
stores, where appending to a shared file is not possible.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import fsspec

from dataengine.shards.layout import make_staging, release_staging


class Ledger:
    """The committed partitions of the corpus at ``root`` (local path or fsspec URL)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/")
        self.fs, self.path = fsspec.core.url_to_fs(self.root + "/ledger")
        self.corpus_path = self.path.rsplit("/", 1)[0]

    def committed(self) -> set[str]:
        """Ids of every committed partition."""
        if not self.fs.exists(self.path):
            return set()
        return {p.rsplit("/", 1)[-1][:-5] for p in self.fs.ls(self.path, detail=False) if p.endswith(".json")}

    def entry(self, partition: str) -> dict[str, Any]:
        """The ledger entry of one committed partition."""
        with self.fs.open(f"{self.path}/{partition}.json", "r") as f:
            return json.load(f)

    def record(self, partition: str, entry: dict[str, Any]) -> None:
        """Mark ``partition`` committed (atomically: written in its staging folder, then renamed).

        The entry is the last file of a commit, so the partition's staging folder goes with it.
        """
        self.fs.makedirs(self.path, exist_ok=True)
        staging = make_staging(self.fs, self.corpus_path, partition)
        body = {"partition": partition, "committed_at": datetime.now(UTC).isoformat(), **entry}
        tmp = f"{staging}/{partition}.json.tmp-{uuid.uuid4().hex[:12]}"
        with self.fs.open(tmp, "w") as f:
            json.dump(body, f, sort_keys=True)
        self.fs.mv(tmp, f"{self.path}/{partition}.json")
        release_staging(self.fs, self.corpus_path, partition)
