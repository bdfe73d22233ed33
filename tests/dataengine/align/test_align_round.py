"""One alignment round as users run it: the pipeline on Ray, the funnel in SQL, a killed round rerun,
``trainer train --align``, and ``dataengine align loop`` with its report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataengine.align.loop import AlignLoopConfig, pipeline_config, run_align_loop
from dataengine.align.metrics import auroc
from dataengine.catalog.catalog import Catalog
from dataengine.catalog.validate import validate_corpus
from dataengine.runner.config import parse_pipeline
from dataengine.runner.pipeline import run_pipeline
from dataengine.shards.ledger import Ledger
from trainer.config import ConfigError, load_run_config
from trainer.data.shards import is_pair_loser, list_shards, read_samples
from trainer.train.loop import train

REPO = Path(__file__).resolve().parents[3]


def _round(world: Path, run: Path, prompts: int, n: int, per_partition: int | None = None) -> dict:
    raw = pipeline_config(world, run, 1, AlignLoopConfig(prompts=prompts, n=n), "main")
    raw["source"]["per_partition"] = per_partition or prompts
    return raw


@pytest.fixture(scope="module")
def round_corpus(ray_session, tiny_world, tiny_run, tmp_path_factory) -> Path:
    """Eight prompts, four candidates each, through generate, both judges, assessment_docs and select."""
    out = tmp_path_factory.mktemp("round") / "align"
    result = run_pipeline(parse_pipeline(_round(tiny_world, tiny_run, 8, 4)), str(out))
    assert result.partitions_done == 1
    return out


def test_the_funnel_is_in_sql(round_corpus):
    assert validate_corpus(str(round_corpus)) == []
    with Catalog(str(round_corpus)) as cat:
        per_judge = cat.arrow("select judge, count(*) n, count(distinct prompt_id) p from candidates "
                              "group by all order by judge").to_pylist()
        assert per_judge == [{"judge": "ground_truth", "n": 32, "p": 8}, {"judge": "self_assess", "n": 32, "p": 8}]
        funnel = cat.arrow("select role, reason, count(*) n from candidates where judge = 'ground_truth' "
                           "group by all").to_pylist()
        kept = cat.arrow("select role, count(*) n from alignment group by role").to_pylist()
        example = cat.arrow("select judge, round, avg(score) s, count(*) filter (where chosen) c "
                            "from candidates group by all order by judge").to_pylist()
        dropped = cat.arrow("select count(*) n from rejected where stage = 'select'").to_pylist()[0]["n"]
    assert sum(r["n"] for r in funnel) == 32  # every candidate once: kept, or dropped with its reason
    assert all((r["role"] == "dropped") == (r["reason"] is not None) for r in funnel)
    kept_roles = {r["role"]: r["n"] for r in kept}
    assert kept_roles.get("chosen", 0) + kept_roles.get("rejected", 0) + dropped == 32
    assert kept_roles.get("assessment", 0) > 0  # questions about two candidates of each prompt
    assert [r["judge"] for r in example] == ["ground_truth", "self_assess"] and example[0]["round"] == 1


def test_a_killed_round_reruns_without_writing_a_candidate_twice(ray_session, tiny_world, tiny_run, tmp_path):
    out = tmp_path / "align"
    pipeline = tmp_path / "align.yaml"
    pipeline.write_text(json.dumps(_round(tiny_world, tiny_run, 8, 2, per_partition=2)))  # JSON is YAML
    address = ray_session.get_runtime_context().gcs_address
    env = {**os.environ, "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}
    driver = subprocess.Popen([sys.executable, "-m", "dataengine", "run", str(pipeline), "--output", str(out),
                               "--address", address], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    ledger, deadline = Ledger(str(out)), time.monotonic() + 240
    while not ledger.committed() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    at_kill = len(ledger.committed())
    assert at_kill >= 1, driver.stderr.read().decode()[-2000:]
    resumed = run_pipeline(parse_pipeline(json.loads(pipeline.read_text())), str(out))
    assert resumed.partitions_skipped == at_kill and resumed.partitions_done == 4 - at_kill
    with Catalog(str(out)) as cat:
        rows = cat.arrow("select prompt_id, count(*) n, count(distinct id) d from candidates "
                         "where judge = 'ground_truth' group by 1").to_pylist()
    assert len(rows) == 8 and all(r["n"] == r["d"] == 2 for r in rows)


def test_train_align_fine_tunes_on_the_round_and_never_on_pair_losers(round_corpus, tiny_world, tiny_run, tmp_path):
    samples = [s for shard in list_shards(str(round_corpus)) for s in read_samples(shard)]
    losers = [s for s in samples if is_pair_loser(s)]
    roles = [json.loads(s["json"])["assessment"]["role"] for s in samples]
    assert len(losers) == roles.count("rejected")
    from trainer.cli import main as trainer_main

    code = trainer_main(["train", str(REPO / "trainer" / "configs" / "scene_world.yaml"), "--data",
                         str(tiny_world / "pairs"), "--align", str(round_corpus), "--init", str(tiny_run),
                         "--out", str(tmp_path / "r1"), "--device", "cpu", "--quiet", "--set", "align.steps=3",
                         "--set", "align.batch_size=2", "--set", "align.seq_len=128", "--set", "train.log_every=1"])
    rows = [json.loads(line) for line in (tmp_path / "r1" / "metrics.jsonl").read_text().splitlines()]
    assert code == 0 and [r["stage"] for r in rows] == ["align"] * 3 and rows[0]["lr"] <= 5e-4
    assert rows[-1]["data_bad_samples"] == 0
    saved = json.loads((tmp_path / "r1" / "run.json").read_text())
    assert saved["model"]["dim"] == 64  # the model shape comes from --init, not from the YAML's 192


def test_align_data_from_another_checkpoint_is_a_one_line_error(round_corpus, tiny_world, tmp_path):
    other = tmp_path / "other"
    cfg = load_run_config(REPO / "trainer" / "configs" / "scene_world.yaml",
                          {"model.dim": 32, "model.n_heads": 2, "model.n_kv_heads": 1, "model.n_layers": 1,
                           "tokenizer.max_grid": 8, "tokenizer.vq": str(tiny_world.parent / "vq.pt"),
                           "stages": [{"name": "a", "steps": 1, "batch_size": 2,
                                       "mixture": [{"path": str(tiny_world / "pairs")}]}]})
    train(cfg, [], other, device="cpu", progress=False)
    with pytest.raises(ConfigError, match="align.replay is 0.5: pass the pretraining corpus"):
        load_run_config(None, {"align.steps": 1}).for_alignment([str(round_corpus)], [])
    align = load_run_config(None, {"align.steps": 1, "align.replay": 0.0}).for_alignment([str(round_corpus)], [])
    with pytest.raises(ConfigError) as err:
        train(align, [], tmp_path / "bad", device="cpu", progress=False, init=str(other))
    assert "token layout" in str(err.value) and "\n" not in str(err.value)


def test_auroc():
    assert auroc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.5], [True]) != auroc([0.5], [True])  # NaN without both classes


@pytest.mark.slow
def test_align_loop_runs_a_round_with_its_control_and_writes_the_report(ray_session, tiny_world, tiny_run, tmp_path):
    config = AlignLoopConfig(rounds=1, prompts=4, n=2, align_steps=2, device="cpu")
    result = run_align_loop(tmp_path / "loop", config, init=str(tiny_run), world=str(tiny_world))
    saved = json.loads((tmp_path / "loop" / "loop.json").read_text())
    assert [sorted(r) for r in saved["rounds"]] == [["control", "main"], ["control", "main"]]
    for arm in ("main", "control"):
        heldout = saved["rounds"][1][arm]["heldout"]
        assert heldout["t2i_heldout_share"] == 1.0 and 0 <= heldout["t2i_accuracy"] <= 1
        assert saved["rounds"][1][arm]["data"]["candidates"] == 8
    assert "auroc" in saved["rounds"][1]["main"]["data"]
    page = (tmp_path / "loop" / "report.html").read_text()
    assert page.count("<svg") == 2 and "Self-generation alignment: 1 rounds" in page
    assert result.rounds[1]["main"]["heldout"] == saved["rounds"][1]["main"]["heldout"]
