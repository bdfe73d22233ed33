"""img2dataset's output shards as a source: existing image-text pair corpora, images included.

img2dataset (``output_format: webdataset``) writes tars of samples ``KEY.jpg`` (or ``.png``,
``.webp``), ``KEY.txt`` (the caption) and ``KEY.json`` (url, caption, status, sizes, exif).
This is how teams bring a pair corpus they already downloaded: each sample becomes a pair
document (one image segment, then the caption) whose image already has its bytes (status
``ok``), so no fetch stage is needed. One partition per tar.

A sample without image bytes, with bytes that do not decode, or without a caption is a
``rejected`` row naming the tar and the key; a tar that stops parsing half-way keeps what
came before and adds a rejection for the rest.

Only regular members are read. A sample with any other member (a symlink, a hard link, a
device, a FIFO, a directory) or with a name that would lead out of the tar (``..``, an
absolute path) is an ``unsafe_member`` row naming the member: links are never followed, so
nothing outside the tar is ever read.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dataengine.shards.reader import split_member
from dataengine.sources.base import Partition, Source, partition_id
from dataengine.sources.image_bytes import MAX_PIXELS, BadImage, image_record
from dataengine.sources.paths import InputFiles, open_input, stand_in_url
from schemas import Document, Rejection, Segment, SourceRef, document_id

STAGE = "source:img2dataset"
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
_MEMBER_KINDS = {tarfile.SYMTYPE: "a symlink", tarfile.LNKTYPE: "a hard link", tarfile.CHRTYPE: "a character device",
                 tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a fifo", tarfile.DIRTYPE: "a directory"}


@dataclass
class Img2DatasetConfig(InputFiles):
    """The ``img2dataset`` source's parameters: its tars (``InputFiles``) and ``max_pixels`` (largest image taken)."""

    max_pixels: int = MAX_PIXELS


class Img2DatasetSource(Source):
    """Pairs from img2dataset webdataset shards (``*.tar``; local or remote, globs and path lists)."""

    name = "img2dataset"
    Config = Img2DatasetConfig
    config: Img2DatasetConfig

    def partitions(self) -> list[Partition]:
        """One partition per tar."""
        files = self.config.files(self.describe())
        return [Partition(partition_id("i2d", uri), uri) for uri in files]

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Yield a pair document per usable sample, a rejection per unusable one."""
        uri = partition.uri
        offset = 0
        try:
            with open_input(uri, "rb", self.config.storage_options) as f, tarfile.open(fileobj=f, mode="r|") as tar:
                key, members, unsafe, start = None, {}, [], 0
                for info in tar:
                    problem = unsafe_member(info)
                    k, ext = split_member(info.name)
                    if k is None:
                        if problem is None or info.isdir():
                            continue  # a folder entry or a file that is no sample's member: no sample here
                        k, ext = info.name, ""  # an unsafe member on its own is still a row
                    if k != key and (members or unsafe):
                        yield self._document(uri, key, members, start, unsafe)
                        members, unsafe = {}, []
                    if not (members or unsafe):
                        start = info.offset
                    key = k
                    offset = info.offset
                    if problem is not None:
                        unsafe.append(problem)
                        continue
                    member = tar.extractfile(info)
                    members[ext.lower()] = member.read() if member is not None else b""
                if members or unsafe:
                    yield self._document(uri, key, members, start, unsafe)
        except (tarfile.TarError, OSError, EOFError) as exc:
            yield Rejection(None, uri, "document", STAGE, "tar_unreadable", value=float(offset),
                            detail=f"{uri} after byte {offset}: {type(exc).__name__}: {exc}")

    def _document(self, uri: str, key: str, members: dict[str, bytes], offset: int,
                  unsafe: list[str]) -> Document | Rejection:
        where = f"{uri} sample {key}"
        meta: dict[str, Any] = {}
        if "json" in members:
            try:
                loaded = json.loads(members["json"])
                meta = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                pass  # the url and caption have other sources; a broken json alone loses nothing we need
        url = meta.get("url") if isinstance(meta.get("url"), str) and meta.get("url") else None
        doc_url = url or stand_in_url(uri, f"key={key}")
        doc_id = document_id(doc_url, uri, offset)
        if unsafe:
            return Rejection(doc_id, doc_url, "document", STAGE, "unsafe_member",
                             detail=f"{where}: {'; '.join(unsafe)}")
        data = next((members[e] for e in IMAGE_EXTENSIONS if e in members), None)
        if data is None:
            status = f" (img2dataset status {meta.get('status')}: {meta.get('error_message')})" if meta else ""
            return Rejection(doc_id, doc_url, "document", STAGE, "no_image",
                             detail=f"{where}: no {'/'.join(IMAGE_EXTENSIONS)} member{status}")
        caption = members["txt"].decode("utf-8", errors="replace") if "txt" in members else meta.get("caption")
        caption = "" if caption is None else str(caption).strip()
        if not caption:
            return Rejection(doc_id, doc_url, "document", STAGE, "empty_caption", detail=where)
        try:
            image = image_record(data, url, max_pixels=self.config.max_pixels)
        except BadImage as exc:
            return Rejection(doc_id, doc_url, "document", STAGE, exc.reason, detail=f"{where}: {exc.detail}")
        return Document(id=doc_id, url=doc_url, source=SourceRef("urls", uri, offset),
                        segments=[Segment.of_image(0), Segment.of_text(caption)], images=[image])


def unsafe_member(info: tarfile.TarInfo) -> str | None:
    """Why a tar member must not be read (not a regular file, or a name leading out of the tar), or ``None``."""
    name = info.name[:200]
    if not info.isreg():
        kind = _MEMBER_KINDS.get(info.type, f"of member type {info.type!r}")
        link = f" to {info.linkname[:200]!r}" if info.issym() or info.islnk() else ""
        return f"member {name!r} is {kind}{link}, not a regular file"
    if info.name.startswith("/") or ".." in info.name.split("/"):
        return f"member {name!r} names a path outside the tar"
    return None
