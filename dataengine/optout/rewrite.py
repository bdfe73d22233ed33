"""``apply_optout``: re-apply an opt-out list to a written corpus, partition by partition.

A partition is touched only when one of its documents' URLs, or one of its live image
slots' URLs, is on the list (checked on the manifests, without reading the tars). Such a
partition is rewritten in place through ``shards.edit.edit_partition`` (the path it shares
with dedup), under the same shard names: listed documents are left out, listed image slots
become ``failed`` with ``optout_list`` (the slot stays, so positions do not shift). Order
matters for a crash: the rejected rows (stage ``optout``) are written before any shard
changes, the ledger entry last; running the command again finishes an interrupted run
without duplicate rows. Each partition is one task (``runner.executor``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataengine.optout.lists import OptOutList
from dataengine.runner.executor import check_executor, run_tasks
from dataengine.shards import ShardReader
from dataengine.shards.edit import Edit, edit_partition
from dataengine.shards.layout import (
    DOCS,
    IMAGES,
    SHARDS,
    fs_and_path,
    list_shards,
    open_corpus,
    partition_of,
    shard_path,
)
from dataengine.shards.parquet import read_table
from schemas import Document, Rejection

STAGE = "optout"


@dataclass
class OptOutReport:
    """What ``apply_optout`` changed."""

    partitions: int = 0
    shards_before: int = 0
    shards_after: int = 0
    documents_removed: int = 0
    images_removed: int = 0
    documents_kept: int = 0

    def line(self) -> str:
        """One line for the terminal."""
        return (f"removed {self.documents_removed} documents and {self.images_removed} images; "
                f"rewrote {self.partitions} partitions ({self.shards_before} shards -> {self.shards_after}), "
                f"{self.documents_kept} documents kept in them; rejected rows have stage '{STAGE}'")


def _touched(fs, root: str, name: str, optout: OptOutList) -> bool:
    urls = read_table(fs, shard_path(root, name, DOCS), ["url"]).column("url").to_pylist()
    if any(optout.match(u) for u in urls):
        return True
    rows = read_table(fs, shard_path(root, name, IMAGES), ["url", "status"]).to_pylist()
    return any(r["status"] != "failed" and optout.match(r["url"]) for r in rows)


def _apply(doc: Document, optout: OptOutList, partition: str) -> list[Rejection]:
    entry = optout.match(doc.url)
    if entry:
        return [Rejection(doc.id, doc.url, "document", STAGE, "optout_list", detail=f"listed: {entry}",
                          partition=partition)]
    out = []
    for image in doc.images:
        entry = optout.match(image.url) if image.status != "failed" else None
        if entry:
            image.status, image.error, image.data, image.member = "failed", "optout_list", None, None
            out.append(Rejection(doc.id, image.url, "image", STAGE, "optout_list", image_index=image.index,
                                 detail=f"listed: {entry}", partition=partition))
    return out


def _edit(optout: OptOutList, partition: str) -> Edit:
    """The opt-out edit of one partition's documents (``edit_partition`` drops those it rejects whole)."""

    def edit(doc: Document) -> tuple[Document | None, list[Rejection]]:
        rows = _apply(doc, optout, partition)
        return (None if rows and rows[0].level == "document" else doc), rows

    return edit


def optout_partition(corpus: str, partition: str, names: list[str], optout: OptOutList,
                     list_path: str) -> dict[str, int] | None:
    """Rewrite ``partition`` (its shards ``names``) without what ``optout`` lists; ``None`` when nothing is.

    One task of ``apply_optout``. Returns the counts of ``OptOutReport`` for this partition.
    """
    fs, root = fs_and_path(corpus)
    if not any(_touched(fs, root, name, optout) for name in names):
        return None
    # the new shards are cut like the old ones: as many documents, as many bytes at most
    maxcount = max(ShardReader.open(corpus, name).manifest().num_rows for name in names)
    maxsize = max(fs.size(shard_path(root, name, SHARDS)) for name in names)

    def amend(entry: dict[str, Any], rejected: list[Rejection]) -> None:
        entry.setdefault("optout", []).append({
            "list": list_path, "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "documents": sum(r.level == "document" for r in rejected),
            "images": sum(r.level == "image" for r in rejected)})

    done = edit_partition(corpus, partition, names, _edit(optout, partition), maxcount=maxcount, maxsize=maxsize,
                          record_once=True, amend=amend)
    return {"partitions": 1, "shards_before": done.shards_before, "shards_after": len(done.shards),
            "documents_removed": sum(r.level == "document" for r in done.rejected),
            "images_removed": sum(r.level == "image" for r in done.rejected), "documents_kept": done.docs_out}


def apply_optout(corpus: str, optout: OptOutList, list_path: str = "", executor: str = "ray",
                 address: str | None = None, progress: bool = True) -> OptOutReport:
    """Remove what ``optout`` lists from ``corpus`` (see the module docstring); return what changed.

    One task per partition through ``runner.executor.run_tasks`` (``executor``, ``address``).
    """
    check_executor(executor)
    open_corpus(corpus)
    by_partition: dict[str, list[str]] = defaultdict(list)
    for name in list_shards(corpus):
        by_partition[partition_of(name)].append(name)
    calls = [(corpus, partition, names, optout, list_path or optout.source)
             for partition, names in sorted(by_partition.items())]
    report = OptOutReport()
    for counts in run_tasks(optout_partition, calls, executor=executor, address=address, what="optout",
                            progress=progress):
        for key, n in (counts or {}).items():
            setattr(report, key, getattr(report, key) + n)
    return report
