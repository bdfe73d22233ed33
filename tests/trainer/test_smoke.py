"""End to end on sample-web scenes: VQ, training and judged evaluation through the CLI (about 7 CPU minutes)."""

from __future__ import annotations

import json

import pytest
from trainer_corpus import scene_corpus

from trainer.cli import main


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_sample_web_smoke_run_learns_text_to_image(tmp_path, capsys):
    scene_corpus(tmp_path / "corpus", 600, n_shards=4)
    scene_corpus(tmp_path / "heldout", 40, seed=99)
    assert main(["vq", "train", "trainer/configs/vq_tiny.yaml", "--data", str(tmp_path / "corpus"),
                 "--out", str(tmp_path / "vq"), "--quiet"]) == 0
    vq = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert vq["codebook_usage"] > 0.3
    assert main(["train", "trainer/configs/tiny.yaml", "--data", str(tmp_path / "corpus"), "--out",
                 str(tmp_path / "run"), "--vq", str(tmp_path / "vq"), "--quiet",
                 "--set", "data.seq_len=128", "--set", "train.max_steps=1500"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["loss"] < rows[0]["loss"] - 1.0
    capsys.readouterr()
    # No guidance: after minutes of training the unconditional branch is too weak for it to help.
    assert main(["eval", str(tmp_path / "run"), "--data", str(tmp_path / "heldout"), "--judge", "sample-web",
                 "--prompts", "24", "--cfg-scale", "1.0"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    print(json.dumps({"vq": vq, "first_loss": rows[0]["loss"], "last_loss": rows[-1]["loss"], **metrics}))
    assert metrics["t2i_accuracy"] > metrics["t2i_chance"]
