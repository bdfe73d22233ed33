"""The source contract: list the input's partitions, read one partition into documents.

A partition is the unit of work and of commit: one WARC file, one chunk of a URL list,
one slice of a site. Its ``id`` names the output shards, so it must be stable across runs
and safe as a file name (lower-case letters, digits, ``-`` and ``_``).

A source's parameters (the YAML ``source:`` keys besides ``kind``) are the fields of its
``Config`` dataclass, checked by the config loader (``dataengine.registry.Configured``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dataengine.registry import Configured
from schemas import Document, Rejection


@dataclass(frozen=True)
class Partition:
    """One unit of input work: a stable id, the input it reads, and source-specific details."""

    id: str
    uri: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def partition_id(prefix: str, uri: str) -> str:
    """A file-name-safe, stable partition id: a readable stem of ``uri`` plus a short hash."""
    stem = re.sub(r"[^a-z0-9]+", "-", uri.rsplit("/", 1)[-1].lower()).strip("-")[:40] or "part"
    digest = hashlib.sha1(uri.encode("utf-8")).hexdigest()[:8]
    return f"{prefix}-{stem}-{digest}"


class Source(Configured):
    """Base class of sources. Subclasses set ``name`` (the YAML ``source.kind``) and ``Config`` (their parameters)."""

    name: ClassVar[str] = ""
    uses_ray: ClassVar[bool] = False  # True when partitions() itself runs work on Ray

    @classmethod
    def describe(cls) -> str:
        """How messages name the source: ``warc source``."""
        return f"{cls.name} source"

    def partitions(self) -> list[Partition]:
        """All partitions of this input, in a stable order."""
        raise NotImplementedError

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Yield the partition's documents, and a ``Rejection`` for each record that cannot be one."""
        raise NotImplementedError
