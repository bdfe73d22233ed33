"""Running ``train()`` on a Ray cluster with Ray Train's ``TorchTrainer``.

Each Ray Train worker is one rank: Ray sets up the process group and the ``RANK`` /
``WORLD_SIZE`` / ``LOCAL_RANK`` environment, and ``train()`` joins it exactly as under
``torchrun``. The run folder must be on storage every worker can reach (a shared file
system), since rank 0 writes the model and every rank writes its loader position. Ray's
own records of the run go to ``OUT/ray/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _worker_loop(ctx: dict[str, Any]) -> None:
    import ray.train.torch

    from trainer.config import CorpusSpec, load_run_config
    from trainer.train.loop import train

    cfg = load_run_config(ctx["config"], ctx["overrides"])
    corpora = [CorpusSpec(p) for p in ctx["data"]] if ctx["data"] else cfg.data.mixture
    train(cfg, corpora, ctx["out"], vq=ctx["vq"], max_steps=ctx["max_steps"], resume=ctx["resume"],
          device=str(ray.train.torch.get_device()), progress=False)


def train_on_ray(config: str, data: list[str], out: str, num_workers: int, use_gpu: bool, *,
                 vq: str | None = None, max_steps: int | None = None, resume: bool = False,
                 overrides: dict[str, Any] | None = None) -> Any:
    """Start ``num_workers`` ranks with Ray Train on a running cluster and train; returns Ray's result.

    The cluster is the one this process already joined, else the one ``RAY_ADDRESS`` (as
    ``ray job submit`` sets it) or ``ray start`` on this machine names. A local Ray is never
    started here: one machine trains under ``torchrun``.
    """
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from trainer.config import ConfigError

    if not ray.is_initialized():
        try:
            ray.init(address="auto", configure_logging=False, log_to_driver=False)
        except ConnectionError as exc:
            raise ConfigError(f"--ray-workers joins a running Ray cluster and none was found ({exc}); "
                              "start one with `ray start --head`, set RAY_ADDRESS, "
                              "or train on one machine with torchrun") from None

    def local(path: str) -> str:
        # Workers may start in another folder: hand them absolute paths (URLs as they are).
        return path if "://" in path else str(Path(path).resolve())

    ctx = {"config": local(config), "data": [local(d) for d in data], "out": local(out),
           "vq": local(vq) if vq else None, "max_steps": max_steps, "resume": resume, "overrides": overrides or {}}
    trainer = TorchTrainer(_worker_loop, train_loop_config=ctx,
                           scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu),
                           run_config=RunConfig(name="train", storage_path=str(Path(ctx["out"]) / "ray")))
    return trainer.fit()
