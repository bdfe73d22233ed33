"""The corpus on disk: folder names, file suffixes, and which shards are committed.

::

    CORPUS/
      shards/NAME.tar               WebDataset tar, NAME = f"{partition}-{k:05d}"
      shards/NAME.parquet           manifest (schemas.tables.DOCS), one row per document, tar order
      shards/NAME.images.parquet    schemas.tables.IMAGES, one row per image slot
      rejected/PARTITION.parquet    schemas.tables.REJECTED
      ledger/PARTITION.json         the commit record of a partition: its shards, counts, run
      runs/RUN_ID.json              the record of a run

A partition's files are renamed into place one by one and its ledger entry comes last, so a
crash in between leaves shards that no ledger entry lists. Those are not part of the corpus:
every reader (engine and trainer) asks ``committed_shards`` which shards are. A folder of
shards without any ledger entry (written by ``ShardWriter`` alone, or by another tool) has no
commit record, and all its shards count; so do those of a run that died before committing
its first partition, until its rerun replaces them.
"""

from __future__ import annotations

import json

import fsspec

SHARDS, REJECTED, LEDGER, RUNS = "shards", "rejected", "ledger", "runs"
TAR, MANIFEST, IMAGES = ".tar", ".parquet", ".images.parquet"


def _json_names(fs: fsspec.AbstractFileSystem, folder: str) -> list[str]:
    try:
        return sorted(p for p in fs.ls(folder, detail=False) if p.endswith(".json")
                      and not p.rsplit("/", 1)[-1].startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []


def committed_shards(fs: fsspec.AbstractFileSystem, root: str) -> set[str] | None:
    """Names of the shards that the ledger entries of the corpus at ``root`` list.

    ``None`` for a folder of shards without ledger entries, where every shard counts. An
    unreadable ledger entry commits nothing (``validate`` reports it).
    """
    entries = _json_names(fs, f"{root.rstrip('/')}/{LEDGER}")
    if not entries:
        return None
    names: set[str] = set()
    bodies = fs.cat(entries, on_error="omit")  # concurrent on object stores
    for body in bodies.values():
        try:
            entry = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            continue
        shards = entry.get("shards") if isinstance(entry, dict) else None
        names.update(s["name"] for s in shards or [] if isinstance(s, dict) and isinstance(s.get("name"), str))
    return names
