"""The training data loader: shards to packed batches, split over ranks and workers, resumable exactly.

Every (rank, worker role) pair is a *slot*. A corpus's shards are dealt to slots
(``shards[slot::n_slots]``), or, when there are fewer shards than slots, every slot reads
every shard and keeps the samples whose index falls to it. Each slot streams its part of
each corpus forever: epoch after epoch, shards in an order drawn from ``(seed, corpus,
epoch)``, samples through a shuffle buffer drawn from ``(seed, corpus, epoch, shard)``. A
mixture picks the corpus of each next document from ``(seed, slot, document number)`` by
weight. Since streams never end, every rank yields exactly one batch per step.

The state of a slot is its position in each corpus stream (epoch, shard, samples taken
from it), the number of documents drawn, the documents tokenized but not yet packed
(samples are tokenized ``tokenize_batch`` at a time, so their images share one VQ batch)
and the packer's queue. A worker attaches its state to each batch it yields; the main
process keeps the state of the last consumed batch of each role, and on resume rotates
roles so that the next batch comes from the role that was next in line. Resumed runs
therefore see exactly the batches the uninterrupted run saw.

Bad samples are logged, counted and skipped; a corpus of which a whole pass holds no
usable sample (tokens in another layout, say) is a ``CorpusError``, not an endless loop.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from trainer.data.packing import Packer
from trainer.data.shards import CorpusError, is_pair_loser, read_samples
from trainer.data.tokenize import BadSample, DocumentTokenizer

log = logging.getLogger(__name__)


def shuffled(samples: Iterator[dict], buffer: int, rng: np.random.Generator) -> Iterator[dict]:
    """Buffered shuffle: a deterministic function of the input order and the generator."""
    pool: list[dict] = []
    for sample in samples:
        if len(pool) < buffer:
            pool.append(sample)
            continue
        j = int(rng.integers(len(pool)))
        pool[j], sample = sample, pool[j]
        yield sample
    for j in rng.permutation(len(pool)):
        yield pool[j]


class CorpusStream:
    """One slot's endless, resumable stream of raw samples from one corpus."""

    def __init__(self, shards: list[str], corpus_index: int, slot: int, n_slots: int, seed: int,
                 shuffle_buffer: int, state: dict[str, int] | None = None):
        if not shards:
            raise CorpusError(f"corpus {corpus_index} of the mixture has no shards")
        self.corpus_index, self.seed, self.buffer = corpus_index, seed, shuffle_buffer
        if len(shards) >= n_slots:
            self.shards, self.keep = shards[slot::n_slots], None
        else:
            self.shards, self.keep = list(shards), (slot, n_slots)
        self.state = dict(state) if state else {"epoch": 0, "shard": 0, "taken": 0}
        self.epoch_size: int | None = None  # samples in one pass, once a whole pass has been read

    def _shard_samples(self, url: str) -> Iterator[dict]:
        for i, sample in enumerate(read_samples(url)):
            if (self.keep is None or i % self.keep[1] == self.keep[0]) and not is_pair_loser(sample):
                yield sample

    def __iter__(self) -> Iterator[tuple[dict, int]]:
        """``(sample, epoch)`` pairs; ``self.state`` is always the position after the last one yielded."""
        while True:
            epoch = self.state["epoch"]
            fresh = self.state["shard"] == 0 and self.state["taken"] == 0
            order = np.random.default_rng([self.seed, self.corpus_index, epoch]).permutation(len(self.shards))
            yielded = 0
            while self.state["shard"] < len(order):
                shard = int(order[self.state["shard"]])
                rng = np.random.default_rng([self.seed, self.corpus_index, epoch, shard])
                skip = self.state["taken"]
                for i, sample in enumerate(shuffled(self._shard_samples(self.shards[shard]), self.buffer, rng)):
                    if i < skip:
                        continue
                    self.state["taken"] = i + 1
                    yielded += 1
                    yield sample, epoch
                self.state = {"epoch": epoch, "shard": self.state["shard"] + 1, "taken": 0}
            if yielded == 0 and fresh:
                raise CorpusError(f"corpus {self.corpus_index}: shards {self.shards} hold no samples for this "
                                  "loader slot")
            if fresh:
                self.epoch_size = yielded
            self.state = {"epoch": epoch + 1, "shard": 0, "taken": 0}


@dataclass
class LoaderSpec:
    """Everything a worker needs to produce batches (picklable, sent to worker processes)."""

    corpora: list[list[str]]        # shard URLs per corpus
    weights: list[float]
    tokenizer: DocumentTokenizer
    seq_len: int
    batch_size: int
    seed: int = 0
    shuffle_buffer: int = 64
    min_piece: int = 16
    pack_lookahead: int = 8
    tokenize_batch: int = 16
    rank: int = 0
    world_size: int = 1
    num_workers: int = 0


class SlotProducer:
    """Produces the batches of one slot from its corpus streams, packer and document counter."""

    def __init__(self, spec: LoaderSpec, role: int, state: dict[str, Any] | None):
        self.spec = spec
        roles = max(1, spec.num_workers)
        self.slot = spec.rank * roles + role
        n_slots = spec.world_size * roles
        state = copy.deepcopy(state) or {}
        streams = state.get("streams") or [None] * len(spec.corpora)
        self.streams = [CorpusStream(shards, i, self.slot, n_slots, spec.seed, spec.shuffle_buffer, streams[i])
                        for i, shards in enumerate(spec.corpora)]
        self.iters = [iter(s) for s in self.streams]
        self.drawn = state.get("drawn", 0)
        self.ready = list(state.get("ready") or [])  # tokenized documents not yet handed to the packer
        self.stats = state.get("stats") or {"documents": 0, "bad_samples": 0}
        # Bad samples in a row per corpus: a whole pass of them means the corpus is unusable, not unlucky.
        self.bad_streak = list(state.get("bad_streak") or [0] * len(spec.corpora))
        self.packer = Packer(spec.tokenizer.layout, spec.seq_len + 1, spec.min_piece, spec.pack_lookahead,
                             pending=list(state.get("pending") or []),
                             stats=state.get("packer_stats") or {"images_too_long": 0, "documents_split": 0})
        weights = np.asarray(spec.weights, dtype=np.float64)
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"mixture weights must be non-negative with a positive sum, got {spec.weights}")
        self.cum = np.cumsum(weights / weights.sum())

    def next_document(self) -> np.ndarray:
        """The next tokenized document of the mixture; bad samples are logged, counted and skipped."""
        while not self.ready:
            self._tokenize_next()
        return self.ready.pop(0)

    def _tokenize_next(self) -> None:
        # Several samples at once, so their images share one VQ batch.
        drawn, sources = [], []
        for _ in range(max(1, self.spec.tokenize_batch)):
            corpus = 0
            if len(self.iters) > 1:
                u = np.random.default_rng([self.spec.seed, self.slot, self.drawn]).random()
                corpus = min(int(np.searchsorted(self.cum, u, side="right")), len(self.iters) - 1)
            self.drawn += 1
            drawn.append(next(self.iters[corpus]))
            sources.append(corpus)
        for corpus, tokens in zip(sources, self.spec.tokenizer.many(drawn)):
            if isinstance(tokens, BadSample):
                self._count_bad(corpus, tokens)
                continue
            self.bad_streak[corpus] = 0
            self.stats["documents"] += 1
            self.ready.append(tokens)

    def _count_bad(self, corpus: int, error: BadSample) -> None:
        self.stats["bad_samples"] += 1
        self.bad_streak[corpus] += 1
        log.warning("skipping sample: %s", error)
        size = self.streams[corpus].epoch_size
        if size is not None and self.bad_streak[corpus] >= size:
            # Otherwise the loader would read the corpus forever and never fill a batch.
            raise CorpusError(f"corpus {corpus} of the mixture ({self.streams[corpus].shards[0]} ...): none of "
                              f"the {size} samples of a whole pass could be tokenized; the last: {error}")

    def next_batch(self) -> dict[str, torch.Tensor]:
        """``tokens``, ``segments`` and ``positions``, each int64 (batch, seq_len + 1)."""
        rows = [self.packer.next_sequence(self.next_document) for _ in range(self.spec.batch_size)]
        return {name: torch.from_numpy(np.stack([getattr(r, name) for r in rows]))
                for name in ("tokens", "segments", "positions")}

    def state(self) -> dict[str, Any]:
        """Position after the last batch: streams, documents drawn, documents not yet packed, packer queue, counters."""
        return {"streams": [dict(s.state) for s in self.streams], "drawn": self.drawn,
                "ready": [t.copy() for t in self.ready], "pending": [p.copy() for p in self.packer.pending],
                "stats": dict(self.stats), "packer_stats": dict(self.packer.stats),
                "bad_streak": list(self.bad_streak)}


class PackedShardDataset(IterableDataset):
    """Yields ``(batch, role, state)``; worker ``w`` plays role ``(w + role_offset) % num_workers``."""

    def __init__(self, spec: LoaderSpec, role_states: dict[int, dict], role_offset: int):
        self.spec, self.role_states, self.role_offset = spec, role_states, role_offset

    def __iter__(self) -> Iterator[tuple[dict[str, torch.Tensor], int, dict]]:
        info = get_worker_info()
        roles = max(1, self.spec.num_workers)
        if info is not None:
            torch.set_num_threads(1)  # workers tokenize; the trainer's threads belong to the model
        role = ((info.id if info else 0) + self.role_offset) % roles
        producer = SlotProducer(self.spec, role, self.role_states.get(role))
        while True:
            batch = producer.next_batch()
            yield batch, role, producer.state()


def _as_is(item: Any) -> Any:
    # Batches are tensors already; the state's numpy arrays must stay numpy.
    return item


class ShardLoader:
    """Endless iterator of packed batches for one rank, with ``state_dict``/``load_state_dict``."""

    def __init__(self, spec: LoaderSpec):
        self.spec = spec
        self.consumed = 0
        self.role_states: dict[int, dict] = {}

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        roles = max(1, self.spec.num_workers)
        dataset = PackedShardDataset(self.spec, self.role_states, self.consumed % roles)
        loader = DataLoader(dataset, batch_size=None, collate_fn=_as_is, num_workers=self.spec.num_workers,
                            prefetch_factor=4 if self.spec.num_workers else None,
                            persistent_workers=False)
        for batch, role, state in loader:
            self.role_states[role] = state
            self.consumed += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """Where this rank's stream stands: batches consumed and each role's state."""
        return {"consumed": self.consumed, "num_workers": self.spec.num_workers, "rank": self.spec.rank,
                "world_size": self.spec.world_size, "roles": copy.deepcopy(self.role_states)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()`` output; the worker and rank layout must be the same."""
        for key in ("num_workers", "rank", "world_size"):
            if state[key] != getattr(self.spec, key):
                raise ValueError(f"cannot resume the loader: checkpoint has {key}={state[key]}, "
                                 f"this run has {getattr(self.spec, key)}")
        self.consumed = state["consumed"]
        self.role_states = copy.deepcopy(state["roles"])

    def stats(self) -> dict[str, int]:
        """Documents, bad samples, split documents and oversized images over all roles so far."""
        total: dict[str, int] = {}
        for state in self.role_states.values():
            for group in ("stats", "packer_stats"):
                for k, v in state[group].items():
                    total[k] = total.get(k, 0) + v
        return total
