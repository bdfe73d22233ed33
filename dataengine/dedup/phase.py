"""``run_dedup``: the whole phase, from a corpus to a deduplicated corpus with every removal recorded.

1. Signatures: one task per shard (``signatures.shard_signatures``) into a work folder.
2. Decisions: DuckDB over the manifests and signatures (``decide.decide``), one table.
3. Rewrite: one task per partition that lost anything (``rewrite.rewrite_partition``);
   partitions that lost nothing are left alone (in place) or copied (``--out``).
4. Commit (``commit``) and a run record ``runs/RUN_ID.json`` with pipeline ``dedup``,
   whose counts feed the funnel like any pipeline run's.

Tasks go through ``runner.executor.run_tasks``: on Ray (``executor="ray"``: the cluster at
``address``, or a local Ray) or in this process (``executor="local"``); the result is the same.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from dataengine.dedup.commit import WORK_DIR, commit_staged, copy_untouched, mark_ready, recover, staging_root
from dataengine.dedup.config import DedupConfig
from dataengine.dedup.decide import decide
from dataengine.dedup.rewrite import rewrite_partition
from dataengine.dedup.signatures import shard_signatures
from dataengine.runner.executor import check_executor, run_tasks
from dataengine.shards.layout import CorpusError, fs_and_path, join, list_shards, open_corpus, partition_of, shard_urls
from dataengine.shards.run_record import RunRecord, new_run_id


@dataclass
class DedupResult:
    """What one dedup run did."""

    run_id: str
    output: str
    documents_in: int
    documents_out: int
    partitions_rewritten: int
    removed: Counter = field(default_factory=Counter)  # (level, reason) -> n
    seconds: dict[str, float] = field(default_factory=dict)


def _check_out(corpus: str, out: str) -> None:
    sfs, sroot = fs_and_path(corpus)
    dfs, droot = fs_and_path(out)
    if type(sfs) is type(dfs) and sroot == droot:
        raise CorpusError(f"--out {out} is the corpus itself; leave --out away to deduplicate in place")
    if dfs.exists(droot) and dfs.ls(droot, detail=False):
        raise CorpusError(f"--out {out} exists and is not empty; choose a new folder")


def run_dedup(corpus: str, config: DedupConfig, out: str | None = None, executor: str = "ray",
              address: str | None = None) -> DedupResult:
    """Deduplicate ``corpus`` in place, or into a new corpus at ``out``; return what was removed."""
    check_executor(executor)
    corpus = corpus.rstrip("/")
    open_corpus(corpus)
    if out is not None:
        out = out.rstrip("/")
        _check_out(corpus, out)
    else:
        recover(corpus)
    target = out or corpus
    tfs, troot = fs_and_path(target)
    work = join(troot, WORK_DIR, "work")
    if tfs.exists(work):
        tfs.rm(work, recursive=True)
    tfs.makedirs(work, exist_ok=True)
    work_url = tfs.unstrip_protocol(work) if "://" in target else work
    record = RunRecord(new_run_id(), "dedup", {"corpus": corpus, "out": out, "dedup": config.to_json()}, target)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    with record.running():
        n_docs, results, n_partitions, partitions = _run(corpus, config, out, target, work_url, executor, address,
                                                          record.run_id, seconds)
        tfs.rm(join(troot, WORK_DIR), recursive=True)
        removed = Counter()
        for r in results:
            for key, n in r["removed"].items():
                level, _, reason = key.partition(":")
                removed[(level, reason)] += n
        dropped_docs = sum(n for (level, _), n in removed.items() if level == "document")
        seconds["total"] = time.perf_counter() - start
        counts = {"in": n_docs, "out": n_docs - dropped_docs, **{f"{lv}:{rs}": n for (lv, rs), n in removed.items()}}
        record.add({"dedup": counts}, seconds)
        record.partitions = {"total": n_partitions, "skipped": n_partitions - len(partitions),
                             "done": len(partitions)}
    return DedupResult(record.run_id, target, n_docs, n_docs - dropped_docs, len(partitions), removed, seconds)


def _run(corpus: str, config: DedupConfig, out: str | None, target: str, work_url: str, executor: str,
         address: str | None, run_id: str, seconds: dict[str, float]) -> tuple[int, list[dict], int, list[str]]:
    start = time.perf_counter()
    tfs, _ = fs_and_path(target)
    names = list_shards(corpus)
    run_tasks(shard_signatures, [(url, work_url, config) for url in shard_urls(corpus, names)],
              executor=executor, address=address, what="dedup signatures",
              counts=lambda _, rows: {"docs": rows["docs"], "images": rows["images"]})
    seconds["signatures"] = time.perf_counter() - start

    t = time.perf_counter()
    if names:  # one step on this machine over every shard's signatures: say what is going on
        print(f"dedup: matching the signatures of {len(names)} shards", file=sys.stderr, flush=True)
    decisions, n_docs = decide(corpus, work_url, config) if names else (None, 0)
    seconds["decide"] = time.perf_counter() - t

    t = time.perf_counter()
    by_partition: dict[str, list[dict]] = defaultdict(list)
    for row in decisions.to_pylist() if decisions is not None else []:
        by_partition[row["partition"]].append(row)
    shards_of: dict[str, list[str]] = defaultdict(list)
    for name in names:
        shards_of[partition_of(name)].append(name)
    partitions = sorted(by_partition)
    stage_of = (lambda p: join(staging_root(corpus), p)) if out is None else (lambda p: target)
    calls = [(corpus, p, shards_of[p], by_partition[p], _url(tfs, stage_of(p), target), work_url, config, run_id)
             for p in partitions]
    results = run_tasks(rewrite_partition, calls, executor=executor, address=address, what="dedup rewrite",
                        counts=lambda _, done: {"docs": done["docs_in"]})
    if out is None:
        if partitions:
            mark_ready(corpus, run_id, partitions)
            commit_staged(corpus)
    else:
        copy_untouched(corpus, out, set(partitions))
    seconds["rewrite"] = time.perf_counter() - t
    return n_docs, results, len(shards_of), partitions


def _url(fs, path: str, target: str) -> str:
    return fs.unstrip_protocol(path) if "://" in target else path
