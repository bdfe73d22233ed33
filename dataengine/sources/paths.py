"""Input files of a source: local or remote globs, and Common Crawl style path lists.

A source names its files three ways, mixed freely:

- ``paths``: files or globs, local or any fsspec URL (``s3://bucket/crawl/*.warc.gz``);
- ``path_list``: one or more list files in Common Crawl's ``warc.paths.gz`` form (one path per
  line, optionally gzipped), whose relative entries are joined to ``prefix`` (Common Crawl's
  lists are relative to ``s3://commoncrawl/`` or ``https://data.commoncrawl.org/``); without a
  ``prefix`` they are relative to the list file's own folder;
- ``storage_options``: passed to fsspec for remote URLs only (credentials, and
  ``client_kwargs: {endpoint_url: ...}`` for an S3 API other than AWS's). They travel with the
  source's parameters to the Ray workers, where environment variables of the driver may not.

Problems with what the config names (a glob matching nothing, an unreadable list) are
``ConfigError``s raised before any work starts. Files listed in a path list are not checked
one by one (Common Crawl's lists have ~90,000 entries); one that cannot be read becomes a
``rejected`` row when its partition runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from dataengine.errors import ConfigError

_GLOB_CHARS = "*?["


def is_remote(uri: str) -> bool:
    """True for a URL with a protocol other than ``file://``."""
    protocol, sep, _ = uri.partition("://")
    return bool(sep) and protocol != "file"


def fs_options(uri: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """The fsspec options to open ``uri`` with: ``storage_options`` for remote URLs, none for local files."""
    return dict(storage_options or {}) if is_remote(uri) else {}


def open_input(uri: str, mode: str = "rb", storage_options: dict[str, Any] | None = None, **kwargs: Any):
    """``fsspec.open`` of one input file with the source's storage options (a context manager)."""
    return fsspec.open(uri, mode, **fs_options(uri, storage_options), **kwargs)


def _protocol(fs: fsspec.AbstractFileSystem) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


def expand_paths(patterns: list[str] | str, storage_options: dict[str, Any] | None = None,
                 what: str = "source") -> list[str]:
    """Expand files and globs into sorted, de-duplicated URLs; a pattern matching nothing is a ``ConfigError``."""
    out: list[str] = []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        fs, path = fsspec.core.url_to_fs(pattern, **fs_options(pattern, storage_options))
        try:
            if any(c in pattern for c in _GLOB_CHARS):
                matches = [m for m, info in fs.glob(path, detail=True).items() if info.get("type") != "directory"]
            else:
                matches = [path] if fs.isfile(path) else []
        except OSError as exc:
            raise ConfigError(f"{what}: cannot list {pattern!r}: {type(exc).__name__}: {exc}") from None
        if not matches:
            raise ConfigError(f"{what}: {pattern!r} matches no file")
        protocol = _protocol(fs)
        out += [m if protocol in ("file", "local") else f"{protocol}://{m}" for m in matches]
    return sorted(set(out))


def read_path_list(list_uri: str, prefix: str | None = None, storage_options: dict[str, Any] | None = None,
                   what: str = "source") -> list[str]:
    """The entries of a ``warc.paths.gz``-style list, as URLs (relative ones joined to ``prefix``), in list order."""
    try:
        with open_input(list_uri, "rt", storage_options, compression="infer", encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise ConfigError(f"{what}: cannot read path list {list_uri!r}: {type(exc).__name__}: {exc}") from None
    if prefix is None:
        prefix = list_uri.rsplit("/", 1)[0] if "/" in list_uri else "."
    out = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        out.append(line if "://" in line or line.startswith("/") else f"{prefix.rstrip('/')}/{line}")
    if not out:
        raise ConfigError(f"{what}: path list {list_uri!r} lists no file")
    return out


def input_files(paths: list[str] | str | None, path_list: list[str] | str | None, prefix: str | None,
                storage_options: dict[str, Any] | None, what: str) -> list[str]:
    """All input files of a source: expanded ``paths`` (sorted) then the entries of each ``path_list`` (in order)."""
    if not paths and not path_list:
        raise ConfigError(f"{what}: give paths (files or globs) or path_list (a warc.paths.gz-style list)")
    files = expand_paths(paths, storage_options, what) if paths else []
    seen = set(files)
    for list_uri in [path_list] if isinstance(path_list, str) else (path_list or []):
        for uri in read_path_list(list_uri, prefix, storage_options, what):
            if uri not in seen:
                seen.add(uri)
                files.append(uri)
    return files


@dataclass
class InputFiles:
    """The parameters that name a source's files, as above; a file source's ``Config`` extends it."""

    paths: list[str] | str | None = None
    path_list: list[str] | str | None = None
    prefix: str | None = None
    storage_options: dict[str, Any] | None = None

    def files(self, what: str) -> list[str]:
        """The input files these parameters name (``input_files``); ``what`` names the source in errors."""
        return input_files(self.paths, self.path_list, self.prefix, self.storage_options, what)


def stand_in_url(uri: str, ref: str) -> str:
    """An address for a record that has none of its own (a dataset row): its input file's URL plus ``?ref``.

    The record's place goes in the query, not the fragment, because canonical URLs drop
    fragments and two rows must never share an address.
    """
    base = uri if "://" in uri else Path(uri).resolve().as_uri()
    return f"{base}?{ref}"
