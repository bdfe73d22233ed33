"""Apply the drop lists to one partition: its documents rewritten into new shards, every removal a row.

The partition's shards are read in name order and written again through ``ShardWriter``
under the same partition id, so the new shards get the same deterministic names
(``PARTITION-00000`` ...). A dropped document is not written; a dropped image keeps its
slot as ``failed`` with the reason as its ``error`` (positions never shift); a dropped
paragraph leaves the segments. Each removal becomes a ``rejected`` row of stage ``dedup``,
appended to the partition's earlier rows, and the ledger entry is written anew. Images
that stay get the pHash the phase computed. A few removed images per reason are kept as
thumbnails in ``rejected/thumbs/ID.INDEX.jpg``, the only trace of their pixels the report
can show.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from typing import Any

import pyarrow.parquet as pq

from dataengine.dedup.config import DedupConfig
from dataengine.dedup.decide import STAGE
from dataengine.dedup.phash import phash_hex
from dataengine.filters.images import open_rgb
from dataengine.shards import ShardReader, ShardWriter, write_rejected
from dataengine.shards.layout import LEDGER, MANIFEST, REJECTED, fs_and_path, join
from dataengine.shards.ledger import Ledger
from schemas import Document, Rejection

VERSION = "1"
THUMBS = "thumbs"
THUMB_SIDE = 160


def thumbnail_path(root: str, doc_id: str, index: int) -> str:
    """Where the thumbnail of image ``index`` of ``doc_id`` lives under a corpus root."""
    return join(root, REJECTED, THUMBS, f"{doc_id}.{index}.jpg")


def thumbnail(data: bytes) -> bytes | None:
    """A small JPEG of image bytes (``None`` when they do not decode)."""
    try:
        picture = open_rgb(data)
    except Exception:  # the removal is recorded either way; only the picture is missing
        return None
    picture.thumbnail((THUMB_SIDE, THUMB_SIDE))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def _read_phashes(work: str, shards: list[str]) -> dict[tuple[str, int], int]:
    fs, root = fs_and_path(work)
    out: dict[tuple[str, int], int] = {}
    for shard in shards:
        path = join(root, "images", shard + ".parquet")
        if not fs.exists(path):
            continue
        with fs.open(path, "rb") as f:
            table = pq.read_table(f, columns=["doc_id", "index", "phash"])
        for doc_id, index, value in zip(*(table.column(c).to_pylist() for c in ("doc_id", "index", "phash"))):
            if value is not None:
                out[(doc_id, index)] = value
    return out


class _Apply:
    """The removals of one partition, applied document by document."""

    def __init__(self, partition: str, decisions: list[dict[str, Any]], config: DedupConfig, target: str):
        self.partition, self.config, self.target = partition, config, target
        self.drop_doc: dict[str, dict] = {}
        self.drop_image: dict[str, dict[int, dict]] = defaultdict(dict)
        self.drop_text: dict[str, dict[int, dict]] = defaultdict(dict)
        for d in decisions:
            if d["level"] == "document":
                self.drop_doc[d["id"]] = d
            elif d["level"] == "image":
                self.drop_image[d["id"]][d["image_index"]] = d
            else:
                self.drop_text[d["id"]][d["position"]] = d
        self.rejected: list[Rejection] = []
        self.thumbs: Counter = Counter()
        self.fs, self.root = fs_and_path(target)

    def _row(self, doc: Document, d: dict, url: str | None, **extra: Any) -> Rejection:
        return Rejection(doc.id, url, d["level"], STAGE, d["reason"], value=d["value"], threshold=d["threshold"],
                         partition=self.partition, **extra)

    def _keep_thumbnail(self, doc_id: str, index: int, reason: str, data: bytes | None) -> None:
        if data is None or self.thumbs[reason] >= self.config.thumbnails:
            return
        small = thumbnail(data)
        if small is None:
            return
        self.fs.makedirs(join(self.root, REJECTED, THUMBS), exist_ok=True)
        with self.fs.open(thumbnail_path(self.root, doc_id, index), "wb") as f:
            f.write(small)
        self.thumbs[reason] += 1

    def __call__(self, doc: Document, phashes: dict[tuple[str, int], int]) -> Document | None:
        """The document after its removals, or ``None`` when it goes as a whole."""
        whole = self.drop_doc.get(doc.id)
        if whole is not None:
            self.rejected.append(self._row(doc, whole, doc.url, detail=whole["detail"]))
            return None
        changed = False
        for image in doc.images:
            d = self.drop_image.get(doc.id, {}).get(image.index)
            if d is not None and image.status == "ok":
                self._keep_thumbnail(doc.id, image.index, d["reason"], image.data)
                image.status, image.error, image.data, image.member = "failed", d["reason"], None, None
                self.rejected.append(self._row(doc, d, image.url, image_index=image.index, detail=d["detail"]))
                changed = True
            elif image.status == "ok" and image.phash is None and (doc.id, image.index) in phashes:
                image.phash = phash_hex(phashes[(doc.id, image.index)])
        texts = self.drop_text.get(doc.id, {})
        if texts:
            kept = []
            for position, seg in enumerate(doc.segments):
                d = texts.get(position)
                if d is None or seg.kind != "text":
                    kept.append(seg)
                    continue
                self.rejected.append(self._row(doc, d, doc.url, detail=f"segment {position}, {d['detail']}: "
                                                                      f"{(seg.text or '')[:300]}"))
            changed = changed or len(kept) != len(doc.segments)
            doc.segments = kept
        if changed:
            doc.touch(STAGE, VERSION)
        return doc


def rewrite_partition(corpus: str, partition: str, shards: list[str], decisions: list[dict[str, Any]],
                      target: str, work: str, config: DedupConfig, run_id: str) -> dict[str, Any]:
    """Rewrite ``partition`` of ``corpus`` into ``target`` (another corpus root, or a staging folder).

    Writes the new shards, ``rejected/PARTITION.parquet`` (earlier rows plus the new ones)
    and, when ``corpus`` has a ledger entry for the partition, ``ledger/PARTITION.json``.
    Returns ``{"partition", "docs_in", "docs_out", "removed": {level:reason: n}, "shards": [...]}``.
    """
    apply = _Apply(partition, decisions, config, target)
    phashes = _read_phashes(work, shards)
    docs_in = docs_out = 0
    with ShardWriter(target, partition, maxcount=config.maxcount, maxsize=config.maxsize) as writer:
        for shard in shards:
            for doc in ShardReader.open(corpus, shard):
                docs_in += 1
                kept = apply(doc, phashes)
                if kept is not None:
                    writer.write(kept)
                    docs_out += 1
    infos = writer.close()
    fs, root = fs_and_path(corpus)
    earlier: list[dict] = []
    old_rejected = join(root, REJECTED, partition + MANIFEST)
    if fs.exists(old_rejected):
        with fs.open(old_rejected, "rb") as f:
            earlier = pq.read_table(f).to_pylist()
    write_rejected(target, partition, earlier + [r.to_row() for r in apply.rejected])
    old_ledger = join(root, LEDGER, partition + ".json")
    if fs.exists(old_ledger):
        entry = Ledger(corpus).entry(partition)
        entry.pop("partition", None)
        entry.pop("committed_at", None)
        entry.update({"run_id": run_id, "previous_run_id": entry.get("run_id"), "n_docs": docs_out,
                      "n_rejected": len(earlier) + len(apply.rejected),
                      "shards": [s.to_json() for s in infos]})
        Ledger(target).record(partition, entry)
    removed = Counter(f"{r.level}:{r.reason}" for r in apply.rejected)
    return {"partition": partition, "docs_in": docs_in, "docs_out": docs_out, "removed": dict(removed),
            "shards": [s.name for s in infos]}
