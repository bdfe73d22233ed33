"""The runner end to end on real inputs: the sample web over loopback HTTP and real WARC files.

One local Ray serves the whole session; the kill-and-resume test runs the driver in a
subprocess joined to that Ray, SIGKILLs it mid-run, and reruns.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem
from repo_paths import REPO

from dataengine.catalog.catalog import Catalog
from dataengine.catalog.validate import validate_corpus
from dataengine.errors import ConfigError
from dataengine.runner.config import load_pipeline, parse_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.shards import iter_corpus
from dataengine.shards.ledger import Ledger

DEMO = REPO / "pipelines" / "demo.yaml"


def manifest_ids(corpus: Path) -> list[str]:
    ids = []
    for path in sorted((corpus / "docs").glob("*.parquet")):
        ids += pq.read_table(path, columns=["id"]).column("id").to_pylist()
    return ids


def test_sample_web_run_and_rerun(ray_session, sample_web_server, tmp_path):
    corpus = tmp_path / "corpus"
    config = load_pipeline(DEMO, [f"source.url={sample_web_server.url}sitemap.xml"])
    result = run_pipeline(config, str(corpus))
    assert result.partitions_done == result.partitions_total > 1
    assert result.documents > 10
    assert validate_corpus(str(corpus)) == []

    reasons = {reason for (_, _, reason) in result.rejected}
    # the sample web's faults, each a rejected row with its own reason
    assert {"robots_disallowed", "http_404", "not_an_image", "optout_noai"} <= reasons, reasons

    with Catalog(str(corpus)) as cat:
        n_docs, n_ok = cat.arrow("select count(*), sum(n_images_ok) from docs").to_pylist()[0].values()
        assert n_docs == result.documents and n_ok > 0
        failed = cat.arrow("select count(*) n from images where status = 'failed'").to_pylist()[0]["n"]
        image_rejections = cat.arrow("select count(*) n from rejected where level = 'image' "
                                     "and stage = 'fetch_images'").to_pylist()[0]["n"]
        assert failed == image_rejections > 0  # failed images keep their slot and have a row
        runs = cat.arrow("select status from runs").to_pylist()
        assert [r["status"] for r in runs] == ["completed"]

    # documents read back have interleaved text and images in reading order
    docs = list(iter_corpus(str(corpus)))
    with_images = [d for d in docs if any(s.kind == "image" for s in d.segments)]
    assert with_images and all(d.segments for d in docs)
    for doc in with_images:
        for img in doc.images:
            assert (img.status == "ok") == (img.data is not None)

    # the run wrote the dataset card: Hugging Face datasets opens the corpus as it is
    import datasets

    ds = datasets.load_dataset(str(corpus), split="train", cache_dir=str(tmp_path / "hf"))
    assert sorted(ds["__key__"]) == sorted(d.id for d in docs)
    assert sum(v is not None for f in ds.features if f[0].isdigit() for v in ds[f]) == n_ok

    again = run_pipeline(config, str(corpus))
    assert again.partitions_done == 0 and again.partitions_skipped == result.partitions_total
    assert sorted(manifest_ids(corpus)) == sorted(d.id for d in docs)


def test_warc_fixtures_with_bad_input(ray_session, fixtures, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("wget-english-sample.warc.gz", "truncated-record.warc.gz", "cc-main-2020-34-sample.warc.gz"):
        shutil.copy(fixtures / "warc" / name, inputs / name)
    # a real archive cut in the middle of a record, and one with garbage in the middle
    data = (fixtures / "warc" / "clueweb09-quirk.warc.gz").read_bytes()
    (inputs / "cut.warc.gz").write_bytes(data[: len(data) // 2])
    half = len(data) // 2
    (inputs / "corrupt.warc.gz").write_bytes(data[:half] + b"\x00garbage" * 250 + data[half + 2000:])
    # an uncompressed .warc, to cover both forms
    gzipped = fixtures / "warc" / "edge-cases" / "example.warc.gz"
    (inputs / "plain.warc").write_bytes(gzip.decompress(gzipped.read_bytes()))

    config = parse_pipeline({"name": "warc-test", "source": {"kind": "warc", "paths": [str(inputs / "*")]},
                             "stages": [{"name": "extract_html"}]})  # no image fetch: never leave loopback
    corpus = tmp_path / "corpus"
    result = run_pipeline(config, str(corpus))
    assert result.partitions_done == 6
    reasons = Counter()
    for (_, _, reason), n in result.rejected.items():
        reasons[reason] += n
    assert reasons["truncated_record"] == 3, reasons  # the fixture's, the cut file's last record, the damaged record
    assert reasons["warc_corrupt"] == 1
    assert reasons["not_html"] >= 1
    assert validate_corpus(str(corpus)) == []
    with Catalog(str(corpus)) as cat:
        rows = cat.arrow("select partition, count(*) n from docs group by 1").to_pylist()
        per_partition = {r["partition"].split("-")[1]: r["n"] for r in rows}
        # what was readable is kept
        assert per_partition["wget"] >= 15 and per_partition["cut"] >= 10 and per_partition["corrupt"] >= 10
        corrupt = cat.arrow("select detail from rejected where reason = 'warc_corrupt'").to_pylist()
        assert "corrupt.warc.gz" in corrupt[0]["detail"]

    # Another pipeline into this corpus would mix two corpora: refused before any work, unless overwritten.
    other = parse_pipeline({"name": "warc-plain", "source": {"kind": "warc", "paths": [str(inputs / "plain.warc")]},
                            "stages": []})
    with pytest.raises(ConfigError, match=r"holds the corpus of another pipeline \('warc-test', run .*--overwrite"):
        run_pipeline(other, str(corpus))
    assert len(Ledger(str(corpus)).committed()) == 6
    replaced = run_pipeline(other, str(corpus), overwrite=True)
    assert replaced.partitions_done == 1 and len(Ledger(str(corpus)).committed()) == 1
    with Catalog(str(corpus)) as cat:
        assert {r["pipeline"] for r in cat.arrow("select pipeline from runs").to_pylist()} == {"warc-plain"}
    assert validate_corpus(str(corpus)) == []


@pytest.mark.slow
def test_kill_and_resume(ray_session, sample_web_server, tmp_path):
    corpus = tmp_path / "corpus"
    address = ray_session.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "dataengine", "run", str(DEMO), "--output", str(corpus), "--address", address,
           "--set", f"source.url={sample_web_server.url}sitemap.xml", "--set", "source.pages_per_partition=2"]
    env = {**os.environ, "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}
    driver = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ledger = Ledger(str(corpus))
    deadline = time.monotonic() + 240
    while not ledger.committed() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    committed_at_kill = len(ledger.committed())
    assert committed_at_kill >= 1, driver.stderr.read().decode()[-2000:]

    config = load_pipeline(DEMO, [f"source.url={sample_web_server.url}sitemap.xml", "source.pages_per_partition=2"])
    resumed = run_pipeline(config, str(corpus))
    assert resumed.partitions_skipped == committed_at_kill
    assert resumed.partitions_done == resumed.partitions_total - committed_at_kill

    reference = tmp_path / "reference"
    clean = run_pipeline(config, str(reference))
    ids = manifest_ids(corpus)
    assert len(ids) == len(set(ids)), "a document was written twice"
    assert sorted(ids) == sorted(manifest_ids(reference)) and len(ids) == clean.documents
    assert validate_corpus(str(corpus)) == []
    leftovers = [p for p in corpus.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
    assert not leftovers, leftovers
    with Catalog(str(corpus)) as cat:  # the killed driver's record does not stay "running"
        statuses = {r["run_id"]: r["status"] for r in cat.arrow("select run_id, status from runs").to_pylist()}
    assert sorted(statuses.values()) == ["completed", "interrupted"]
    assert statuses[resumed.run_id] == "completed"


def test_records_of_dead_drivers_become_interrupted(tmp_path):
    from dataengine.shards.run_record import STALE_SECONDS, RunRecord, mark_interrupted

    gone = subprocess.Popen(["true"])
    gone.wait()  # a real process id that no longer exists
    old = (datetime.now(UTC) - timedelta(seconds=STALE_SECONDS + 60)).isoformat()
    records = {"dead-here": {"pid": gone.pid},
               "silent-elsewhere": {"host": "another-node", "heartbeat_at": old},
               "alive-elsewhere": {"host": "another-node"},      # beat just now: may be running there
               "alive-here": {},                                  # this process
               "finished": {"pid": gone.pid, "status": "completed"}}
    for run_id, fields in records.items():
        record = RunRecord(run_id, "t", {}, str(tmp_path))
        record.save()
        path = tmp_path / "runs" / f"{run_id}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))
    assert sorted(mark_interrupted(str(tmp_path))) == ["dead-here", "silent-elsewhere"]
    status = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")}
    assert {k: v["status"] for k, v in status.items()} == {
        "dead-here": "interrupted", "silent-elsewhere": "interrupted", "alive-elsewhere": "running",
        "alive-here": "running", "finished": "completed"}
    assert status["silent-elsewhere"]["finished_at"] == old and "stopped without finishing" in \
        status["silent-elsewhere"]["error"]


class ListingRecorder(LocalFileSystem):
    """The local filesystem, noting every folder listed (a commit must not list the corpus's folders)."""

    protocol = "listing-recorder"
    listed: list[str] = []

    def ls(self, path, detail=False, **kwargs):
        ListingRecorder.listed.append(self._strip_protocol(path))
        return super().ls(path, detail=detail, **kwargs)


def test_a_commit_lists_no_folder_that_grows_with_the_corpus(tmp_path):
    import pickle

    from dataengine.runner.config import SinkConfig
    from dataengine.runner.pipeline import _commit_partition
    from dataengine.stages.base import Batch
    from schemas import Document, Rejection, Segment, SourceRef

    fsspec.register_implementation(ListingRecorder.protocol, ListingRecorder, clobber=True)
    corpus = f"{ListingRecorder.protocol}://{tmp_path}/c"

    def commit(partition: str) -> None:
        docs = [Document(f"{partition}{i:020d}", f"https://e.test/{partition}/{i}", SourceRef("warc", partition),
                         segments=[Segment.of_text(f"Text {i} of {partition}.")]) for i in range(3)]
        batch = Batch(partition, docs, [Rejection(None, "https://e.test/x", "document", "t", "because")])
        _commit_partition({"batch": pickle.dumps(batch)}, corpus, SinkConfig(maxcount=2), "run")

    for k in range(20):
        commit(f"part-{k:03d}")
    (tmp_path / "c" / ".staging" / "part-020").mkdir(parents=True)  # an interrupted earlier attempt's leftovers
    (tmp_path / "c" / ".staging" / "part-020" / "part-020-00000.tar.tmp-0").write_bytes(b"partial")
    ListingRecorder.listed.clear()
    commit("part-020")
    folders = ("shards", "docs", "images", "ledger", "rejected")
    grows = [p for p in ListingRecorder.listed if p.rstrip("/").rsplit("/", 1)[-1] in folders]
    assert grows == [], f"a commit listed {grows}"
    assert not (tmp_path / "c" / ".staging").exists()
    assert len(Ledger(str(tmp_path / "c")).committed()) == 21
    assert validate_corpus(str(tmp_path / "c")) == []


def _commit_small(root: str, k: int) -> int:
    import pickle

    from dataengine.runner.config import SinkConfig
    from dataengine.runner.pipeline import _commit_partition
    from dataengine.stages.base import Batch
    from schemas import Document, Segment, SourceRef

    p = f"p{k:04d}"
    docs = [Document(f"{p}{i:020d}", f"https://e.test/{p}/{i}", SourceRef("warc", p),
                     segments=[Segment.of_text(f"Text {i} of {p}.")]) for i in range(2)]
    _commit_partition({"batch": pickle.dumps(Batch(p, docs))}, root, SinkConfig(), "run")
    return k


def test_concurrent_commits_share_the_staging_folder(tmp_path):
    # Each commit removes .staging once it is empty while others create their folder inside it.
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    with ProcessPoolExecutor(4) as pool:
        assert sorted(pool.map(partial(_commit_small, str(tmp_path)), range(200))) == list(range(200))
    assert len(Ledger(str(tmp_path)).committed()) == 200
    assert validate_corpus(str(tmp_path)) == []
