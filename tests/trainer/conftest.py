"""Shared pieces of the trainer tests: one CPU thread, a tiny untrained VQ, small corpora."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # the `corpus` helper module

from trainer.vq.model import VQConfig, VQModel  # noqa: E402
from trainer.vq.tokenizer import ImageTokenizer  # noqa: E402

torch.set_num_threads(1)  # the machine's cores are shared; tests must not grab them all


@pytest.fixture(scope="session")
def untrained_vq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VQ checkpoint (64x64 images, 8x8 codes, 64 codes) with random weights: enough to tokenize."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vq") / "vq.pt"
    ImageTokenizer(VQModel(VQConfig(codebook_size=64, channels=16))).save(path)
    return path


TINY = {"model.dim": 64, "model.n_heads": 2, "model.n_kv_heads": 1, "model.n_layers": 2,
        "data.seq_len": 96, "data.batch_size": 2, "data.num_workers": 0, "train.log_every": 1,
        "train.warmup_steps": 2}
