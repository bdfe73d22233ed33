"""Checkpoints with everything exact resume needs, and loading a trained model for use.

::

    RUN/run.json                      the resolved run config
    RUN/token_layout.json, tokenizer.json, vq.pt     the vocabulary (see trainer.assets)
    RUN/checkpoints/step_000100/
        model.pt                      weights
        optimizer.pt                  optimiser and scheduler state
        trainer.pt                    step, stage, RNG states (torch, CUDA, numpy, random)
        loader_rank{R}.pt             each rank's data loader position
    RUN/checkpoints/latest            name of the newest complete checkpoint

A checkpoint is written under a temporary name and renamed when complete, and ``latest``
is updated last, so a run killed mid-save resumes from the previous checkpoint.

Every file is written and read through ``trainer.torch_files``, which loads nothing but
tensors and plain data (``weights_only=True``): a checkpoint someone hands us runs no code.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.assets import Vocabulary
from trainer.config import RunConfig, run_config_from_dict
from trainer.model import Transformer
from trainer.torch_files import CheckpointError, from_safe, read_torch_file, to_safe


def rng_state() -> dict[str, Any]:
    """Every random generator the run touches."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore ``rng_state()`` output."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["random"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    """Folder of the checkpoint at ``step``."""
    return run_dir / "checkpoints" / f"step_{step:06d}"


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.exists():
        return None
    path = run_dir / "checkpoints" / pointer.read_text().strip()
    return path if path.is_dir() else None


def save_checkpoint(run_dir: Path, step: int, files: dict[str, Any], rank: int, barrier, keep: int) -> Path:
    """Write ``files`` (name -> object for ``torch.save``) of every rank into one checkpoint folder.

    Rank 0 prepares the temporary folder and commits it; ``barrier`` synchronises ranks.
    """
    files = {name: to_safe(obj) for name, obj in files.items()}  # before anything is written
    final = checkpoint_dir(run_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    for name, obj in files.items():
        torch.save(obj, tmp / name)
    barrier()
    if rank == 0:
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        pointer = run_dir / "checkpoints" / "latest"
        pointer.with_suffix(".tmp").write_text(final.name)
        pointer.with_suffix(".tmp").replace(pointer)
        steps = sorted(p for p in (run_dir / "checkpoints").glob("step_*") if not p.name.endswith(".tmp"))
        for old in steps[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def load_file(ckpt: Path, name: str) -> Any:
    """One file of a checkpoint, loaded safely on the CPU (see the module docstring)."""
    blob = read_torch_file(ckpt / name)
    try:
        return from_safe(blob)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{ckpt / name} is not a valid checkpoint: a numpy entry is malformed ({exc})") from None


def resolve_checkpoint(path: str | Path) -> tuple[Path, Path]:
    """``(run_dir, checkpoint_dir)`` from either a run folder (its latest checkpoint) or a step folder."""
    path = Path(path)
    if (path / "model.pt").exists():
        return path.parent.parent, path
    if (path / "run.json").exists():
        ckpt = latest_checkpoint(path)
        if ckpt is None:
            raise FileNotFoundError(f"run {path} has no complete checkpoint yet")
        return path, ckpt
    raise FileNotFoundError(f"{path} is neither a run folder (with run.json) nor a checkpoint (with model.pt)")


def load_trained(path: str | Path, device: str = "cpu") -> tuple[Transformer, Vocabulary, RunConfig]:
    """A trained model in eval mode, with its vocabulary and run config, from a run or checkpoint folder."""
    run_dir, ckpt = resolve_checkpoint(path)
    cfg = run_config_from_dict(json.loads((run_dir / "run.json").read_text()))
    vocab = Vocabulary.load(run_dir, device)
    model = Transformer(cfg.model, vocab.layout.vocab_size)
    model.load_state_dict(load_file(ckpt, "model.pt"))
    return model.to(device).eval(), vocab, cfg
