"""The publish plan: which document goes into which final shard, from the manifests alone.

Shards are balanced for training: a shard count divisible by the world size (every rank reads
the same number of shards), and either the same number of documents per shard (counts differ
by at most one) or the same number of tokens per shard (totals differ by at most the largest
document). Documents are mixed across partitions by a shuffle drawn from the seed:

- by documents: shuffle, then cut into ``n`` runs whose lengths differ by at most one;
- by tokens: shuffle, then give each document to the shard with the fewest tokens so far.
  At every step the shard that grows was the lightest, so the spread between the heaviest
  and the lightest shard never exceeds the largest document.

The plan is a pure function of the documents (id, tokens), the parameters and the seed;
``fingerprint`` names it, so a rerun of ``publish`` can tell its own plan from another.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class DocRef:
    """One document of the source corpus: where it is and how many tokens it has (None: not tokenized)."""

    id: str
    shard: str
    partition: str
    n_tokens: int | None


@dataclass(frozen=True)
class PlanConfig:
    """How to balance: ``world_size`` and exactly one of ``docs_per_shard`` / ``tokens_per_shard``."""

    world_size: int
    docs_per_shard: int | None = None
    tokens_per_shard: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.world_size < 1:
            raise ValueError(f"--world-size must be at least 1, got {self.world_size}")
        if (self.docs_per_shard is None) == (self.tokens_per_shard is None):
            raise ValueError("give exactly one of --docs-per-shard and --tokens-per-shard")
        per = self.docs_per_shard if self.docs_per_shard is not None else self.tokens_per_shard
        if per < 1:
            raise ValueError(f"shards must hold at least one document or token, got {per}")

    @property
    def by_tokens(self) -> bool:
        """Whether shards are balanced by tokens (else by documents)."""
        return self.tokens_per_shard is not None


def shard_count(total: int, per_shard: int, n_docs: int, world_size: int) -> int:
    """Shards for ``total`` units at about ``per_shard`` each: a multiple of ``world_size``, none empty."""
    if n_docs < world_size:
        raise ValueError(f"{n_docs} documents cannot fill one shard per rank for world size {world_size}")
    wanted = max(1, math.ceil(total / per_shard))
    n = math.ceil(wanted / world_size) * world_size
    return min(n, n_docs // world_size * world_size)


def plan_shards(docs: list[DocRef], config: PlanConfig) -> list[list[DocRef]]:
    """The documents of each final shard, in the order they will be written."""
    rng = np.random.default_rng(config.seed)
    order = [docs[i] for i in rng.permutation(len(docs))]
    if not config.by_tokens:
        n = shard_count(len(docs), config.docs_per_shard, len(docs), config.world_size)
        q, r = divmod(len(order), n)
        bounds = np.cumsum([0] + [q + 1] * r + [q] * (n - r))
        return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    missing = [d.id for d in docs if d.n_tokens is None]
    if missing:
        raise ValueError(f"{len(missing)} documents have no token count (first: {missing[0]}); "
                         "balance by --docs-per-shard or tokenize the corpus first")
    n = shard_count(sum(d.n_tokens for d in docs), config.tokens_per_shard, len(docs), config.world_size)
    shards: list[list[DocRef]] = [[] for _ in range(n)]
    heap = [(0, k) for k in range(n)]  # (tokens so far, shard); ties go to the lower shard number
    for doc in order:
        tokens, k = heapq.heappop(heap)
        shards[k].append(doc)
        heapq.heappush(heap, (tokens + doc.n_tokens, k))
    return shards


def fingerprint(shards: list[list[DocRef]], config: PlanConfig) -> str:
    """A short hash of the plan: parameters and each shard's document ids, in order."""
    body = json.dumps({"config": asdict(config), "shards": [[d.id for d in s] for s in shards]})
    return hashlib.sha256(body.encode()).hexdigest()[:16]
