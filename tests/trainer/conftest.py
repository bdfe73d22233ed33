"""Shared fixtures of the trainer tests: one CPU thread, a tiny untrained VQ (corpora: ``trainer_corpus``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainer.vq.model import VQConfig, VQModel
from trainer.vq.tokenizer import ImageTokenizer

torch.set_num_threads(1)  # the machine's cores are shared; tests must not grab them all


@pytest.fixture(scope="session")
def untrained_vq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VQ checkpoint (64x64 images, 8x8 codes, 64 codes) with random weights: enough to tokenize."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vq") / "vq.pt"
    ImageTokenizer(VQModel(VQConfig(codebook_size=64, channels=16))).save(path)
    return path
