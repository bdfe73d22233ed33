"""Torch files that load without running code: checkpoints, run state, ``vq.pt``.

A pickle can name any function to call on load, so a file someone hands us is read with
``torch.load(weights_only=True)``, which accepts tensors, numbers, strings, ``None`` and
dicts, lists and tuples of them. Numpy arrays in the run state (RNG state, the loader's
queued documents) are therefore saved as tensors of their bytes and turned back into arrays
on load (``to_safe``/``from_safe``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.config import ConfigError

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
