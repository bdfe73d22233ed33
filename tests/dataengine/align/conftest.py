"""A small scene world and a tiny unified model trained on it for seconds: what the loop's tests run on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dataengine.sampleweb.world import WorldConfig, write_world
from trainer.config import CorpusSpec, load_run_config
from trainer.train.loop import train
from trainer.vq.model import VQConfig, VQModel
from trainer.vq.tokenizer import ImageTokenizer

REPO = Path(__file__).resolve().parents[3]
TINY = {"model.dim": 64, "model.n_heads": 2, "model.n_kv_heads": 1, "model.n_layers": 2,
        "data.batch_size": 4, "train.log_every": 5, "train.warmup_steps": 2, "train.ckpt_every": 1000}


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """300 training pairs and 40 interleaved documents of the scene world, with its held-out split."""
    world = tmp_path_factory.mktemp("align") / "world"
    write_world(world, WorldConfig(pairs=300, interleaved=40, shard_size=200))
    return world


@pytest.fixture(scope="session")
def tiny_run(tiny_world: Path) -> Path:
    """A tiny model of the scene-world recipe, 12 steps of pairs on an untrained 32x32 VQ with 64 codes."""
    torch.manual_seed(0)
    vq = tiny_world.parent / "vq.pt"
    vq_config = VQConfig(resolution=32, downsample=4, codebook_size=64, channels=16, channel_mult=[1, 2])
    ImageTokenizer(VQModel(vq_config)).save(vq)
    cfg = load_run_config(REPO / "trainer" / "configs" / "scene_world.yaml",
                          {**TINY, "tokenizer.vq": str(vq), "stages": [
                              {"name": "align", "steps": 12, "seq_len": 128, "batch_size": 4,
                               "mixture": [{"path": "{data}/pairs"}]}]})
    run = tiny_world.parent / "run"
    train(cfg, [CorpusSpec(str(tiny_world))], run, device="cpu", progress=False)
    return run
