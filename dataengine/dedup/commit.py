"""Putting rewritten partitions in place, or building a new corpus beside the old one.

In place, every rewritten partition is first staged whole in ``CORPUS/.dedup/staging/P/``
(shards, rejected rows, ledger entry, thumbnails), which no corpus listing sees. Once every
partition is staged, a ``READY`` marker is written; then each partition is swapped in:
shards it no longer has are removed, the new shards renamed over the old names (tar,
image table, manifest: the manifest last, since listings look for manifests), then its
rejected rows, and its ledger entry last. A run that dies before ``READY`` leaves the
corpus untouched (the next run clears the staging); one that dies after it is finished by
the next run before it does anything else (``recover``). Readers that list the corpus
during a swap may see a partition half swapped: run in place when nobody reads, or write
to ``--out``.

With ``--out``, rewritten partitions are written straight into the new corpus and every
other file (untouched shards, rejected rows, ledger entries, run records, thumbnails) is
copied, so the source corpus is never changed.
"""

from __future__ import annotations

import json
import sys

import fsspec

from dataengine.dedup.rewrite import THUMBS
from dataengine.shards.edit import drop_shards
from dataengine.shards.layout import (
    LEDGER,
    PARQUET,
    REJECTED,
    RUNS,
    SHARD_FILES,
    fs_and_path,
    join,
    list_shards,
    partition_of,
    shard_path,
)

WORK_DIR = ".dedup"
READY = "READY"


def staging_root(corpus: str) -> str:
    """``CORPUS/.dedup/staging``: where in-place rewrites wait until all are done."""
    return join(fs_and_path(corpus)[1], WORK_DIR, "staging")


def _unstrip(fs: fsspec.AbstractFileSystem, path: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if protocol in ("file", "local") else fs.unstrip_protocol(path)


def _files_under(fs: fsspec.AbstractFileSystem, folder: str) -> list[str]:
    try:
        return sorted(p for p in fs.find(folder) if not p.rsplit("/", 1)[-1].startswith("."))
    except FileNotFoundError:
        return []


def mark_ready(corpus: str, run_id: str, partitions: list[str]) -> None:
    """Write the ``READY`` marker: every partition of this run is staged."""
    fs, _ = fs_and_path(corpus)
    with fs.open(join(staging_root(corpus), READY), "w") as f:
        json.dump({"run_id": run_id, "partitions": partitions}, f)


def _swap_partition(fs: fsspec.AbstractFileSystem, root: str, staged: str, partition: str) -> None:
    new = list_shards(_unstrip(fs, staged))
    old = [n for n in list_shards(_unstrip(fs, root)) if partition_of(n) == partition]
    drop_shards(fs, root, [name for name in old if name not in new])
    for name in new:
        for kind in SHARD_FILES:  # the manifest last
            src = shard_path(staged, name, kind)
            if fs.exists(src):  # absent when an interrupted swap already moved it
                fs.makedirs(join(root, kind), exist_ok=True)
                fs.mv(src, shard_path(root, name, kind))
    thumbs = join(staged, REJECTED, THUMBS)
    if fs.exists(thumbs):
        fs.makedirs(join(root, REJECTED, THUMBS), exist_ok=True)
        for path in _files_under(fs, thumbs):
            fs.mv(path, join(root, REJECTED, THUMBS, path.rsplit("/", 1)[-1]))
    for folder, ext in ((REJECTED, PARQUET), (LEDGER, ".json")):
        src = join(staged, folder, partition + ext)
        if fs.exists(src):
            fs.makedirs(join(root, folder), exist_ok=True)
            fs.mv(src, join(root, folder, partition + ext))
    fs.rm(staged, recursive=True)


def commit_staged(corpus: str) -> list[str]:
    """Swap every staged partition into ``corpus`` (after ``READY``); return the partitions swapped."""
    fs, root = fs_and_path(corpus)
    staging = staging_root(corpus)
    done = []
    for path in sorted(fs.ls(staging, detail=False)):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if fs.isdir(path):
            _swap_partition(fs, root, path.rstrip("/"), name)
            done.append(name)
    fs.rm(join(fs_and_path(corpus)[1], WORK_DIR, "staging"), recursive=True)
    return done


def recover(corpus: str) -> list[str]:
    """Finish an in-place commit a dead run left behind, or discard its unfinished staging."""
    fs, _ = fs_and_path(corpus)
    staging = staging_root(corpus)
    if not fs.exists(staging):
        return []
    if fs.exists(join(staging, READY)):
        done = commit_staged(corpus)
        print(f"dedup: finished the commit of an interrupted run ({len(done)} partitions)", file=sys.stderr)
        return done
    fs.rm(staging, recursive=True)
    return []


def _copy(src_fs, src: str, dst_fs, dst: str) -> None:
    dst_fs.makedirs(dst.rsplit("/", 1)[0], exist_ok=True)
    with src_fs.open(src, "rb") as fin, dst_fs.open(dst, "wb") as fout:
        while chunk := fin.read(8 << 20):
            fout.write(chunk)


def copy_untouched(corpus: str, out: str, rewritten: set[str]) -> int:
    """Copy every file of ``corpus`` that the rewrite did not produce anew into ``out``; return how many."""
    sfs, sroot = fs_and_path(corpus)
    dfs, droot = fs_and_path(out)
    n = 0
    for name in list_shards(corpus):
        if partition_of(name) in rewritten:
            continue
        for kind in SHARD_FILES:
            _copy(sfs, shard_path(sroot, name, kind), dfs, shard_path(droot, name, kind))
            n += 1
    for folder, ext in ((REJECTED, PARQUET), (LEDGER, ".json"), (RUNS, ".json")):
        for path in sorted(sfs.glob(join(sroot, folder, "*" + ext))):
            base = path.rsplit("/", 1)[-1]
            if base.startswith(".") or (folder != RUNS and base[: -len(ext)] in rewritten):
                continue
            _copy(sfs, path, dfs, join(droot, folder, base))
            n += 1
    for path in _files_under(sfs, join(sroot, REJECTED, THUMBS)):
        _copy(sfs, path, dfs, join(droot, REJECTED, THUMBS, path.rsplit("/", 1)[-1]))
        n += 1
    return n
