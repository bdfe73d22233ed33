"""``trainer vq train``: fit the VQ tokenizer on the images of one or more corpora.

Images with status ``ok`` are read from the shards, resized and centre-cropped to the
configured resolution and kept in memory (up to ``data.max_images``); a held-out slice of
them measures reconstruction PSNR and codebook usage (the fraction of codes that encode at
least one held-out patch, and the perplexity of their distribution).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from schemas.config import ConfigError, load
from trainer.data.shards import list_shards, read_samples, sample_document
from trainer.vq.model import VQConfig, VQModel
from trainer.vq.tokenizer import ImageTokenizer, to_tensor

log = logging.getLogger(__name__)


@dataclass
class VQTrainOptions:
    """Optimisation of the VQ."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0
    log_every: int = 25
    restart_every: int = 10   # steps between dead-code restarts


@dataclass
class VQDataOptions:
    """Which images the VQ sees."""

    max_images: int = 4096
    holdout: float = 0.1


@dataclass
class VQTrainConfig:
    """A whole VQ training config (``trainer/configs/vq_*.yaml``)."""

    vq: VQConfig = field(default_factory=VQConfig)
    train: VQTrainOptions = field(default_factory=VQTrainOptions)
    data: VQDataOptions = field(default_factory=VQDataOptions)


def load_vq_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> VQTrainConfig:
    """Read a VQ config from YAML; ``overrides`` maps dotted keys (``train.lr``) to values."""
    return load(VQTrainConfig, path, overrides, what="VQ training config")


def corpus_images(corpora: list[str], resolution: int, limit: int) -> torch.Tensor:
    """Up to ``limit`` images (N, 3, R, R) in [-1, 1] from the corpora's ``ok`` images, in shard order."""
    out: list[torch.Tensor] = []
    skipped = 0
    for corpus in corpora:
        for url in list_shards(corpus):
            for sample in read_samples(url):
                try:
                    doc = sample_document(sample)
                except ValueError as exc:
                    skipped += 1
                    log.warning("skipping sample: %s", exc)
                    continue
                for record in doc.images:
                    member = record.member or ""
                    data = sample.get(member[len(sample["__key__"]) + 1:])
                    if record.status != "ok" or data is None:
                        continue
                    try:
                        out.append(to_tensor([data], resolution))
                    except (OSError, ValueError) as exc:
                        skipped += 1
                        log.warning("skipping image %s of %s: %s", record.index, sample["__key__"], exc)
                    if len(out) >= limit:
                        return torch.cat(out)
    if skipped:
        log.warning("%d images or samples could not be read (see warnings above)", skipped)
    if not out:
        raise ConfigError(f"no readable images with status ok in {', '.join(corpora)}")
    return torch.cat(out)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak range 2)."""
    mse = float(torch.mean((a.clamp(-1, 1) - b) ** 2))
    return 10 * math.log10(4.0 / max(mse, 1e-10))


@torch.no_grad()
def measure(model: VQModel, images: torch.Tensor) -> dict[str, float]:
    """Reconstruction PSNR, codebook usage and code perplexity on ``images``."""
    model.eval()
    recon, codes = [], []
    for i in range(0, len(images), 128):
        c = model.encode(images[i:i + 128])
        codes.append(c.flatten())
        recon.append(model.decode(c))
    model.train()
    counts = torch.bincount(torch.cat(codes), minlength=model.cfg.codebook_size).float()
    p = counts / counts.sum()
    perplexity = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
    return {"psnr": psnr(torch.cat(recon), images), "codebook_usage": float((counts > 0).float().mean()),
            "perplexity": perplexity}


def train_vq(cfg: VQTrainConfig, corpora: list[str], out: str | Path, max_steps: int | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Train, save ``OUT/vq.pt`` and ``OUT/vq_metrics.jsonl``, and return the final held-out report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = corpus_images(corpora, cfg.vq.resolution, cfg.data.max_images)
    n_held = max(1, int(len(images) * cfg.data.holdout)) if len(images) > 1 else 0
    held, train_set = images[len(images) - n_held:], images[: len(images) - n_held]
    if n_held == 0:
        held = train_set
    log.info("VQ: %d training images, %d held out", len(train_set), len(held))
    torch.manual_seed(cfg.train.seed)
    model = VQModel(cfg.vq)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    opt = torch.optim.AdamW(list(model.encoder.parameters()) + list(model.decoder.parameters()), lr=cfg.train.lr,
                            betas=(0.9, 0.99), weight_decay=0.0)
    steps = min(max_steps or cfg.train.steps, cfg.train.steps)
    metrics = (out / "vq_metrics.jsonl").open("w")
    bar = tqdm(range(steps), disable=not progress, desc="vq train", unit="step")
    for step in bar:
        lr = cfg.train.lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(train_set), (min(cfg.train.batch_size, len(train_set)),), generator=gen)
        # Dead codes are only restarted every few steps so that EMA usage can reflect recent batches.
        model.codebook.dead_threshold = cfg.vq.dead_code_threshold if step % cfg.train.restart_every == 0 else -1.0
        recon, loss, _ = model(train_set[idx], generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % cfg.train.log_every == 0 or step + 1 == steps:
            row = {"step": step + 1, "loss": float(loss.detach()), "train_psnr": psnr(recon.detach(), train_set[idx]),
                   **{f"heldout_{k}": v for k, v in measure(model, held).items()}}
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()
            bar.set_postfix(psnr=f"{row['heldout_psnr']:.1f}", usage=f"{row['heldout_codebook_usage']:.2f}")
    metrics.close()
    model.codebook.dead_threshold = cfg.vq.dead_code_threshold
    report = {"steps": steps, "images": len(train_set), "heldout_images": len(held), **measure(model, held)}
    ImageTokenizer(model).save(out / "vq.pt", extra=report)
    (out / "vq_report.json").write_text(json.dumps(report))
    return report
