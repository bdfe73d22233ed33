"""``publish``: reshard a corpus into the final, balanced shards a training run reads.

A whole-corpus phase over the manifests (balancing is not a side effect of a
partition's task). It reads every manifest, plans the final shards (``plan``), and writes
each final shard by fetching its documents from the source shards with one ranged read each
(``ShardReader.get``), so the source is never scanned and no document is decoded twice.
Each final shard is one task of ``runner.executor`` (Ray, or this process).

The output is an ordinary corpus::

    FINAL/{shards,docs,images}/NAME-KKKKK-00000.{tar,parquet,parquet}   NAME defaults to "train"
    FINAL/ledger/NAME-KKKKK.json   each final shard is its own partition, committed when written
    FINAL/rejected/*.parquet       documents left out (duplicate ids, no tokens when balancing by tokens)
    FINAL/publish.json             source, parameters, plan fingerprint, per-shard documents and tokens
    FINAL/token_layout.json, FINAL/tokenizer.json    the source's vocabulary (``tokenize.vocabulary``)
    FINAL/runs/RUN_ID.json         the run record

Manifests carry the token counts per modality (``n_tokens``, ``n_text_tokens``,
``n_image_tokens``), computed from the layout. Shard names sort in plan order, and the
trainer's loader deals shards to ranks round-robin, so with a shard count divisible by the
world size every rank gets the same number of equal shards. A rerun with the same source and
parameters skips the shards its ledger holds; a different plan into the same folder is refused.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from dataengine.publish.plan import DocRef, PlanConfig, fingerprint, plan_shards
from dataengine.runner.executor import check_executor, run_tasks
from dataengine.shards import ShardReader, ShardWriter, list_shards, write_rejected
from dataengine.shards.layout import fs_and_path, join, open_corpus
from dataengine.shards.ledger import Ledger
from dataengine.shards.run_record import RunRecord, new_run_id
from dataengine.tokenize.vocabulary import corpus_vocabulary, write_vocabulary
from schemas import Rejection, TokenLayout

STAGE = "publish"
PLAN_FILE = "publish.json"
UNLIMITED = 1 << 60  # shard boundaries come from the plan, never from the writer's limits


class PublishError(ValueError):
    """Publishing cannot start (bad source, an output folder holding something else); one line."""


@dataclass
class ShardSummary:
    """One final shard: its name, documents and tokens."""

    name: str
    n_docs: int
    n_tokens: int | None


@dataclass
class PublishResult:
    """What ``publish`` did."""

    out: str
    fingerprint: str
    shards: list[ShardSummary] = field(default_factory=list)
    written: int = 0          # final shards written by this call
    skipped: int = 0          # final shards already committed by an earlier call
    rejected: list[Rejection] = field(default_factory=list)


def read_doc_refs(corpus: str) -> tuple[list[DocRef], list[Rejection]]:
    """Every document of ``corpus`` from its manifests, and the duplicate ids left out."""
    refs: list[DocRef] = []
    seen: dict[str, str] = {}
    rejected: list[Rejection] = []
    for name in list_shards(corpus):
        rows = ShardReader.open(corpus, name).manifest().select(["id", "url", "partition", "n_tokens"]).to_pylist()
        for row in rows:
            if row["id"] in seen:
                rejected.append(Rejection(row["id"], row["url"], "document", STAGE, "duplicate_id",
                                          detail=f"also in shard {seen[row['id']]}; kept there"))
                continue
            seen[row["id"]] = name
            refs.append(DocRef(row["id"], name, row["partition"], row["n_tokens"]))
    return refs, rejected


def _tokens(docs: list[DocRef]) -> int | None:
    """Tokens of a shard's documents, None when any of them is not tokenized."""
    if any(d.n_tokens is None for d in docs):
        return None
    return sum(d.n_tokens for d in docs)


def _check_output(out: str, plan_id: str, corpus: str) -> None:
    fs, root = fs_and_path(out)
    _, source_root = fs_and_path(corpus)
    if root == source_root:
        raise PublishError(f"--out {out} is the source corpus itself; publish into a new folder")
    plan_path = join(root, PLAN_FILE)
    if fs.exists(plan_path):
        with fs.open(plan_path, "r") as f:
            previous = json.load(f).get("fingerprint")
        if previous != plan_id:
            raise PublishError(f"{out} holds another publish plan ({previous}, this one is {plan_id}); "
                               "publish into a new folder or remove it")
    elif fs.exists(join(root, "shards")) and fs.ls(join(root, "shards")):
        raise PublishError(f"{out} already has shards that no publish plan wrote; publish into a new folder")


def write_final_shard(out: str, partition: str, docs: list[DocRef], corpus: str, layout: TokenLayout | None,
                      run_id: str) -> list[Rejection]:
    """Write one final shard of ``corpus``'s documents ``docs``, then its ledger entry (one task of ``publish``).

    Returns the documents that could not be written.
    """
    rejected: list[Rejection] = []
    written = 0
    # A task opens the source shards it draws from itself (a reader caches its manifest), so
    # nothing but document references travels to it.
    readers: dict[str, ShardReader] = {}
    with ShardWriter(out, partition, maxcount=UNLIMITED, maxsize=UNLIMITED, layout=layout) as writer:
        for ref in docs:
            if ref.shard not in readers:
                readers[ref.shard] = ShardReader.open(corpus, ref.shard)
            try:
                writer.write(readers[ref.shard].get(ref.id))
                written += 1
            except (ValueError, KeyError, OSError) as exc:
                rejected.append(Rejection(ref.id, None, "document", STAGE, "unreadable_document",
                                          detail=f"source shard {ref.shard}: {exc}"[:2000], partition=partition))
    infos = writer.close()
    if rejected:
        write_rejected(out, partition, rejected)
    Ledger(out).record(partition, {"run_id": run_id, "n_docs": written, "n_rejected": len(rejected),
                                   "shards": [s.to_json() for s in infos]})
    return rejected


def publish(corpus: str, out: str, config: PlanConfig, name: str = "train", workers: int = 4,
            progress: bool = True, executor: str = "ray", address: str | None = None) -> PublishResult:
    """Reshard ``corpus`` into balanced final shards in ``out`` (see the module docstring).

    The final shards are written through ``runner.executor.run_tasks`` (``executor``,
    ``address``), at most ``workers`` at once.
    """
    check_executor(executor)
    corpus, out = corpus.rstrip("/"), out.rstrip("/")
    start = time.perf_counter()
    open_corpus(corpus)
    refs, rejected = read_doc_refs(corpus)
    vocabulary = corpus_vocabulary(corpus)
    if config.by_tokens:
        if vocabulary is None:
            raise PublishError(f"{corpus} is not tokenized (no token_layout.json, which a tokenize run writes); "
                               "balance by --docs-per-shard or tokenize it first")
        for ref in refs:
            if ref.n_tokens is None:
                rejected.append(Rejection(ref.id, None, "document", STAGE, "not_tokenized",
                                          detail=f"source shard {ref.shard} has no tokens for it"))
        refs = [r for r in refs if r.n_tokens is not None]
    if not refs:
        raise PublishError(f"{corpus} has no documents to publish")
    try:
        shards = plan_shards(refs, config)
    except ValueError as exc:
        raise PublishError(str(exc)) from None
    plan_id = fingerprint(shards, config)
    _check_output(out, plan_id, corpus)

    fs, root = fs_and_path(out)
    fs.makedirs(root, exist_ok=True)
    partitions = [f"{name}-{k:05d}" for k in range(len(shards))]
    summaries = [ShardSummary(f"{p}-00000", len(s), _tokens(s)) for p, s in zip(partitions, shards)]
    with fs.open(join(root, PLAN_FILE), "w") as f:
        json.dump({"source": corpus, "name": name, "config": asdict(config), "fingerprint": plan_id,
                   "shards": [asdict(s) for s in summaries]}, f, indent=1)
    if vocabulary is not None:
        write_vocabulary(out, vocabulary)
    if rejected:
        write_rejected(out, STAGE, rejected)

    run_id = new_run_id()
    record = RunRecord(run_id, STAGE, {"command": "publish", "source": corpus, "name": name,
                                       "fingerprint": plan_id, **asdict(config)}, out)
    done = Ledger(out).committed()
    todo = [k for k, p in enumerate(partitions) if p not in done]
    record.partitions = {"total": len(partitions), "skipped": len(partitions) - len(todo), "done": 0}
    result = PublishResult(out, plan_id, summaries, skipped=len(partitions) - len(todo), rejected=list(rejected))
    layout = vocabulary.layout if vocabulary else None

    def written(_: Any) -> None:
        record.partitions["done"] += 1  # the heartbeat shows how far a long publish is

    with record.running():
        calls = [(out, partitions[k], shards[k], corpus, layout, run_id) for k in todo]
        for rows in run_tasks(write_final_shard, calls, executor=executor, address=address, what="publish",
                              concurrency=max(1, workers), progress=progress, on_result=written,
                              counts=lambda args, rows: {"docs": len(args[2]) - len(rows)}):
            result.rejected.extend(rows)
            result.written += 1
        reasons = Counter(f"{r.level}:{r.reason}" for r in result.rejected)
        unreadable = len(result.rejected) - len(rejected)
        record.add({STAGE: {"in": len(refs) + len(rejected), "out": len(refs) - unreadable, **reasons}},
                   {STAGE: time.perf_counter() - start})
    return result
