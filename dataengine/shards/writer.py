"""``ShardWriter``: documents to WebDataset tars with Parquet manifests, committed by rename.

One sample per document, members in this order::

    KEY.json            doc.to_json(), UTF-8
    KEY.{i}.{ext}       the bytes of images[i], for each image with status "ok" (ext from its format)
    KEY.tokens.npy      the int32 token sequence, when the document carries one

``shards/NAME.tar`` has two tables of the same name: ``docs/NAME.parquet``
(``schemas.tables.DOCS``: one row per document, in tar order, with the byte ``offset`` of the
sample's first tar header and its ``size`` up to the 512-byte-padded end of its last member,
so ``offset + size`` is the next sample's offset and ``[offset, offset + size)`` is a readable
tar fragment) and ``images/NAME.parquet`` (``schemas.tables.IMAGES``: one row per image slot,
failed ones too). A table without rows is written without row groups: readers that size their
batches from the first row group (``datasets``' Parquet builder) read it as empty instead of
failing.

Output is deterministic: fixed mtime/uid/gid/mode/owner names, no timestamps anywhere, so a
rerun writes identical bytes. Everything is written under temporary names and renamed into
place by ``close()``; until then no reader can see any of it.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from dataengine.shards.layout import (
    DOCS,
    IMAGES,
    PARQUET,
    REJECTED,
    SHARD_FILES,
    SHARDS,
    check_partition,
    fs_and_path,
    image_extension,
    join,
    make_staging,
    release_staging,
    shard_name,
    shard_path,
    temp_name,
)
from dataengine.shards.parquet import write_table
from schemas import Document, Rejection, TokenLayout, document_problems, tables
from schemas.corpus import TOKENS_MEMBER
from schemas.validate import DocumentError

MiB = 1 << 20
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
TAR_FORMAT = tarfile.PAX_FORMAT
TAR_ENCODING = "utf-8"
MTIME = 0
MODE = 0o444

__all__ = ["ShardWriter", "ShardInfo", "write_rejected", "encode_document", "MiB"]


@dataclass
class ShardInfo:
    """What ``close()`` committed for one shard; ``to_json()`` is its entry in the partition ledger."""

    name: str
    partition: str
    n_docs: int
    tar_bytes: int
    n_images_ok: int
    tar: str          # full path/URL of shards/NAME.tar
    manifest: str     # docs/NAME.parquet
    images: str       # images/NAME.parquet

    def to_json(self) -> dict[str, Any]:
        """``{"name", "n_docs", "tar_bytes", "n_images_ok"}``, the ledger's shard entry."""
        return {"name": self.name, "n_docs": self.n_docs, "tar_bytes": self.tar_bytes,
                "n_images_ok": self.n_images_ok}


@dataclass
class _Member:
    name: str
    data: bytes
    info: tarfile.TarInfo = field(init=False)

    def __post_init__(self) -> None:
        info = tarfile.TarInfo(self.name)
        info.size = len(self.data)
        info.mtime = MTIME
        info.mode = MODE
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        self.info = info

    def tar_bytes(self) -> int:
        header = len(self.info.tobuf(TAR_FORMAT, TAR_ENCODING, "surrogateescape"))
        return header + -(-len(self.data) // BLOCK) * BLOCK


def _tar_total(offset: int) -> int:
    """Size of a tar whose members end at ``offset``, after the end-of-archive blocks and record padding."""
    end = offset + 2 * BLOCK
    return -(-end // RECORD) * RECORD


def encode_document(doc: Document, validate: bool = True) -> list[tuple[str, bytes]]:
    """The sample's members ``[(member name, bytes), ...]`` in tar order.

    Sets ``image.member`` of every image (the member name for ``ok`` images, ``None`` for the
    others) before serialising the JSON. Raises ``DocumentError`` (naming the document) when the
    document breaks the contract, and ``ValueError`` for an ``ok`` image without bytes.
    """
    key = doc.id
    images: list[tuple[str, bytes]] = []
    for image in doc.images:
        if image.status == "ok":
            if image.data is None:
                raise ValueError(f"document {key}: image {image.index} has status ok but no bytes")
            ext = image_extension(image.format, image.data)
            image.member = f"{key}.{image.index}.{ext}"
            images.append((image.member, bytes(image.data)))
        else:
            image.member = None
    obj = doc.to_json()
    if validate:
        problems = document_problems(obj)
        if problems:
            raise DocumentError([f"document {key}: {p}" for p in problems])
    try:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"document {key}: cannot be written as JSON: {exc}") from None
    members = [(f"{key}.json", text.encode("utf-8")), *images]
    if doc.tokens is not None:
        members.append((f"{key}.{TOKENS_MEMBER}", encode_tokens(doc.tokens)))
    return members


def encode_tokens(tokens: Any) -> bytes:
    """A 1-D int32 ``.npy`` of ``tokens`` (a little-endian, version-1 header: identical bytes every time)."""
    arr = np.asarray(tokens)
    if arr.ndim != 1:
        raise ValueError(f"tokens must be a 1-D sequence, got shape {arr.shape}")
    if arr.size and arr.dtype != np.int32:
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"tokens must be integers, got {arr.dtype}")
        if arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max:
            raise ValueError("tokens do not fit in int32")
    arr = np.ascontiguousarray(arr, dtype="<i4")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=(1, 0), allow_pickle=False)
    return buf.getvalue()


def _scores(scores: dict[str, float] | None) -> list[dict[str, Any]]:
    return [{"name": str(k), "value": float(v)} for k, v in (scores or {}).items()]


class _OpenShard:
    """One shard being written: its temporary tar and the rows of its two tables."""

    def __init__(self, fs, root: str, name: str, partition: str):
        self.fs, self.name, self.partition = fs, name, partition
        self.final = {kind: shard_path(root, name, kind) for kind in SHARD_FILES}
        staging = make_staging(fs, root, partition)
        self.temp = {ext: temp_name(path, staging) for ext, path in self.final.items()}
        self.file = fs.open(self.temp[SHARDS], "wb")
        self.tar = tarfile.open(fileobj=self.file, mode="w", format=TAR_FORMAT, encoding=TAR_ENCODING)
        self.docs: list[dict[str, Any]] = []
        self.images: list[dict[str, Any]] = []
        self.n_images_ok = 0
        self.tar_bytes = 0

    @property
    def offset(self) -> int:
        return self.tar.offset

    def add(self, doc: Document, members: list[_Member], layout: TokenLayout | None) -> None:
        start = self.tar.offset
        for m in members:
            self.tar.addfile(m.info, io.BytesIO(m.data))
        size = self.tar.offset - start
        ok = [im for im in doc.images if im.status == "ok"]
        n_tokens = n_text = n_image = None
        if doc.tokens is not None:
            toks = np.asarray(doc.tokens)
            n_tokens = int(toks.size)
            if layout is not None:
                n_text = int(np.count_nonzero(layout.is_text(toks)))
                n_image = int(np.count_nonzero(layout.is_image_code(toks)))
        self.docs.append({
            "id": doc.id, "url": doc.url, "shard": self.name, "partition": self.partition,
            "offset": start, "size": size,
            "source_kind": doc.source.kind, "source_uri": doc.source.uri, "fetch_time": doc.source.fetch_time,
            "language": doc.language, "title": doc.title,
            "n_segments": len(doc.segments), "n_text": sum(1 for s in doc.segments if s.kind == "text"),
            "n_images": len(doc.images), "n_images_ok": len(ok),
            "text_chars": len(doc.text), "image_bytes": sum(len(im.data) for im in ok),
            "n_tokens": n_tokens, "n_text_tokens": n_text, "n_image_tokens": n_image,
            "scores": _scores(doc.scores),
            "assessment": json.dumps(doc.assessment, sort_keys=True) if doc.assessment is not None else None,
        })
        for im in doc.images:
            self.images.append({
                "doc_id": doc.id, "shard": self.name, "index": im.index, "url": im.url, "alt": im.alt,
                "caption": im.caption, "caption_model": im.caption_model, "width": im.width,
                "height": im.height, "format": im.format, "sha256": im.sha256, "phash": im.phash,
                "member": im.member, "bytes": len(im.data) if im.status == "ok" else None,
                "status": im.status, "error": im.error, "scores": _scores(im.scores),
            })
        self.n_images_ok += len(ok)

    def finish(self) -> None:
        """Close the tar and write both tables, all under their temporary names."""
        self.tar.close()
        self.file.close()
        self.tar_bytes = self.fs.size(self.temp[SHARDS])
        write_table(self.fs, self.temp[DOCS], pa.Table.from_pylist(self.docs, schema=tables.DOCS))
        write_table(self.fs, self.temp[IMAGES], pa.Table.from_pylist(self.images, schema=tables.IMAGES))

    def commit(self) -> None:
        """Rename into place: the tar, then the image table, then the manifest (what listings look for)."""
        for kind in SHARD_FILES:
            self.fs.mv(self.temp[kind], self.final[kind])

    def discard(self) -> None:
        try:
            if not self.file.closed:
                self.file.close()
        except Exception:
            pass
        for path in self.temp.values():
            try:
                if self.fs.exists(path):
                    self.fs.rm(path)
            except Exception:
                pass



class ShardWriter:
    """Write one partition's documents as shards ``shards/{partition}-{k:05d}.tar`` (+ manifests).

    A shard rolls over at ``maxcount`` documents, or before a document that would take the tar
    past ``maxsize`` bytes (a single larger document gets a shard of its own). Nothing is
    visible under its final name until ``close()``, which commits every shard by rename and
    returns their ``ShardInfo``. As a context manager, an exception inside the block discards
    everything written instead.

    ``layout`` (a ``TokenLayout``) lets the manifest count text and image tokens separately;
    without it only ``n_tokens`` is filled. ``validate`` checks each document against the
    contract before writing it (``DocumentError`` on failure).
    """

    def __init__(self, out_dir: str, partition: str, maxcount: int = 1000, maxsize: int = 256 * MiB,
                 layout: TokenLayout | None = None, validate: bool = True):
        if maxcount < 1:
            raise ValueError(f"maxcount must be at least 1, got {maxcount}")
        if maxsize < 1:
            raise ValueError(f"maxsize must be positive, got {maxsize}")
        self.partition = check_partition(partition)
        self.fs, self.root = fs_and_path(out_dir)
        self.maxcount, self.maxsize, self.layout, self.validate = maxcount, maxsize, layout, validate
        self._current: _OpenShard | None = None
        self._done: list[_OpenShard] = []
        self._ids: set[str] = set()
        self._closed = False
        self._result: list[ShardInfo] | None = None
        for folder in SHARD_FILES:
            self.fs.makedirs(join(self.root, folder), exist_ok=True)

    def write(self, doc: Document) -> None:
        """Append one document (sets ``image.member`` on its images).

        Raises ``ValueError`` (``DocumentError`` for contract problems) before anything of the
        document is written, so a caller can turn it into a ``rejected`` row and go on.
        """
        if self._closed:
            raise RuntimeError("ShardWriter is closed")
        if doc.id in self._ids:
            raise ValueError(f"document {doc.id} written twice to partition {self.partition}")
        members = [_Member(n, d) for n, d in encode_document(doc, self.validate)]
        need = sum(m.tar_bytes() for m in members)
        cur = self._current
        if cur is not None and (len(cur.docs) >= self.maxcount or _tar_total(cur.offset + need) > self.maxsize):
            cur.finish()
            self._done.append(cur)
            self._current = cur = None
        if cur is None:
            cur = self._current = _OpenShard(self.fs, self.root,
                                             shard_name(self.partition, len(self._done)), self.partition)
        cur.add(doc, members, self.layout)
        self._ids.add(doc.id)

    def close(self) -> list[ShardInfo]:
        """Finish the last shard and commit every shard by rename; idempotent."""
        if self._result is not None:
            return self._result
        if self._closed:
            raise RuntimeError("ShardWriter was aborted")
        self._closed = True
        try:
            if self._current is not None:
                self._current.finish()
                self._done.append(self._current)
                self._current = None
            for shard in self._done:
                shard.commit()
        except BaseException:
            self.abort()
            raise
        release_staging(self.fs, self.root, self.partition)
        self._result = [ShardInfo(s.name, s.partition, len(s.docs), s.tar_bytes, s.n_images_ok,
                                  s.final[SHARDS], s.final[DOCS], s.final[IMAGES]) for s in self._done]
        return self._result

    def abort(self) -> None:
        """Drop everything not yet committed (temporary files are removed)."""
        self._closed = True
        for shard in [*self._done, *([self._current] if self._current else [])]:
            shard.discard()
        self._current = None
        release_staging(self.fs, self.root, self.partition)

    @property
    def n_docs(self) -> int:
        """Documents written so far."""
        return len(self._ids)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_rejected(out_dir: str, partition: str, rejections: list[Rejection]) -> str:
    """Write ``rejected/PARTITION.parquet`` (an empty table with the schema when there are none).

    Rows whose ``partition`` is unset get ``partition``. Written under a temporary name and
    renamed into place; returns the final path.
    """
    check_partition(partition)
    fs, root = fs_and_path(out_dir)
    folder = join(root, REJECTED)
    fs.makedirs(folder, exist_ok=True)
    rows = []
    for r in rejections:
        row = r.to_row() if isinstance(r, Rejection) else dict(r)
        if row.get("partition") is None:
            row["partition"] = partition
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=tables.REJECTED)
    final = join(folder, partition + PARQUET)
    staging = make_staging(fs, root, partition)
    temp = temp_name(final, staging)
    try:
        write_table(fs, temp, table)
        fs.mv(temp, final)
    except BaseException:
        if fs.exists(temp):
            fs.rm(temp)
        raise
    finally:
        release_staging(fs, root, partition)
    return final

