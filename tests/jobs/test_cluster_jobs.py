"""Cluster jobs as ``jobs/README.md`` documents them, on a real multi-node Ray on loopback
(``tests/ray_cluster.py``): ``jobs/submit.sh`` runs a pipeline through ``ray job submit`` with
``jobs/runtime_env.yaml``; the trainer's Ray Train launcher runs as a job too, one rank per
worker; a worker node whose raylet is SIGKILLed mid-run leaves a corpus that is complete and has
no document twice (that test comes last: the cluster has one node less after it)."""

from __future__ import annotations

import re
import subprocess
import time

import pyarrow.parquet as pq
import pytest
from ray_cluster import LoopbackCluster, loopback_only
from repo_paths import REPO
from trainer_corpus import TINY, scene_corpus

from dataengine.catalog.validate import validate_corpus
from dataengine.shards.ledger import Ledger

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not loopback_only(), reason="a multi-node Ray binds to the machine's address "
                                 "unless loopback is all there is: run in a namespace with only lo, as .ci/run does")]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head (1 CPU) and two worker nodes (1 CPU each), on loopback."""
    cluster = LoopbackCluster(tmp_path_factory.mktemp("cluster"), head_cpus=1, nodes={"node_a": 1, "node_b": 1})
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def manifest_ids(corpus) -> list[str]:
    return [i for p in sorted((corpus / "docs").glob("*.parquet")) for i in pq.read_table(p).column("id").to_pylist()]


@pytest.fixture(scope="module")
def submitted(cluster, sample_web_server, tmp_path_factory):
    """The demo pipeline on the sample web, submitted with jobs/submit.sh exactly as the README shows."""
    corpus = tmp_path_factory.mktemp("submitted") / "corpus"
    done = subprocess.run(["jobs/submit.sh", "pipelines/demo.yaml", str(corpus),
                           "--set", f"source.url={sample_web_server.url}sitemap.xml"],
                          cwd=REPO, env={**cluster.env, "RAY_ADDRESS": cluster.dashboard}, capture_output=True,
                          text=True, timeout=400)
    return corpus, done


def test_submit_sh_runs_a_pipeline_on_the_cluster(submitted, cluster):
    corpus, done = submitted
    assert done.returncode == 0 and "succeeded" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\d+ partitions written", done.stdout)
    assert validate_corpus(str(corpus)) == []
    ids = manifest_ids(corpus)
    assert len(ids) > 10 and len(ids) == len(set(ids))
    assert (corpus / "README.md").is_file()  # the dataset card
    assert cluster.alive_nodes() == 3


def test_trainer_runs_as_ray_train_workers_of_a_job(cluster, tmp_path):
    import json

    import torch

    from trainer.train.checkpoint import latest_checkpoint, load_trained
    from trainer.vq.model import VQConfig, VQModel
    from trainer.vq.tokenizer import ImageTokenizer

    torch.manual_seed(0)
    ImageTokenizer(VQModel(VQConfig(codebook_size=64, channels=16))).save(tmp_path / "vq.pt")
    scene_corpus(tmp_path / "c", 12, n_shards=2)
    sets = [x for k, v in {**TINY, "train.ckpt_every": 2}.items() for x in ("--set", f"{k}={v}")]
    done = cluster.submit("python", "-m", "trainer.cli", "train", "trainer/configs/tiny.yaml", "--data",
                          str(tmp_path / "c"), "--out", str(tmp_path / "run"), "--vq", str(tmp_path / "vq.pt"),
                          "--max-steps", "2", "--ray-workers", "2", "--quiet", *sets)
    assert done.returncode == 0 and "succeeded" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    ckpt = latest_checkpoint(tmp_path / "run")
    assert ckpt.name == "step_000002"
    assert (ckpt / "loader_rank0.pt").exists() and (ckpt / "loader_rank1.pt").exists()  # two ranks trained
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    model, vocab, _ = load_trained(tmp_path / "run")
    assert model.vocab_size == vocab.layout.vocab_size


def test_a_worker_node_killed_mid_run_leaves_a_complete_corpus(submitted, cluster, sample_web_server, tmp_path):
    reference, _ = submitted
    corpus = tmp_path / "corpus"
    entry = ["python", "-m", "dataengine", "run", "pipelines/demo.yaml", "--output", str(corpus), "--address", "auto",
             "--set", f"source.url={sample_web_server.url}sitemap.xml", "--set", "source.pages_per_partition=2"]
    done = cluster.submit(*entry, wait=False)
    assert done.returncode == 0, done.stderr[-2000:]
    job = re.search(r"raysubmit_\w+", done.stdout + done.stderr).group(0)
    ledger = Ledger(str(corpus))
    deadline = time.monotonic() + 240
    while not ledger.committed() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ledger.committed(), f"no partition committed; job {cluster.job_status(job)}"
    started = time.monotonic()
    cluster.kill_raylet("node_b")
    deadline = time.monotonic() + 90
    while cluster.job_status(job) in ("RUNNING", "PENDING") and time.monotonic() < deadline:
        time.sleep(1)
    status = cluster.job_status(job)
    if status != "SUCCEEDED":  # Ray gave up on (or still waits for) the lost node's work: stop, rerun
        cluster.stop_job(job)
        assert cluster.submit(*entry).returncode == 0
    ids = manifest_ids(corpus)
    assert len(ids) == len(set(ids)), "a document was written twice"
    assert sorted(ids) == sorted(manifest_ids(reference))
    assert validate_corpus(str(corpus)) == []
    print(f"after the kill the job ended {status} in {time.monotonic() - started:.0f} s")
