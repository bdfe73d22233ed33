"""``ShardReader``: documents back out of a shard, by streaming the tar or by id with one ranged read.

Iterating streams the tar once, front to back. ``get(doc_id)`` looks the document up in the
manifest and reads exactly ``size`` bytes at ``offset`` (a ranged read on object stores), so
random access never scans the tar.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from dataengine.shards.layout import (
    DOCS,
    IMAGES,
    SHARDS,
    TAR,
    fs_and_path,
    is_remote,
    list_shards,
    shard_path,
)
from dataengine.shards.parquet import read_table
from schemas import Document, read_document
from schemas.corpus import TOKENS_MEMBER

__all__ = ["ShardReader", "decode_sample", "iter_tar_members", "split_member", "iter_corpus"]


def split_member(name: str) -> tuple[str | None, str | None]:
    """``KEY.rest`` -> ``(KEY, rest)``, splitting at the first dot of the base name (WebDataset's rule)."""
    head, _, base = name.rpartition("/")
    key, dot, rest = base.partition(".")
    if not dot or not key:
        return None, None
    return (f"{head}/{key}" if head else key), rest


def iter_tar_members(fileobj) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    """Regular members of a tar stream with their bytes, in order (``TarInfo.offset`` is the header offset)."""
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for info in tar:
            if not info.isreg():
                continue
            f = tar.extractfile(info)
            yield info, (f.read() if f is not None else b"")


def iter_samples(fileobj) -> Iterator[tuple[str, dict[str, bytes]]]:
    """``(key, {member name: bytes})`` per sample, grouping consecutive members by key."""
    key: str | None = None
    members: dict[str, bytes] = {}
    for info, data in iter_tar_members(fileobj):
        k, _ = split_member(info.name)
        if k is None:
            continue
        if k != key and members:
            yield key, members  # type: ignore[misc]
            members = {}
        key = k
        members[info.name] = data
    if members:
        yield key, members  # type: ignore[misc]


def decode_sample(key: str, members: dict[str, bytes]) -> Document:
    """A ``Document`` from a sample's members: the JSON, image bytes in ``ImageRecord.data``, tokens."""
    try:
        raw = members[f"{key}.json"]
    except KeyError:
        raise ValueError(f"sample {key} has no {key}.json member") from None
    doc = read_document(raw, key)
    for image in doc.images:
        if image.member:
            if image.member not in members:
                raise ValueError(f"sample {key}: image {image.index} names member {image.member}, which is missing")
            image.data = members[image.member]
    tokens = members.get(f"{key}.{TOKENS_MEMBER}")
    if tokens is not None:
        doc.tokens = np.load(io.BytesIO(tokens), allow_pickle=False)
    return doc


class ShardReader:
    """Read one shard. ``shard`` is the tar's path/URL (``CORPUS/shards/NAME.tar``) or that path without ``.tar``;
    its tables are the corpus's ``docs/NAME.parquet`` and ``images/NAME.parquet``."""

    def __init__(self, shard: str):
        base = shard[: -len(TAR)] if shard.endswith(TAR) else shard
        self.fs, path = fs_and_path(base)
        folder, _, self.name = path.rpartition("/")
        root = folder.rpartition("/")[0] if folder.rpartition("/")[2] == SHARDS else folder
        self.tar_path = shard_path(root, self.name, SHARDS)
        self.manifest_path = shard_path(root, self.name, DOCS)
        self.images_path = shard_path(root, self.name, IMAGES)
        self._manifest: pa.Table | None = None
        self._index: dict[str, tuple[int, int]] | None = None

    @classmethod
    def open(cls, corpus: str, name: str) -> ShardReader:
        """The reader of shard ``name`` of ``corpus``."""
        fs, root = fs_and_path(corpus)
        path = shard_path(root, name, SHARDS)
        return cls(fs.unstrip_protocol(path) if is_remote(fs) else path)

    def manifest(self) -> pa.Table:
        """The manifest (``schemas.tables.DOCS``)."""
        if self._manifest is None:
            self._manifest = read_table(self.fs, self.manifest_path)
        return self._manifest

    def images(self) -> pa.Table:
        """The image table (``schemas.tables.IMAGES``)."""
        return read_table(self.fs, self.images_path)

    def ids(self) -> list[str]:
        """Document ids in tar order."""
        return self.manifest().column("id").to_pylist()

    def __len__(self) -> int:
        return self.manifest().num_rows

    def _lookup(self, doc_id: str) -> tuple[int, int]:
        if self._index is None:
            m = self.manifest()
            self._index = {i: (o, s) for i, o, s in zip(m.column("id").to_pylist(), m.column("offset").to_pylist(),
                                                         m.column("size").to_pylist())}
        try:
            return self._index[doc_id]
        except KeyError:
            raise KeyError(f"document {doc_id} is not in shard {self.name}") from None

    def get_members(self, doc_id: str) -> dict[str, bytes]:
        """The raw members of one document (member name -> bytes), from one ranged read."""
        offset, size = self._lookup(doc_id)
        buf = self.fs.cat_file(self.tar_path, start=offset, end=offset + size)
        if len(buf) != size:
            raise ValueError(f"shard {self.name}: read {len(buf)} bytes at offset {offset}, manifest says {size}")
        members: dict[str, bytes] = {}
        for info, data in iter_tar_members(io.BytesIO(buf)):
            key, _ = split_member(info.name)
            if key != doc_id:
                raise ValueError(f"shard {self.name}: member {info.name} at offset {offset} is not part of {doc_id}")
            members[info.name] = data
        if f"{doc_id}.json" not in members:
            raise ValueError(f"shard {self.name}: no {doc_id}.json at offset {offset}")
        return members

    def get(self, doc_id: str) -> Document:
        """One document by id (image bytes and tokens filled), without scanning the tar."""
        return decode_sample(doc_id, self.get_members(doc_id))

    def samples(self) -> Iterator[tuple[str, dict[str, bytes]]]:
        """``(key, {member name: bytes})`` for every sample, streaming the tar in order."""
        with self.fs.open(self.tar_path, "rb") as f:
            yield from iter_samples(f)

    def __iter__(self) -> Iterator[Document]:
        for key, members in self.samples():
            yield decode_sample(key, members)


def iter_corpus(corpus: str) -> Iterator[Document]:
    """Every document of every committed shard of ``corpus``, shard by shard in name order."""
    for name in list_shards(corpus):
        yield from ShardReader.open(corpus, name)
