"""Checkpoints load with ``weights_only``: a crafted file is refused before any of it runs.

A pickle can name any callable to call on load; these files name ``open`` with a marker
path, so the marker exists exactly when loading ran the payload.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_corpus import TINY, scene_corpus

from trainer.cli import main
from trainer.config import ConfigError, CorpusSpec, load_run_config
from trainer.train.checkpoint import latest_checkpoint, load_file, rng_state, save_checkpoint, set_rng_state
from trainer.train.loop import train
from trainer.vq.tokenizer import ImageTokenizer


class Payload:
    """Unpickles as ``open(marker, "w")``: loading it creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def plant(path: Path, marker: Path) -> None:
    """Overwrite ``path`` with a torch file whose loading runs the payload."""
    torch.save({"kind": "vq", "state_dict": {}, "payload": Payload(marker)}, path)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The only stderr line since the last read, which must be the CLI's one-line error."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("trainer: error: "), err
    return err[0]


def test_a_crafted_vq_checkpoint_is_refused_and_never_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"
    vq = tmp_path / "vq" / "vq.pt"
    vq.parent.mkdir()
    plant(vq, marker)
    with pytest.raises(ConfigError, match=r"vq\.pt is not a valid checkpoint"):
        ImageTokenizer.load(vq.parent)
    assert not marker.exists()

    scene_corpus(tmp_path / "c", 2)
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
    assert main(["train", "trainer/configs/tiny.yaml", "--data", str(tmp_path / "c"), "--out",
                 str(tmp_path / "run"), "--vq", str(vq), "--quiet", *sets]) == 2
    line = one_error_line(capsys)
    assert str(vq) in line and "not a valid checkpoint" in line
    assert not marker.exists()

    vq.write_bytes(b"not a torch file at all")  # plain garbage reads the same way
    with pytest.raises(ConfigError, match=r"vq\.pt is not a valid checkpoint"):
        ImageTokenizer.load(vq)
    torch.save({"kind": "dataengine-vq", "config": {"no_such_key": 1}, "state_dict": {}}, vq)
    with pytest.raises(ConfigError, match=r"vq\.pt is not a valid VQ checkpoint: .*no_such_key"):
        ImageTokenizer.load(vq)


def test_a_crafted_training_checkpoint_is_refused_on_resume_and_generate(tmp_path, untrained_vq, capsys):
    scene_corpus(tmp_path / "c", 6)
    train(load_run_config("trainer/configs/tiny.yaml", TINY), [CorpusSpec(str(tmp_path / "c"))],
          tmp_path / "run", vq=str(untrained_vq), max_steps=2, progress=False)
    ckpt = latest_checkpoint(tmp_path / "run")
    good = tmp_path / "good"
    shutil.copytree(ckpt, good)
    marker = tmp_path / "pwned"
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
    resume = ["train", "trainer/configs/tiny.yaml", "--data", str(tmp_path / "c"), "--out", str(tmp_path / "run"),
              "--vq", str(untrained_vq), "--max-steps", "2", "--resume", "--quiet", *sets]
    for name in ("model.pt", "optimizer.pt", "trainer.pt", "loader_rank0.pt"):
        shutil.rmtree(ckpt)
        shutil.copytree(good, ckpt)
        plant(ckpt / name, marker)
        assert main(resume) == 2, name
        line = one_error_line(capsys)
        assert str(ckpt / name) in line and "not a valid checkpoint" in line
        assert not marker.exists(), name

    shutil.rmtree(ckpt)
    shutil.copytree(good, ckpt)
    plant(ckpt / "model.pt", marker)
    assert main(["generate", str(tmp_path / "run"), "--prompt", "a red circle", "--out",
                 str(tmp_path / "page.html")]) == 2
    line = one_error_line(capsys)
    assert str(ckpt / "model.pt") in line and "not a valid checkpoint" in line
    assert not marker.exists()


def test_run_state_round_trips_exactly_through_a_weights_only_load(tmp_path):
    np.random.seed(1)
    random.seed(2)
    torch.manual_seed(3)
    docs = [np.arange(5, dtype=np.int64), np.zeros((2, 3), dtype=np.uint16), np.array([1.5], dtype=">f4")]
    state = {"rng": rng_state(), "ready": docs, "drawn": np.int64(7), "pair": (1, "a", None), "stage": 0}
    ckpt = save_checkpoint(tmp_path, 1, {"loader_rank0.pt": state}, 0, lambda: None, keep=1)
    torch.load(ckpt / "loader_rank0.pt", weights_only=True)  # anyone can read it without trusting us
    expected = (np.random.random(), random.random(), torch.rand(1).item())
    back = load_file(ckpt, "loader_rank0.pt")
    for got, want in zip(back["ready"], docs):
        assert got.dtype == want.dtype and got.shape == want.shape and (got == want).all()
    assert type(back["drawn"]) is np.int64 and back["drawn"] == 7
    assert back["pair"] == (1, "a", None) and back["stage"] == 0
    set_rng_state(back["rng"])
    assert (np.random.random(), random.random(), torch.rand(1).item()) == expected

    with pytest.raises(TypeError, match="cannot be saved in a checkpoint"):
        save_checkpoint(tmp_path, 2, {"trainer.pt": {"spec": CorpusSpec("x")}}, 0, lambda: None, keep=1)
