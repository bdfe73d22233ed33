"""Local Hugging Face datasets as a source: one pair document per row, image bytes included.

``path`` is either a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``
(read with ``load_from_disk``), or a dataset folder that ``datasets.load_dataset`` reads
locally (parquet files, an ``imagefolder`` with ``metadata.jsonl``, ...). Nothing is fetched
from the Hub: the path must exist on this machine. The row's image (``image_col``, an
``Image`` feature or raw bytes) and text (``text_col``) become a pair document, image first;
``url_col`` names a column with the image's URL when the dataset has one.

Partitions are fixed-size chunks of rows. A dataset without the configured columns, or a
``DatasetDict`` without the requested ``split``, is a ``ConfigError`` naming the path and what
it has; a row without an image, with bytes that do not decode, or with empty text is a
``rejected`` row naming the dataset and row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataengine.errors import ConfigError
from dataengine.sources.base import Partition, Source, partition_id
from dataengine.sources.image_bytes import MAX_PIXELS, BadImage, image_record
from dataengine.sources.paths import stand_in_url
from schemas import Document, Rejection, Segment, SourceRef, document_id

STAGE = "source:hf"
_SAVED_MARKERS = ("state.json", "dataset_dict.json")  # what save_to_disk writes


@dataclass
class HfDatasetConfig:
    """The ``hf`` source's parameters: the local dataset at ``path`` (``save_to_disk`` output or a
    folder ``datasets.load_dataset`` reads, with ``cache_dir``), its ``split``, the columns of
    image, text and (optional) URL, the rows of a partition and the largest image taken."""

    path: str
    split: str = "train"
    image_col: str = "image"
    text_col: str = "text"
    url_col: str | None = None
    rows_per_partition: int = 1000
    cache_dir: str | None = None
    max_pixels: int = MAX_PIXELS

    def __post_init__(self) -> None:
        if self.rows_per_partition < 1:
            raise ValueError("rows_per_partition must be at least 1")


class HfDatasetSource(Source):
    """Rows of a local Hugging Face dataset as pair documents, ``rows_per_partition`` rows at a time."""

    name = "hf"
    Config = HfDatasetConfig
    config: HfDatasetConfig

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        self.path = str(Path(self.config.path).expanduser().resolve())

    def _load(self):
        """The split as a ``datasets.Dataset`` with the image column left undecoded (bytes and path)."""
        import datasets

        if not os.path.isdir(self.path):
            raise ConfigError(f"hf source: {self.path} is not a folder (only local datasets are read)")
        try:
            if any(os.path.isfile(os.path.join(self.path, m)) for m in _SAVED_MARKERS):
                ds = datasets.load_from_disk(self.path)
            else:
                ds = datasets.load_dataset(self.path, cache_dir=self.config.cache_dir)
        except (OSError, ValueError, datasets.exceptions.DatasetGenerationError) as exc:
            raise ConfigError(f"hf source: cannot load {self.path}: {type(exc).__name__}: {exc}") from None
        if isinstance(ds, datasets.DatasetDict):
            if self.config.split not in ds:
                raise ConfigError(f"hf source: {self.path} has no split {self.config.split!r}; splits: {', '.join(ds)}")
            ds = ds[self.config.split]
        wanted = [c for c in (self.config.image_col, self.config.text_col, self.config.url_col) if c]
        missing = [c for c in wanted if c not in ds.column_names]
        if missing:
            raise ConfigError(f"hf source: {self.path} has no column {', '.join(map(repr, missing))}; "
                              f"columns found: {', '.join(ds.column_names)}")
        if isinstance(ds.features[self.config.image_col], datasets.Image):
            ds = ds.cast_column(self.config.image_col, datasets.Image(decode=False))
        return ds.select_columns(wanted)

    def partitions(self) -> list[Partition]:
        """Load the dataset once to check its columns and count its rows; cut the rows into chunks."""
        n_rows = len(self._load())
        base = partition_id("hf", f"{self.path}/{self.config.split}")
        n = self.config.rows_per_partition
        return [Partition(f"{base}-{k:05d}", self.path, {"start": start, "stop": min(start + n, n_rows)})
                for k, start in enumerate(range(0, n_rows, n))]

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Yield a pair document per usable row, a rejection per unusable one."""
        start, stop = partition.meta["start"], partition.meta["stop"]
        rows = self._load().select(range(start, stop))
        for i, row in zip(range(start, stop), rows):
            yield self._document(i, row)

    def _document(self, i: int, row: dict[str, Any]) -> Document | Rejection:
        where = f"{self.path} ({self.config.split}) row {i}"
        url = row.get(self.config.url_col) if self.config.url_col else None
        url = url.strip() if isinstance(url, str) and url.strip() else None
        doc_url = url or stand_in_url(self.path, f"split={self.config.split}&row={i}")
        doc_id = document_id(doc_url, f"{self.path}#{self.config.split}", i)
        try:
            data = _image_bytes(row[self.config.image_col])
        except OSError as exc:
            return Rejection(doc_id, doc_url, "document", STAGE, "image_unreadable",
                             detail=f"{where}: {type(exc).__name__}: {exc}")
        if data is None:
            return Rejection(doc_id, doc_url, "document", STAGE, "no_image", detail=where)
        text = row[self.config.text_col]
        text = "" if text is None else str(text).strip()
        if not text:
            return Rejection(doc_id, doc_url, "document", STAGE, "empty_text", detail=where)
        try:
            image = image_record(data, url, max_pixels=self.config.max_pixels)
        except BadImage as exc:
            return Rejection(doc_id, doc_url, "document", STAGE, exc.reason, detail=f"{where}: {exc.detail}")
        source = SourceRef("hf", f"{self.path}#{self.config.split}", i)
        return Document(id=doc_id, url=doc_url, source=source,
                        segments=[Segment.of_image(0), Segment.of_text(text)], images=[image])


def _image_bytes(value: Any) -> bytes | None:
    """The encoded bytes of an image cell: an undecoded ``Image`` (bytes, or a local path) or raw bytes."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        if value.get("path"):
            with open(value["path"], "rb") as f:  # imagefolder keeps local files by path
                return f.read()
    return None
