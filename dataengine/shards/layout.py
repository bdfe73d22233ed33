"""Where things are in a corpus, on a local disk or behind any fsspec URL (``s3://bucket/corpus``).

The folders, the names of shards and files, and the commit rule are the contract's
(``schemas.corpus``; the engine's modules import those names from here too): listings here
hold the shards a ledger entry commits, only.
Files being written live in their partition's staging folder (``.staging/PARTITION/``),
which no listing here looks into, and are committed by rename; the ledger entry, renamed
last, removes the folder. So clearing what an interrupted attempt left costs the same
however large the corpus is: one folder of the partition's own, and its shard names.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from dataengine.errors import CorpusError

# The contract's names, which the engine's modules import from here (partition_of and shard_name only that way).
from schemas.corpus import (  # noqa: F401
    DOCS,
    IMAGES,
    LEDGER,
    PARQUET,
    REJECTED,
    RUNS,
    SHARD_FILES,
    SHARDS,
    TAR,
    check_partition,
    committed_shards,
    join,
    partition_of,
    shard_name,
    shard_of,
    shard_path,
)

TMP_MARK = ".tmp-"
STAGING = ".staging"

# ImageRecord.format (what PIL calls it, any case) -> member extension.
_EXTENSIONS = {"jpeg": "jpg", "jpg": "jpg", "png": "png", "webp": "webp", "gif": "gif", "bmp": "bmp",
               "tiff": "tiff", "tif": "tiff", "avif": "avif", "heif": "heic", "heic": "heic",
               "ico": "ico", "mpo": "jpg", "jpeg2000": "jp2", "jp2": "jp2"}


def fs_and_path(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem of ``url`` and the path inside it (no trailing slash)."""
    fs, path = url_to_fs(url)
    return fs, path.rstrip("/") or path


@contextmanager
def storage_options(url: str, options: dict[str, Any]) -> Iterator[None]:
    """Within the block, ``options`` are the defaults of every filesystem of ``url``'s protocol.

    Through fsspec's config, so every module that opens the corpus by its URL (writer, ledger,
    run record, readers) reaches it with them; the settings before the block come back after
    it, so a process that serves several runs (a Ray worker, a notebook) keeps none of them.
    """
    if not options:
        yield
        return
    protocol = fsspec.core.split_protocol(url)[0] or "file"
    before = fsspec.config.conf.get(protocol)
    fsspec.config.conf[protocol] = {**(before or {}), **options}
    try:
        yield
    finally:
        if before is None:
            fsspec.config.conf.pop(protocol, None)
        else:
            fsspec.config.conf[protocol] = before


def staging_dir(root: str, partition: str) -> str:
    """The folder where ``partition``'s files are written before they are renamed into place."""
    return join(root, STAGING, check_partition(partition))


def make_staging(fs: fsspec.AbstractFileSystem, root: str, partition: str) -> str:
    """Create ``partition``'s staging folder and return it.

    Another partition releasing ``.staging`` (``release_staging``) can remove it between the
    two folders ``makedirs`` creates; creating again then succeeds, since the folder of a
    partition is never removed by anyone else.
    """
    staging = staging_dir(root, partition)
    for _ in range(10):
        try:
            fs.makedirs(staging, exist_ok=True)
            return staging
        except FileNotFoundError:
            continue
    fs.makedirs(staging, exist_ok=True)
    return staging


def temp_name(path: str, staging: str) -> str:
    """A temporary name for ``path`` in the folder ``staging`` (random suffix: attempts never collide)."""
    return join(staging, f"{path.rsplit('/', 1)[-1]}{TMP_MARK}{uuid.uuid4().hex[:12]}")


def release_staging(fs: fsspec.AbstractFileSystem, root: str, partition: str) -> None:
    """Remove ``partition``'s staging folder, and ``.staging`` itself, where they are empty folders.

    Only local disks have folders to remove; on object stores a prefix without objects is
    nothing. A folder still holding files (another attempt, another partition) stays.
    """
    if is_remote(fs):
        return
    for folder in (staging_dir(root, partition), join(root, STAGING)):
        try:
            fs.rmdir(folder)
        except OSError:  # not empty, or already gone
            return


def is_temp(basename: str) -> bool:
    """Whether a file name is a temporary name left beside the shards by an older version."""
    return basename.startswith(".") and TMP_MARK in basename


def image_extension(fmt: str | None, data: bytes | None = None) -> str:
    """Member extension of an image: from ``ImageRecord.format`` (``jpeg`` -> ``jpg``), else sniffed."""
    if fmt:
        key = fmt.strip().lower().lstrip(".")
        if key in _EXTENSIONS:
            return _EXTENSIONS[key]
        if re.fullmatch(r"[a-z0-9]{1,8}", key):
            return key
    sniffed = sniff_image_format(data or b"")
    if sniffed:
        return _EXTENSIONS[sniffed]
    raise ValueError(f"cannot tell the file type of an image with format {fmt!r}")


def sniff_image_format(data: bytes) -> str | None:
    """The image format from magic bytes (``jpeg``, ``png``, ``gif``, ``webp``, ``bmp``, ``tiff``), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def _basenames(fs: fsspec.AbstractFileSystem, folder: str) -> list[tuple[str, dict]]:
    try:
        entries = fs.ls(folder, detail=True)
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for entry in entries:
        if entry.get("type") == "directory":
            continue
        base = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        out.append((base, entry))
    return sorted(out, key=lambda item: item[0])


def open_corpus(corpus: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and root path of an existing corpus; ``CorpusError`` when it is missing."""
    try:
        fs, root = fs_and_path(corpus)
        exists = fs.isdir(root)
    except Exception as exc:  # bad URL, unknown protocol, no credentials ...
        raise CorpusError(f"cannot open corpus {corpus}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if not exists:
        raise CorpusError(f"corpus not found: {corpus}")
    return fs, root


def list_shards(corpus: str) -> list[str]:
    """Names of the committed shards of a corpus (with a manifest, and listed by the ledger), sorted."""
    fs, root = open_corpus(corpus)
    committed = committed_shards(fs, root)
    names = [base[: -len(PARQUET)] for base, _ in _basenames(fs, join(root, DOCS))
             if base.endswith(PARQUET) and not is_temp(base)]
    return names if committed is None else [n for n in names if n in committed]


def shard_urls(corpus: str, names: list[str] | None = None) -> list[str]:
    """Full paths/URLs of the shard tars (for ``webdataset``, ``ray.data``, ``datasets``...)."""
    fs, root = open_corpus(corpus)
    names = list_shards(corpus) if names is None else names
    paths = [shard_path(root, n, SHARDS) for n in names]
    return [fs.unstrip_protocol(p) for p in paths] if is_remote(fs) else paths


def is_remote(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether ``fs`` is anything but the local disk (paths there are handed out as URLs)."""
    return not isinstance(fs, LocalFileSystem)


def corpus_files(corpus: str, committed_only: bool = True) -> dict[str, list[tuple[str, dict]]]:
    """The files of a corpus by kind: ``tars``, ``manifests``, ``images``, ``rejected``, ``ledger``,
    ``runs`` and ``temp`` (left-over temporary names); each a sorted list of ``(full path, fsspec info)``.

    Shard files that no ledger entry commits are left out unless ``committed_only`` is false
    (``validate`` looks at everything). Rejected rows are all listed: some phases write rows
    that belong to no partition (publish's duplicate ids), and a rerun of a partition
    replaces its own file.
    """
    fs, root = open_corpus(corpus)
    committed = committed_shards(fs, root) if committed_only else None
    out: dict[str, list[tuple[str, dict]]] = {k: [] for k in
                                              ("tars", "manifests", "images", "rejected", "ledger", "runs", "temp")}
    for folder, suffix, kind in ((SHARDS, TAR, "tars"), (DOCS, PARQUET, "manifests"), (IMAGES, PARQUET, "images"),
                                 (REJECTED, PARQUET, "rejected"), (LEDGER, ".json", "ledger"),
                                 (RUNS, ".json", "runs")):
        for base, info in _basenames(fs, join(root, folder)):
            path = join(root, folder, base)
            if is_temp(base):
                out["temp"].append((path, info))
            elif base.endswith(suffix) and (committed is None or folder not in SHARD_FILES
                                            or shard_of(base) in committed):
                out[kind].append((path, info))
    return out
