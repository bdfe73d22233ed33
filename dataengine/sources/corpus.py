"""An existing corpus as a source: its committed shards, grouped by the partition that wrote them.

This is how later stages run over a corpus that is already written (caption, tokenize after
the tokenizers were trained on it, or after the corpus-wide dedup phase): the documents come
back exactly as they were committed, image bytes, scores, provenance and tokens included.
A partition keeps its id, so the output shards have the names of the input ones.
A sample that cannot be decoded is a ``rejected`` row naming the shard and the problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dataengine.shards import ShardReader, decode_sample, list_shards
from dataengine.shards.layout import CorpusError, partition_of
from dataengine.sources.base import Partition, Source
from schemas import Document, Rejection

STAGE = "source:corpus"


@dataclass
class CorpusConfig:
    """The ``corpus`` source's parameter: the ``path`` of the corpus (local or any fsspec URL)."""

    path: str


class CorpusSource(Source):
    """The documents of the corpus at ``path`` (local or any fsspec URL), partition by partition."""

    name = "corpus"
    Config = CorpusConfig
    config: CorpusConfig

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        self.path = self.config.path.rstrip("/")

    def partitions(self) -> list[Partition]:
        """The corpus's partitions with their committed shards, in name order; ``ValueError`` when there are none."""
        try:
            names = list_shards(self.path)
        except CorpusError as exc:
            raise ValueError(f"corpus source: {exc}") from None
        if not names:
            raise ValueError(f"corpus source: {self.path} has no committed shards")
        shards: dict[str, list[str]] = {}
        for name in names:
            shards.setdefault(partition_of(name), []).append(name)
        return [Partition(p, self.path, {"shards": s}) for p, s in shards.items()]

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Decode every sample of the partition's shards."""
        for shard in partition.meta["shards"]:
            for key, members in ShardReader.open(self.path, shard).samples():
                try:
                    yield decode_sample(key, members)
                except (ValueError, KeyError, TypeError) as exc:
                    yield Rejection(key, None, "document", STAGE, "undecodable_sample",
                                    detail=f"shard {shard}: {exc}"[:2000])
