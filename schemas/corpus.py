"""The corpus on disk: folder, file and member names, and which shards are committed. Defined once.

::

    CORPUS/
      README.md                     the dataset card (``schemas.dataset_card``): what ``datasets.load_dataset`` reads
      shards/NAME.tar               WebDataset tar, NAME = f"{partition}-{k:05d}" (``shard_name``)
      docs/NAME.parquet             manifest of NAME.tar (schemas.tables.DOCS), one row per document, tar order
      images/NAME.parquet           schemas.tables.IMAGES, one row per image slot of NAME.tar
      rejected/PARTITION.parquet    schemas.tables.REJECTED
      ledger/PARTITION.json         the commit record of a partition: its shards, counts, run
      runs/RUN_ID.json              the record of a run
      token_layout.json             the token layout of a tokenized corpus (``read_token_layout``)
      tokenizer.json                the tokenizers it was tokenized with (text spec, VQ checkpoint)

Each folder holds one kind of file, so a folder read or a glob by a stock reader
(``ray.data.read_webdataset("CORPUS/shards")``, ``pyarrow.dataset("CORPUS/docs")``, DuckDB's
``read_parquet('CORPUS/images/*.parquet')``) gets that kind only. The three files of a shard
share its name (``shard_path``).

A sample of ``NAME.tar`` is ``KEY.json`` (``schemas.document``), ``KEY.N.EXT`` (image bytes) and,
once tokenized, ``KEY.tokens.npy``; a trainer run folder keeps its own ``token_layout.json`` and
``tokenizer.json`` under the same names.

A partition's files are renamed into place one by one and its ledger entry comes last, so a
crash in between leaves shards that no ledger entry lists. Those are not part of the corpus:
every reader (engine and trainer) asks ``committed_shards`` which shards are. A folder of
shards without any ledger entry (written by ``ShardWriter`` alone, or by another tool) has no
commit record, and all its shards count; so do those of a run that died before committing
its first partition, until its rerun replaces them.
"""

from __future__ import annotations

import json
import re

import fsspec

from schemas.token_layout import TokenLayout

SHARDS, DOCS, IMAGES, REJECTED, LEDGER, RUNS = "shards", "docs", "images", "rejected", "ledger", "runs"
TAR, PARQUET = ".tar", ".parquet"
# The three files of a shard: the folder each lives in -> its suffix. The manifest (DOCS) is renamed into
# place last and is what listings look for.
SHARD_FILES = {SHARDS: TAR, IMAGES: PARQUET, DOCS: PARQUET}
LAYOUT_FILE, TOKENIZER_FILE = "token_layout.json", "tokenizer.json"
JSON_MEMBER, TOKENS_MEMBER = "json", "tokens.npy"  # KEY.json, KEY.tokens.npy

_PARTITION_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SHARD_RE = re.compile(r"^(?P<partition>[a-z0-9][a-z0-9_-]*)-(?P<k>\d{5,})$")


def join(base: str, *parts: str) -> str:
    """Join path parts with ``/`` (fsspec paths and URLs alike)."""
    return "/".join([base.rstrip("/"), *parts])


def check_partition(partition: str) -> str:
    """Return ``partition`` if it is safe as a file name (lower-case letters, digits, ``-``, ``_``)."""
    if not isinstance(partition, str) or not _PARTITION_RE.match(partition):
        raise ValueError(f"partition id {partition!r} must be lower-case letters, digits, '-' and '_'")
    return partition


def shard_name(partition: str, k: int) -> str:
    """``f"{partition}-{k:05d}"``: the name of a partition's ``k``-th shard."""
    return f"{check_partition(partition)}-{k:05d}"


def partition_of(name: str) -> str:
    """The partition a shard name belongs to (``web-abc-00003`` -> ``web-abc``)."""
    match = _SHARD_RE.match(name)
    if not match:
        raise ValueError(f"{name!r} is not a shard name (PARTITION-NNNNN)")
    return match.group("partition")


def shard_path(root: str, name: str, kind: str) -> str:
    """The path of shard ``name``'s file of ``kind`` (``SHARDS``: the tar, ``DOCS``: manifest, ``IMAGES``)."""
    return join(root, kind, name + SHARD_FILES[kind])


def shard_of(basename: str) -> str | None:
    """The shard a file of ``shards/``, ``docs/`` or ``images/`` is of (``NAME.parquet`` -> ``NAME``), else None."""
    for suffix in (TAR, PARQUET):
        if basename.endswith(suffix):
            return basename[: -len(suffix)]
    return None


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else "."


def corpus_root(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """The corpus folder of ``path``: the corpus itself, its ``shards/`` folder, or one ``.tar`` in either.

    A folder named ``shards`` is a corpus's shard folder unless it has a ``shards/`` of its own.
    """
    path = path.rstrip("/") or "/"
    if path.endswith(TAR):
        path = _parent(path)
    if path.rsplit("/", 1)[-1] == SHARDS and not fs.isdir(join(path, SHARDS)):
        path = _parent(path)
    return path


def read_token_layout(fs: fsspec.AbstractFileSystem, root: str) -> TokenLayout | None:
    """The ``token_layout.json`` of the corpus at ``root``; None when it has none (it is not tokenized)."""
    path = join(root, LAYOUT_FILE)
    if not fs.exists(path):
        return None
    with fs.open(path, "r") as f:
        return TokenLayout.from_json(f.read())


def _json_names(fs: fsspec.AbstractFileSystem, folder: str) -> list[str]:
    try:
        return sorted(p for p in fs.ls(folder, detail=False) if p.endswith(".json")
                      and not p.rsplit("/", 1)[-1].startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []


def committed_shards(fs: fsspec.AbstractFileSystem, root: str) -> set[str] | None:
    """Names of the shards that the ledger entries of the corpus at ``root`` list.

    ``None`` for a folder of shards without ledger entries, where every shard counts. An
    unreadable ledger entry commits nothing (``validate`` reports it).
    """
    entries = _json_names(fs, f"{root.rstrip('/')}/{LEDGER}")
    if not entries:
        return None
    names: set[str] = set()
    bodies = fs.cat(entries, on_error="omit")  # concurrent on object stores
    for body in bodies.values():
        try:
            entry = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            continue
        shards = entry.get("shards") if isinstance(entry, dict) else None
        names.update(s["name"] for s in shards or [] if isinstance(s, dict) and isinstance(s.get("name"), str))
    return names
