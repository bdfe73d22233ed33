"""Training: the loss falls, a stopped-and-resumed run logs the same losses, the CLI trains from shards."""

from __future__ import annotations

import json

import numpy as np
from trainer_corpus import TINY, make_document, scene_corpus, text_corpus, write_shards

from schemas.token_layout import TokenLayout
from trainer.cli import main
from trainer.config import CorpusSpec, load_run_config
from trainer.train.checkpoint import latest_checkpoint, load_trained
from trainer.train.loop import train


def config(**extra):
    return load_run_config("trainer/configs/tiny.yaml", {**TINY, **extra})


def test_resume_reproduces_the_uninterrupted_losses(tmp_path, untrained_vq):
    scene_corpus(tmp_path / "scenes", 16, n_shards=3)
    text_corpus(tmp_path / "text", 20, n_shards=1)
    mixture = [CorpusSpec(str(tmp_path / "scenes"), 2.0), CorpusSpec(str(tmp_path / "text"), 1.0)]
    extra = {"data.num_workers": 2, "train.ckpt_every": 3, "train.max_steps": 8}
    whole = train(config(**extra), mixture, tmp_path / "whole", vq=str(untrained_vq), progress=False)
    first = train(config(**extra), mixture, tmp_path / "split", vq=str(untrained_vq), max_steps=4, progress=False)
    rest = train(config(**extra), mixture, tmp_path / "split", vq=str(untrained_vq), resume=True, progress=False)
    assert [r["step"] for r in first + rest] == list(range(1, 9))
    assert [r["loss"] for r in whole] == [r["loss"] for r in first + rest]
    assert [r["loss_image"] for r in whole] == [r["loss_image"] for r in first + rest]
    logged = [json.loads(line)["loss"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [r["loss"] for r in whole]


def test_loss_falls_and_stages_freeze_parameters(tmp_path, untrained_vq):
    scene_corpus(tmp_path / "c", 24)
    cfg = config(**{"train.lr": 3e-3})
    cfg.stages = [type(cfg.stage_plan()[0])(name="embeddings", steps=3, trainable=["embed.*", "output.*"]),
                  type(cfg.stage_plan()[0])(name="full", steps=17, seq_len=128)]
    rows = train(cfg, [CorpusSpec(str(tmp_path / "c"))], tmp_path / "run", vq=str(untrained_vq), progress=False)
    assert [r["stage"] for r in rows] == ["embeddings"] * 3 + ["full"] * 17
    assert rows[-1]["seq_len"] == 128
    assert sum(r["loss"] for r in rows[-3:]) / 3 < rows[0]["loss"] - 1.0
    model, vocab, _ = load_trained(tmp_path / "run")
    assert vocab.layout.codebook_size == 64 and model.vocab_size == vocab.layout.vocab_size


def test_cli_trains_from_shards_and_reports_bad_input(tmp_path, untrained_vq, capsys):
    scene_corpus(tmp_path / "c", 8)
    args = ["train", "trainer/configs/tiny.yaml", "--data", str(tmp_path / "c"), "--out", str(tmp_path / "run"),
            "--vq", str(untrained_vq), "--max-steps", "2", "--quiet"]
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
    assert main(args + sets) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["step"] == 2
    assert latest_checkpoint(tmp_path / "run").name == "step_000002"
    assert main(["train", "trainer/configs/tiny.yaml", "--data", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "r2"), "--vq", str(untrained_vq)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(args + ["--set", "model.width=3"]) == 2
    assert "unknown key" in capsys.readouterr().err


def test_torchrun_two_cpu_ranks_train_and_checkpoint_each_loader(tmp_path, untrained_vq):
    import os
    import subprocess
    import sys

    scene_corpus(tmp_path / "c", 12, n_shards=2)
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "trainer.cli", "train", "trainer/configs/tiny.yaml", "--data", str(tmp_path / "c"),
           "--out", str(tmp_path / "run"), "--vq", str(untrained_vq), "--max-steps", "2", "--device", "cpu",
           "--quiet", *sets]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ckpt = latest_checkpoint(tmp_path / "run")
    assert (ckpt / "loader_rank0.pt").exists() and (ckpt / "loader_rank1.pt").exists()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]


def test_tokens_without_their_layout_or_past_it_are_one_line_errors(tmp_path, untrained_vq, capsys):
    docs = [make_document(f"http://e.test/{i}", [f"document {i}"]) for i in range(6)]
    tokens = {doc.id: np.arange(5000, 5010, dtype=np.int32) for doc, _ in docs}
    write_shards(tmp_path / "c", docs, tokens=tokens)
    args = ["train", "trainer/configs/tiny.yaml", "--data", str(tmp_path / "c"), "--out", str(tmp_path / "run"),
            "--vq", str(untrained_vq), "--max-steps", "2", "--quiet"]
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
    # Ids written in a layout nobody recorded cannot be read.
    assert main(args + sets) == 2
    assert "holds KEY.tokens.npy but no token_layout.json" in capsys.readouterr().err
    # With a layout, ids past its end make every sample bad: a whole pass of them stops the run.
    (tmp_path / "c" / "token_layout.json").write_text(TokenLayout(256, 64, 16).to_json())
    assert main(args + sets) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("trainer: error: corpus 0 of the mixture") and "none of the 6 samples" in err
