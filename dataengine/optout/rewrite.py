"""``apply_optout``: re-apply an opt-out list to a written corpus, partition by partition.

A partition is touched only when one of its documents' URLs, or one of its live image
slots' URLs, is on the list (checked on the manifests, without reading the tars). Such a
partition is read back with ``ShardReader`` and written again with ``ShardWriter`` under the
same shard names: listed documents are left out, listed image slots become ``failed`` with
``optout_list`` (the slot stays, so positions do not shift). Order matters for a crash:
the rejected rows (stage ``optout``) are written first, then the shards, then the ledger
entry; running the command again finishes an interrupted run without duplicate rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow.parquet as pq

from dataengine.optout.lists import OptOutList
from dataengine.shards import ShardReader, ShardWriter, write_rejected
from dataengine.shards.layout import (IMAGES, LEDGER, MANIFEST, REJECTED, SHARDS, TAR, join, list_shards,
                                      open_corpus, partition_of)
from dataengine.shards.ledger import Ledger
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
    base = join(root, SHARDS, name)
    with fs.open(base + MANIFEST, "rb") as f:
        urls = pq.read_table(f, columns=["url"]).column("url").to_pylist()
    if any(optout.match(u) for u in urls):
        return True
    with fs.open(base + IMAGES, "rb") as f:
        rows = pq.read_table(f, columns=["url", "status"]).to_pylist()
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


def _merge_rejected(fs, root: str, partition: str, new: list[Rejection]) -> list[dict]:
    """The partition's existing rejected rows plus ``new``, without repeating an earlier optout row."""
    path = join(root, REJECTED, partition + MANIFEST)
    rows = []
    if fs.exists(path):
        with fs.open(path, "rb") as f:
            rows = pq.read_table(f).to_pylist()
    seen = {(r["id"], r["level"], r["image_index"]) for r in rows if r["stage"] == STAGE}
    rows += [r.to_row() for r in new if (r.id, r.level, r.image_index) not in seen]
    return rows


def _rewrite_partition(corpus: str, fs, root: str, partition: str, names: list[str], optout: OptOutList,
                       list_path: str, report: OptOutReport) -> None:
    readers = [ShardReader.open(corpus, name) for name in names]
    manifests = [r.manifest() for r in readers]
    maxcount = max(m.num_rows for m in manifests)
    maxsize = max(fs.size(join(root, SHARDS, name + TAR)) for name in names)
    kept: list[Document] = []
    rejections: list[Rejection] = []
    for reader in readers:
        for doc in reader:
            rows = _apply(doc, optout, partition)
            rejections += rows
            if not (rows and rows[0].level == "document"):
                kept.append(doc)
    write_rejected(corpus, partition, _merge_rejected(fs, root, partition, rejections))
    with ShardWriter(corpus, partition, maxcount=maxcount, maxsize=maxsize) as writer:
        for doc in kept:
            writer.write(doc)
    shards = writer.close()
    for name in names[len(shards):]:  # the partition now needs fewer shards
        for ext in (MANIFEST, IMAGES, TAR):  # manifest first: listings stop seeing the shard at once
            path = join(root, SHARDS, name + ext)
            if fs.exists(path):
                fs.rm(path)
    ledger = Ledger(corpus)
    if fs.exists(join(root, LEDGER, partition + ".json")):
        entry = ledger.entry(partition)
        entry.pop("partition", None)
        entry.pop("committed_at", None)
        n_rejected = len(_merge_rejected(fs, root, partition, []))
        entry.update({"n_docs": len(kept), "n_rejected": n_rejected, "shards": [s.to_json() for s in shards]})
        entry.setdefault("optout", []).append({
            "list": list_path, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "documents": sum(r.level == "document" for r in rejections),
            "images": sum(r.level == "image" for r in rejections)})
        ledger.record(partition, entry)
    report.partitions += 1
    report.shards_before += len(names)
    report.shards_after += len(shards)
    report.documents_removed += sum(r.level == "document" for r in rejections)
    report.images_removed += sum(r.level == "image" for r in rejections)
    report.documents_kept += len(kept)


def apply_optout(corpus: str, optout: OptOutList, list_path: str = "") -> OptOutReport:
    """Remove what ``optout`` lists from ``corpus`` (see the module docstring); return what changed."""
    fs, root = open_corpus(corpus)
    by_partition: dict[str, list[str]] = defaultdict(list)
    for name in list_shards(corpus):
        by_partition[partition_of(name)].append(name)
    report = OptOutReport()
    for partition, names in sorted(by_partition.items()):
        if any(_touched(fs, root, name, optout) for name in names):
            _rewrite_partition(corpus, fs, root, partition, names, optout, list_path or optout.source, report)
    return report
