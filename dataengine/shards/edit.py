"""Rewriting one committed partition: every document through an edit, then the partition committed anew.

The whole-corpus phases that take things out of a corpus (``dedup``, ``optout``) rewrite
each partition they touch through ``edit_partition``. The partition's shards are read in
name order and each document goes through the phase's edit, which keeps it (changed or not)
or drops it, and returns the ``rejected`` rows of what it removed. What is kept is written
by ``ShardWriter`` under the same partition id, so the new shards get the same deterministic
names (``PARTITION-00000`` ...). The commit goes in an order after which a crash at any
point can be finished by running the phase again:

1. the new shards, under temporary names in the partition's staging folder (``.staging/P/``);
2. ``rejected/PARTITION.parquet``: the partition's earlier rows plus the new ones, before
   any shard changes, so that what a rerun no longer finds (it is gone from the shards)
   is already recorded; ``record_once`` keeps that rerun from recording it twice;
3. the shards renamed into place (``ShardWriter.close``), and the shards the partition no
   longer needs removed, manifest first (listings stop seeing a shard at once);
4. the ledger entry last, when the source partition has one: its counts and shards anew,
   plus what the phase adds (``amend``).

The target is the corpus itself (opt-out), another corpus (``dedup --out``), or a folder
that ``dedup`` stages partitions in and swaps into the corpus later (``dedup.commit``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fsspec

from dataengine.shards.layout import DOCS, IMAGES, LEDGER, PARQUET, REJECTED, SHARDS, fs_and_path, join, shard_path
from dataengine.shards.ledger import Ledger
from dataengine.shards.parquet import read_table
from dataengine.shards.reader import ShardReader
from dataengine.shards.writer import MiB, ShardInfo, ShardWriter, write_rejected
from schemas import Document, Rejection

Edit = Callable[[Document], tuple[Document | None, list[Rejection]]]
Amend = Callable[[dict[str, Any], list[Rejection]], None]


@dataclass
class PartitionEdit:
    """What ``edit_partition`` did to one partition."""

    partition: str
    docs_in: int = 0
    docs_out: int = 0
    rejected: list[Rejection] = field(default_factory=list)  # the new rows only
    shards_before: int = 0
    shards: list[ShardInfo] = field(default_factory=list)


def drop_shards(fs: fsspec.AbstractFileSystem, root: str, names: list[str]) -> None:
    """Remove the files of the shards ``names`` of the corpus at ``root``, each manifest first."""
    for name in names:
        for kind in (DOCS, IMAGES, SHARDS):  # the manifest is what listings look for
            path = shard_path(root, name, kind)
            if fs.exists(path):
                fs.rm(path)


def _rejected_rows(corpus: str, partition: str, new: list[Rejection], record_once: bool) -> list[dict]:
    """The partition's earlier rejected rows in ``corpus`` followed by ``new``.

    With ``record_once``, a new row is left out when an earlier row of the same stage names
    the same document, level and image: a rerun after a crash between steps 2 and 3.
    """
    fs, root = fs_and_path(corpus)
    path = join(root, REJECTED, partition + PARQUET)
    rows: list[dict] = []
    if fs.exists(path):
        rows = read_table(fs, path).to_pylist()
    seen = {(r["stage"], r["id"], r["level"], r["image_index"]) for r in rows} if record_once else set()
    return rows + [r.to_row() for r in new if (r.stage, r.id, r.level, r.image_index) not in seen]


def edit_partition(corpus: str, partition: str, names: list[str], edit: Edit, target: str | None = None,
                   maxcount: int = 1000, maxsize: int = 256 * MiB, record_once: bool = False,
                   amend: Amend | None = None) -> PartitionEdit:
    """Rewrite ``partition`` of ``corpus`` (its shards ``names``, in order) through ``edit`` into ``target``.

    ``target`` defaults to ``corpus`` (in place); ``maxcount`` and ``maxsize`` bound the new
    shards as in ``ShardWriter``. See the module docstring for the order of the commit.
    """
    target = corpus if target is None else target
    result = PartitionEdit(partition, shards_before=len(names))
    with ShardWriter(target, partition, maxcount=maxcount, maxsize=maxsize) as writer:
        # Reading the old shards while writing is safe in place too: nothing the writer
        # writes has a final name before close().
        for name in names:
            for doc in ShardReader.open(corpus, name):
                result.docs_in += 1
                kept, rows = edit(doc)
                result.rejected += rows
                if kept is not None:
                    writer.write(kept)
                    result.docs_out += 1
        rows = _rejected_rows(corpus, partition, result.rejected, record_once)
        write_rejected(target, partition, rows)
    result.shards = writer.close()
    tfs, troot = fs_and_path(target)
    written = {s.name for s in result.shards}
    drop_shards(tfs, troot, [n for n in names if n not in written])
    sfs, sroot = fs_and_path(corpus)
    if sfs.exists(join(sroot, LEDGER, partition + ".json")):
        entry = Ledger(corpus).entry(partition)
        entry.pop("partition", None)
        entry.pop("committed_at", None)
        entry.update({"n_docs": result.docs_out, "n_rejected": len(rows),
                      "shards": [s.to_json() for s in result.shards]})
        if amend is not None:
            amend(entry, result.rejected)
        Ledger(target).record(partition, entry)
    return result
