"""Tabular input files read row by row: parquet, csv, tsv, jsonl and txt (one value per line).

These are the forms img2dataset accepts for URL lists (its ``input_format``), and parquet is
also how datasets such as OBELICS are distributed. Text forms may be gzipped (``.csv.gz``).

A file is split into partitions of ``rows_per_partition`` rows; a partition reads rows
``[start, stop)`` of its file. Row numbers count data rows from 0 (a csv header is not a
row), so ``(file, row)`` names a record stably. A row that cannot be parsed (a jsonl line
that is not a JSON object, a csv line with the wrong number of fields) is yielded as a
``RowError`` in its place, for the source to turn into a rejection.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from dataengine.errors import ConfigError
from dataengine.sources.base import Partition, partition_id
from dataengine.sources.paths import open_input

FORMATS = ("parquet", "csv", "tsv", "jsonl", "txt")
_EXTENSIONS = {".parquet": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
               ".txt": "txt"}
_COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst")


@dataclass
class RowError:
    """A row that could not be parsed, and why."""

    reason: str
    detail: str


def file_format(uri: str, input_format: str | None) -> str:
    """``input_format`` if given, else the format the file's extension names (``.csv.gz`` is csv)."""
    if input_format is not None:
        if input_format not in FORMATS:
            raise ConfigError(f"input_format {input_format!r} is not one of {', '.join(FORMATS)}")
        return input_format
    name = uri.rsplit("/", 1)[-1].lower()
    for ext in _COMPRESSIONS:
        name = name.removesuffix(ext)
    for ext, fmt in _EXTENSIONS.items():
        if name.endswith(ext):
            return fmt
    raise ConfigError(f"{uri}: cannot tell the format from the file name; set input_format to one of "
                      f"{', '.join(FORMATS)}")


def _text(uri: str, storage_options: dict[str, Any] | None):
    return open_input(uri, "rt", storage_options, compression="infer", encoding="utf-8", newline="")


def columns(uri: str, fmt: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """The column names of a file: the parquet schema, the csv/tsv header, the keys of the first jsonl object."""
    if fmt == "parquet":
        with open_input(uri, "rb", storage_options) as f:
            return list(pq.ParquetFile(f).schema_arrow.names)
    if fmt == "txt":
        return ["url"]
    with _text(uri, storage_options) as f:
        if fmt == "jsonl":
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    return list(obj)
            return []
        return next(csv.reader(f, delimiter="\t" if fmt == "tsv" else ","), [])


def count_rows(uri: str, fmt: str, storage_options: dict[str, Any] | None = None) -> int:
    """How many rows the file has (parquet from its footer; text forms by reading them once)."""
    if fmt == "parquet":
        with open_input(uri, "rb", storage_options) as f:
            return pq.ParquetFile(f).metadata.num_rows
    return sum(1 for _ in _iter_text_rows(uri, fmt, storage_options))


def row_partitions(prefix: str, uri: str, n_rows: int, rows_per_partition: int,
                   meta: dict[str, Any] | None = None) -> list[Partition]:
    """Fixed-size chunks of a file's rows as partitions ``PREFIX-STEM-HASH-NNNNN`` (meta: start, stop, ...)."""
    base = partition_id(prefix, uri)
    return [Partition(f"{base}-{k:05d}", uri, {**(meta or {}), "start": start,
                                                "stop": min(start + rows_per_partition, n_rows)})
            for k, start in enumerate(range(0, n_rows, rows_per_partition))]


def iter_rows(uri: str, fmt: str, start: int, stop: int, storage_options: dict[str, Any] | None = None,
              wanted: list[str] | None = None) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """``(row number, row or RowError)`` for rows ``[start, stop)`` of the file.

    For parquet only the row groups overlapping the range are read, and only the ``wanted``
    columns (all when ``None``).
    """
    if fmt == "parquet":
        yield from _iter_parquet_rows(uri, start, stop, storage_options, wanted)
        return
    for i, row in _iter_text_rows(uri, fmt, storage_options):
        if i >= stop:
            return
        if i >= start:
            yield i, row


def _iter_parquet_rows(uri: str, start: int, stop: int, storage_options: dict[str, Any] | None,
                       wanted: list[str] | None) -> Iterator[tuple[int, dict[str, Any]]]:
    with open_input(uri, "rb", storage_options) as f:
        pf = pq.ParquetFile(f)
        first = 0
        for group in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(group).num_rows
            if first + n > start and first < stop:
                # one thread: Arrow's pool would hold references to the Python file past the read
                # (see dataengine/shards/parquet.py), and one row group at a time needs none
                rows = pf.read_row_group(group, columns=wanted, use_threads=False).to_pylist()
                for j in range(max(start - first, 0), min(stop - first, n)):
                    yield first + j, rows[j]
            first += n
            if first >= stop:
                return


def _iter_text_rows(uri: str, fmt: str, storage_options: dict[str, Any] | None
                    ) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with _text(uri, storage_options) as f:
        if fmt == "jsonl":
            yield from _jsonl_rows(f)
        elif fmt == "txt":
            for i, line in enumerate(f):
                yield i, {"url": line.strip()}
        else:
            yield from _csv_rows(f, "\t" if fmt == "tsv" else ",")


def _jsonl_rows(f: io.TextIOBase) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    i = 0
    for line in f:
        if not line.strip():
            continue  # blank lines separate nothing in jsonl; they are not rows
        try:
            obj = json.loads(line)
        except ValueError as exc:
            yield i, RowError("bad_row", f"not JSON: {exc}")
        else:
            yield i, obj if isinstance(obj, dict) else RowError("bad_row", f"a JSON {type(obj).__name__}, "
                                                                           "not an object")
        i += 1


def _csv_rows(f: io.TextIOBase, delimiter: str) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    reader = csv.reader(f, delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    i = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the size limit; the reader goes on at the next line
            yield i, RowError("bad_row", f"line {reader.line_num}: {exc}")
            i += 1
            continue
        if not fields:
            continue  # an empty line is not a row
        if len(fields) != len(header):
            yield i, RowError("bad_row", f"line {reader.line_num}: {len(fields)} fields, the header has "
                                         f"{len(header)}")
        else:
            yield i, dict(zip(header, fields))
        i += 1
