"""Every command that reads or writes a corpus takes ``s3://`` as a user passes it: the endpoint and the
credentials in the environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...), nothing else.

The S3 server is moto's, on loopback (the ``s3`` fixture puts its address in the environment,
which the commands below inherit, as from a user's shell); each command runs as its own process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from repo_paths import REPO

BIN = os.path.dirname(sys.executable)


def command(*args: str, timeout: int = 300) -> str:
    """Run ``dataengine``/``trainer`` ARGS from the repository root; its stdout, or fail with its stderr."""
    return process(*args, timeout=timeout).stdout


def process(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``dataengine``/``trainer`` ARGS as a user's shell would; the finished process, which exited 0."""
    proc = subprocess.run([os.path.join(BIN, args[0]), *args[1:]], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_run_sql_validate_dedup_publish_and_train_on_s3(s3, sample_web_server, tmp_path):
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    s3.mkdir("corpora")
    corpus, deduped, final = "s3://corpora/web", "s3://corpora/deduped", "s3://corpora/final"

    ran = process("dataengine", "run", "pipelines/demo.yaml", "--output", corpus,
                  "--set", f"source.url={sample_web_server.url}sitemap.xml")
    assert s3.ls("corpora/web/shards") and s3.ls("corpora/web/ledger")
    # Progress a person reads: partitions done of the total with documents and images per second,
    # and nothing from Ray a user could not act on.
    last = ran.stderr.replace("\r", "\n").splitlines()
    assert any(re.search(r"run demo: 100%.* 4/4 .*docs/s, [0-9.]+ images/s", line) for line in last), ran.stderr
    assert not re.search(r"WARNING|Token authentication|Total Progress|INFO", ran.stderr), ran.stderr

    rows = json.loads(command("dataengine", "sql", corpus, "--format", "json",
                              "select count(*) as docs, sum(n_images_ok) as images from docs"))
    assert rows[0]["docs"] > 10 and rows[0]["images"] > 0
    assert command("dataengine", "validate", corpus).startswith("OK: ")

    command("dataengine", "dedup", corpus, "--out", deduped, "--local")
    kept = json.loads(command("dataengine", "sql", deduped, "--format", "json", "select count(*) as n from docs"))
    assert 0 < kept[0]["n"] <= rows[0]["docs"]

    command("dataengine", "publish", deduped, "--out", final, "--world-size", "2", "--docs-per-shard", "8", "--local",
            "--quiet")
    assert command("dataengine", "validate", final).startswith("OK: ")
    published = json.loads(command("dataengine", "sql", final, "--format", "json", "select count(*) as n from docs"))
    assert published[0]["n"] == kept[0]["n"]

    vq, run = tmp_path / "vq", tmp_path / "run"
    command("trainer", "vq", "train", "trainer/configs/vq_tiny.yaml", "--data", final, "--out", str(vq), "--quiet",
            "--set", "train.steps=2")
    command("trainer", "train", "trainer/configs/tiny.yaml", "--data", final, "--vq", str(vq / "vq.pt"),
            "--out", str(run), "--quiet", "--set", "stages=[]", "--set", "train.max_steps=2",
            "--set", "data.num_workers=0")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 2 and metrics[-1]["data_documents"] > 0 and metrics[-1]["data_bad_samples"] == 0
