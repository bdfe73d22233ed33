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

Every file is read with ``torch.load(weights_only=True)``: a pickle can name any function
to call on load, so a checkpoint (or a ``vq.pt``) someone hands us must not be unpickled
freely. Such a load accepts tensors, numbers, strings, ``None`` and dicts, lists and tuples
of them, so numpy arrays in the run state (RNG state, the loader's queued documents) are
saved as tensors of their bytes and turned back into arrays on load (``to_safe``/``from_safe``).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.assets import Vocabulary
from trainer.config import ConfigError, RunConfig, run_config_from_dict
from trainer.model import Transformer

# Key of the dict that stands for a numpy array or scalar in a saved file.
NDARRAY = "__ndarray__"
# What a weights_only load reads as it is.
PLAIN = (torch.Tensor, str, bytes, int, float, bool, type(None))


class CheckpointError(ConfigError):
    """A file given as a checkpoint cannot be loaded safely; reported like a config error (one line)."""


def read_torch_file(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``, onto the CPU; anything it refuses is a ``CheckpointError``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise  # missing or unreadable: the caller's FileNotFoundError message says more than we could
    except Exception as exc:  # torch.load fails with different types per format (zip, legacy, pickle)
        raise CheckpointError(f"{path} is not a valid checkpoint: {_why(exc)}") from None


def _why(exc: Exception) -> str:
    # torch's messages run over many lines with advice to load unsafely; keep the one fact that matters.
    text = str(exc)
    called = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if called:
        return f"loading it would call {called.group(1)}, so it was refused and nothing in it ran"
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else f"{type(exc).__name__} (empty or cut short)"


def to_safe(obj: Any) -> Any:
    """``obj`` in the types a ``weights_only`` load accepts: numpy arrays and scalars become tagged dicts.

    Raises ``TypeError`` for anything else, so a file that could not be read back is never written.
    """
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject or arr.dtype.kind == "V":
            raise TypeError(f"a numpy array of dtype {arr.dtype} cannot be saved in a checkpoint")
        data = torch.from_numpy(np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype=np.uint8).copy())
        return {NDARRAY: data, "dtype": arr.dtype.str, "shape": list(arr.shape),
                "scalar": isinstance(obj, np.generic)}
    if isinstance(obj, PLAIN):
        return obj
    if isinstance(obj, dict):
        if NDARRAY in obj:
            raise TypeError(f"a dict with the key {NDARRAY!r} cannot be saved in a checkpoint")
        out = {k: to_safe(v) for k, v in obj.items()}
        # Unchanged dicts are kept as they are: a state_dict carries its version in ``_metadata``.
        return obj if all(out[k] is v for k, v in obj.items()) else type(obj)(out)
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_safe(v) for v in obj)
    raise TypeError(f"{type(obj).__name__} cannot be saved in a checkpoint (weights_only loading would refuse it); "
                    "store it as tensors, numbers, strings, lists or dicts")


def from_safe(obj: Any) -> Any:
    """Undo ``to_safe``: tagged dicts become numpy arrays and scalars again."""
    if isinstance(obj, dict):
        if NDARRAY in obj:
            dtype = np.dtype(obj["dtype"])
            if dtype.hasobject:
                raise ValueError(f"numpy dtype {dtype} holds Python objects")
            arr = np.frombuffer(obj[NDARRAY].numpy().tobytes(), dtype=dtype).reshape(obj["shape"]).copy()
            return arr[()] if obj["scalar"] else arr
        out = {k: from_safe(v) for k, v in obj.items()}
        return obj if all(out[k] is v for k, v in obj.items()) else type(obj)(out)
    if isinstance(obj, (list, tuple)):
        return type(obj)(from_safe(v) for v in obj)
    return obj


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
