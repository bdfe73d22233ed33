"""Apply the drop lists to one partition: its documents rewritten into new shards, every removal a row.

The partition goes through ``shards.edit.edit_partition`` (the rewrite-and-commit path it
shares with opt-out): read in name order, written again under the same partition id, so
the new shards get the same deterministic names (``PARTITION-00000`` ...). A dropped
document is not written; a dropped image keeps its slot as ``failed`` with the reason as
its ``error`` (positions never shift); a dropped paragraph leaves the segments. Each
removal becomes a ``rejected`` row of stage ``dedup``, appended to the partition's earlier
rows, and the ledger entry is written anew with this run's id. Images that stay get the
pHash the phase computed. A few removed images per reason are kept as thumbnails in
``rejected/thumbs/ID.INDEX.jpg``, the only trace of their pixels the report can show.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from typing import Any

from dataengine.dedup.config import DedupConfig
from dataengine.dedup.decide import STAGE
from dataengine.dedup.phash import phash_hex
from dataengine.filters.images import open_rgb
from dataengine.shards.edit import edit_partition
from dataengine.shards.layout import REJECTED, fs_and_path, join
from dataengine.shards.parquet import read_table
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
        table = read_table(fs, path, ["doc_id", "index", "phash"])
        for doc_id, index, value in zip(*(table.column(c).to_pylist() for c in ("doc_id", "index", "phash"))):
            if value is not None:
                out[(doc_id, index)] = value
    return out


class _Apply:
    """The removals of one partition, applied document by document."""

    def __init__(self, partition: str, decisions: list[dict[str, Any]], config: DedupConfig, target: str,
                 phashes: dict[tuple[str, int], int]):
        self.partition, self.config, self.target, self.phashes = partition, config, target, phashes
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

    def __call__(self, doc: Document) -> tuple[Document | None, list[Rejection]]:
        """The document after its removals (``None`` when it goes as a whole) and their rows."""
        whole = self.drop_doc.get(doc.id)
        if whole is not None:
            return None, [self._row(doc, whole, doc.url, detail=whole["detail"])]
        rejected: list[Rejection] = []
        changed = False
        for image in doc.images:
            d = self.drop_image.get(doc.id, {}).get(image.index)
            if d is not None and image.status == "ok":
                self._keep_thumbnail(doc.id, image.index, d["reason"], image.data)
                image.status, image.error, image.data, image.member = "failed", d["reason"], None, None
                rejected.append(self._row(doc, d, image.url, image_index=image.index, detail=d["detail"]))
                changed = True
            elif image.status == "ok" and image.phash is None and (doc.id, image.index) in self.phashes:
                image.phash = phash_hex(self.phashes[(doc.id, image.index)])
        texts = self.drop_text.get(doc.id, {})
        if texts:
            kept = []
            for position, seg in enumerate(doc.segments):
                d = texts.get(position)
                if d is None or seg.kind != "text":
                    kept.append(seg)
                    continue
                rejected.append(self._row(doc, d, doc.url, detail=f"segment {position}, {d['detail']}: "
                                                                 f"{(seg.text or '')[:300]}"))
            changed = changed or len(kept) != len(doc.segments)
            doc.segments = kept
        if changed:
            doc.touch(STAGE, VERSION)
        return doc, rejected


def rewrite_partition(corpus: str, partition: str, shards: list[str], decisions: list[dict[str, Any]],
                      target: str, work: str, config: DedupConfig, run_id: str) -> dict[str, Any]:
    """Rewrite ``partition`` of ``corpus`` into ``target`` (another corpus root, or a staging folder).

    Writes the new shards, ``rejected/PARTITION.parquet`` (earlier rows plus the new ones)
    and, when ``corpus`` has a ledger entry for the partition, ``ledger/PARTITION.json``.
    Returns ``{"partition", "docs_in", "docs_out", "removed": {level:reason: n}, "shards": [...]}``.
    """
    apply = _Apply(partition, decisions, config, target, _read_phashes(work, shards))

    def amend(entry: dict[str, Any], rejected: list[Rejection]) -> None:
        entry.update(run_id=run_id, previous_run_id=entry.get("run_id"))

    done = edit_partition(corpus, partition, shards, apply, target, maxcount=config.maxcount,
                          maxsize=config.maxsize, amend=amend)
    removed = Counter(f"{r.level}:{r.reason}" for r in done.rejected)
    return {"partition": partition, "docs_in": done.docs_in, "docs_out": done.docs_out, "removed": dict(removed),
            "shards": [s.name for s in done.shards]}
