"""The stage base class: counts, rejection bookkeeping, no silent drops, setup once, declared fields."""

from __future__ import annotations

import os
import sys
from collections import Counter

import pytest
import yaml
from repo_paths import REPO

from dataengine.errors import ConfigError
from dataengine.registry import STAGES, resolve
from dataengine.runner.config import PipelineConfig, SinkConfig, SourceConfig, StageConfig, parse_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.shards import ShardWriter
from dataengine.stages.base import FIELDS, Batch, Stage, check_order
from schemas import Document, Segment, SourceRef


class DropShort(Stage):
    name = "drop_short"

    def __init__(self, min_chars: int = 3):
        super().__init__()
        self.min_chars = min_chars

    def process(self, doc: Document) -> Document | None:
        if doc.text == "boom":
            raise RuntimeError("bad record")
        if len(doc.text) < self.min_chars:
            self.reject(doc, "too_short", value=len(doc.text), threshold=self.min_chars)
            return None
        return doc


class Forgetful(Stage):
    name = "forgetful"

    def process_batch(self, docs):
        return docs[:1]


def doc(i: int, text: str) -> Document:
    return Document(id=f"d{i}", url=f"http://x/{i}", source=SourceRef("crawl", "x"), segments=[Segment.of_text(text)])


def test_counts_rejections_errors_and_repeated_stages():
    batch = Batch("p", [doc(1, "long enough"), doc(2, "ab"), doc(3, "boom"), doc(4, "fine text")])
    batch = DropShort()(batch)
    batch = DropShort(min_chars=10)(batch)
    assert [d.id for d in batch.docs] == ["d1"]
    assert batch.counts["drop_short"] == {"in": 4, "out": 2, "document:too_short": 1, "document:error:RuntimeError": 1}
    assert batch.counts["drop_short#2"] == {"in": 2, "out": 1, "document:too_short": 1}
    assert {r.partition for r in batch.rejected} == {"p"}
    assert batch.docs[0].provenance == [{"stage": "drop_short", "version": "1"}] * 2
    error = next(r for r in batch.rejected if r.reason.startswith("error"))
    assert "bad record" in error.detail


def test_a_document_never_vanishes_without_a_row():
    batch = Forgetful()(Batch("p", [doc(1, "a"), doc(2, "b")]))
    assert [(r.id, r.reason) for r in batch.rejected] == [("d2", "dropped_without_reason")]


# --- lifecycle and declarations ----------------------------------------------------------------

class PidLog(Stage):
    """Writes nothing to documents; its ``setup`` appends this process's id to ``log``."""

    name = "pid_log"

    def __init__(self, log: str):
        super().__init__()
        self.log = log

    def setup(self) -> None:
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")

    def process(self, doc: Document) -> Document:
        return doc


class PidLogConfig(StageConfig):
    """The pipeline entry of ``PidLog``, a stage of this test that the registry does not know."""

    def build(self) -> PidLog:
        return PidLog(**self.params)


def test_setup_runs_once_per_worker_across_many_partitions(ray_session, tmp_path):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this module
    corpus, log = str(tmp_path / "in"), tmp_path / "setups.log"
    partitions = 10
    for p in range(partitions):
        with ShardWriter(corpus, f"part-{p:02d}") as writer:
            writer.write(doc(p, f"text of partition {p}"))
    config = PipelineConfig("pids", SourceConfig("corpus", {"path": corpus}),
                            [PidLogConfig("pid_log", {"log": str(log)})], SinkConfig(), {})
    result = run_pipeline(config, str(tmp_path / "out"))
    assert result.partitions_done == partitions and result.documents == partitions
    pids = Counter(log.read_text().split())
    assert set(pids.values()) == {1}, pids  # each worker set the stage up once
    assert len(pids) < partitions and str(os.getpid()) not in pids  # not per partition, and not on the driver


def test_direct_calls_set_up_first_and_once(tmp_path):
    log = tmp_path / "setups.log"
    stage = PidLog(str(log))
    assert not log.exists()  # building loads nothing
    stage(Batch("p", [doc(1, "a")]))
    stage(Batch("q", [doc(2, "b")]))
    assert stage.ready() is stage and log.read_text().split() == [str(os.getpid())]


def test_every_stage_declares_known_fields_and_the_sample_pipelines_are_in_order():
    classes = {name: resolve(STAGES, name, "stage") for name in STAGES}
    for name, cls in classes.items():
        assert cls.reads | cls.writes <= set(FIELDS), name
    assert classes["tokenize"].produces == ("token_layout.json", "tokenizer.json")
    for path in sorted((REPO / "pipelines").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        assert check_order([classes[s["name"]] for s in raw["stages"]]) == [], path.name


def test_a_stage_reading_what_a_later_stage_writes_is_refused_before_any_work(tmp_path):
    problems = check_order([resolve(STAGES, n, "stage") for n in ("extract_html", "nsfw", "fetch_images")])
    assert problems == ["stages[1] (nsfw) reads images.data (image bytes (the KEY.N.EXT members)), which only a "
                        "later stage writes (fetch_images): move it after that stage"]
    raw = {"source": {"kind": "corpus", "path": str(tmp_path / "in")},
           "stages": [{"name": "text_quality"}, {"name": "language_id"}]}
    with pytest.raises(ConfigError, match=r"stages\[0\] \(text_quality\) reads language"):
        run_pipeline(parse_pipeline(raw), str(tmp_path / "out"))
    raw["stages"] = [{"name": "tokenize", "params": {"vq": None}}]
    with pytest.raises(ConfigError, match=r"stages\[0\] \(tokenize\): tokenize: vq .* is required"):
        run_pipeline(parse_pipeline(raw), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
