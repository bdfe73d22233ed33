"""The executor of whole-corpus phases: dedup, publish and opt-out run on a local Ray through it.

Each phase runs twice on two identical corpora, once in this process and once on Ray; the
outputs are the same bytes, and Ray's timeline holds the phase's tasks (so the Ray run did
not quietly run here).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from scene_documents import make_document, scene_image  # noqa: E402

from dataengine.dedup import DedupConfig, run_dedup  # noqa: E402
from dataengine.dedup.rewrite import rewrite_partition  # noqa: E402
from dataengine.dedup.signatures import shard_signatures  # noqa: E402
from dataengine.optout.lists import OptOutList  # noqa: E402
from dataengine.optout.rewrite import apply_optout, optout_partition  # noqa: E402
from dataengine.publish.plan import PlanConfig  # noqa: E402
from dataengine.publish.publish import publish, write_final_shard  # noqa: E402
from dataengine.runner.executor import run_tasks  # noqa: E402
from dataengine.shards import ShardWriter, write_rejected  # noqa: E402
from dataengine.shards.ledger import Ledger  # noqa: E402

WORDS = ("river stone harbor lantern meadow orbit copper violet window thunder garden pixel ferry autumn "
         "signal marble canyon ribbon falcon glacier").split()


def _text(seed: int, n: int = 120) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def _corpus(root: Path) -> str:
    """Three committed partitions with a near-duplicate page, a shared image and an opted-out site."""
    shared, _ = scene_image(0, seed=7)
    parts = {
        "part-a": [make_document("/a1.html", [_text(1), shared]), make_document("/a2.html", [_text(2)]),
                   make_document("/a3.html", [_text(3), scene_image(0, seed=8)[0]])],
        "part-b": [make_document("/b1.html", [_text(1)]),  # a1's text again: a near duplicate
                   make_document("/b2.html", [_text(4), scene_image(0, seed=7)[0]])],  # a1's image again
        "part-c": [make_document("/optout/c1.html", [_text(5)]), make_document("/c2.html", [_text(6)])],
    }
    for partition, docs in parts.items():
        with ShardWriter(str(root), partition, maxcount=2) as writer:
            for doc in docs:
                writer.write(doc)
        shards = writer.close()
        write_rejected(str(root), partition, [])
        Ledger(str(root)).record(partition, {"run_id": "r0", "n_docs": len(docs), "n_rejected": 0,
                                             "shards": [s.to_json() for s in shards]})
    return str(root)


def _outputs(corpus: str) -> dict[str, object]:
    """What a phase leaves that must not depend on where it ran: shard bytes, rejected rows, ledger counts."""
    root = Path(corpus)
    out: dict[str, object] = {p.name: p.read_bytes() for p in sorted((root / "shards").glob("*.tar"))}
    for path in sorted((root / "rejected").glob("*.parquet")):
        out[path.name] = pq.read_table(path).to_pylist()
    for partition in sorted(Ledger(corpus).committed()):
        entry = Ledger(corpus).entry(partition)
        out[f"ledger/{partition}"] = (entry["n_docs"], entry["n_rejected"], entry["shards"])
    return out


def _task_counts(ray) -> Counter:
    """How many times each function ran as a Ray task in this session (Ray's timeline)."""
    return Counter(e["name"] for e in ray.timeline() if e.get("cat", "").startswith("task::"))


def _wait_for_tasks(ray, before: Counter, names: dict[str, int]) -> Counter:
    """Ray's task counts once each of ``names`` ran at least that many more times (workers report in batches)."""
    deadline = time.monotonic() + 60
    while True:
        counts = _task_counts(ray)
        if all(counts[n] - before[n] >= k for n, k in names.items()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def _name(fn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def test_run_tasks_returns_results_in_call_order_here_and_on_ray(ray_session):
    calls = [(2, k) for k in range(12)]
    powers = [2 ** k for k in range(12)]
    assert run_tasks(lambda b, k: b ** k, calls, executor="local", progress=False) == powers
    assert run_tasks(lambda b, k: b ** k, calls, executor="local", concurrency=3, progress=False) == powers
    seen: list[int] = []
    assert run_tasks(lambda b, k: b ** k, calls, executor="ray", concurrency=2, progress=False,
                     on_result=seen.append) == powers
    assert sorted(seen) == powers
    pids = run_tasks(lambda: os.getpid(), [()] * 4, executor="ray", progress=False)
    assert os.getpid() not in pids  # on Ray's workers, not here
    big = list(range(100_000))  # the same object in every call goes to Ray's store once
    assert run_tasks(lambda xs: len(xs), [(big,)] * 3, executor="ray", progress=False) == [100_000] * 3
    with pytest.raises(ValueError, match="invalid literal"):
        run_tasks(lambda s: int(s), [("1",), ("x",)], executor="ray", progress=False)
    with pytest.raises(ValueError, match="executor must be one of ray, local"):
        run_tasks(lambda: 0, [()], executor="threads")
    assert run_tasks(lambda: 0, [], executor="ray") == []


def test_dedup_runs_on_ray_through_the_executor(ray_session, tmp_path):
    here, there = _corpus(tmp_path / "here"), _corpus(tmp_path / "there")
    config = DedupConfig(paragraph_min_docs=3)
    local = run_dedup(here, config, executor="local")
    before = _task_counts(ray_session)
    remote = run_dedup(there, config, executor="ray")
    counts = _wait_for_tasks(ray_session, before, {_name(shard_signatures): 4, _name(rewrite_partition): 1})
    assert counts[_name(shard_signatures)] - before[_name(shard_signatures)] == 4  # one task per shard
    assert counts[_name(rewrite_partition)] - before[_name(rewrite_partition)] == remote.partitions_rewritten
    assert remote.removed == local.removed and remote.removed[("document", "near_duplicate_document")] == 1
    assert (remote.documents_in, remote.documents_out) == (local.documents_in, local.documents_out) == (7, 6)
    assert _outputs(there) == _outputs(here)


def test_optout_runs_on_ray_through_the_executor(ray_session, tmp_path):
    here, there = _corpus(tmp_path / "here"), _corpus(tmp_path / "there")
    listing = OptOutList.parse("http://site.test/optout/c1.html\nhttp://site.test/img/scene-8.png\n")
    local = apply_optout(here, listing, executor="local", progress=False)
    before = _task_counts(ray_session)
    remote = apply_optout(there, listing, executor="ray", progress=False)
    counts = _wait_for_tasks(ray_session, before, {_name(optout_partition): 3})
    assert counts[_name(optout_partition)] - before[_name(optout_partition)] == 3  # one task per partition
    assert remote == local and (remote.partitions, remote.documents_removed, remote.images_removed) == (2, 1, 1)
    assert _outputs(there) == _outputs(here)


def test_publish_runs_on_ray_through_the_executor(ray_session, tmp_path):
    source = _corpus(tmp_path / "source")
    config = PlanConfig(2, docs_per_shard=2, seed=1)
    local = publish(source, str(tmp_path / "here"), config, executor="local", progress=False)
    before = _task_counts(ray_session)
    remote = publish(source, str(tmp_path / "there"), config, executor="ray", progress=False)
    counts = _wait_for_tasks(ray_session, before, {_name(write_final_shard): len(remote.shards)})
    assert counts[_name(write_final_shard)] - before[_name(write_final_shard)] == len(remote.shards) == 4
    assert remote.fingerprint == local.fingerprint and remote.written == local.written == 4
    assert _outputs(str(tmp_path / "there")) == _outputs(str(tmp_path / "here"))
