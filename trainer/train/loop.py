"""The training loop: stages, steps, metrics, checkpoints and exact resume.

``train()`` runs a whole plan (one stage, or the progressive stages of the config) on one
process or as one rank of a ``torchrun``/Ray Train job. Each step reads ``grad_accum``
packed batches per rank, runs forward/backward (bf16 autocast on GPU), clips gradients and
takes an AdamW step with the warmup-cosine schedule. Metrics go to ``RUN/metrics.jsonl``;
checkpoints hold model, optimiser, scheduler, loader position and RNG state, so a run
stopped and resumed logs the same losses as one that never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from schemas.corpus import LAYOUT_FILE, TOKENIZER_FILE
from schemas.token_layout import TokenLayout
from trainer.assets import Vocabulary, resolve_vocabulary
from trainer.config import ConfigError, CorpusSpec, RunConfig, StageConfig, run_config_from_dict
from trainer.data.loader import LoaderSpec, ShardLoader
from trainer.data.shards import list_shards
from trainer.data.tokenize import DocumentTokenizer
from trainer.model import Transformer, flops_per_token
from trainer.train.checkpoint import (
    latest_checkpoint,
    load_file,
    resolve_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from trainer.train.distributed import DistInfo, all_reduce_sum, init_distributed
from trainer.train.loss import batch_loss
from trainer.train.plan_check import check_corpora, check_rows
from trainer.train.schedule import lr_factor

log = logging.getLogger(__name__)

# Dense bf16 peak FLOP/s per GPU, for MFU (vendor datasheets, without sparsity).
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12}


def peak_flops(device: torch.device, configured: float | None) -> float | None:
    """Peak FLOP/s of one device: the configured value, else looked up from the GPU name (None on CPU)."""
    if configured:
        return configured
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def set_trainable(model: Transformer, patterns: list[str]) -> int:
    """Train the parameters whose names match any pattern, freeze the rest; returns how many train."""
    n = 0
    for name, p in model.named_parameters():
        p.requires_grad = any(fnmatch.fnmatch(name, pat) for pat in patterns)
        n += p.numel() if p.requires_grad else 0
    if n == 0:
        raise ConfigError(f"stage trainable patterns {patterns} match no parameter")
    return n


def build_optimizer(model: Transformer, cfg: RunConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not norms)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.train.lr, betas=(cfg.train.beta1, cfg.train.beta2),
                             fused=device.type == "cuda")


def make_loader(cfg: RunConfig, vocab: Vocabulary, mixture: list[CorpusSpec], seq_len: int, batch_size: int,
                info: DistInfo) -> ShardLoader:
    """The rank's loader for one stage."""
    tokenizer = DocumentTokenizer(vocab.layout, vocab.text, vocab.images, cfg.data.pair_order,
                                  cfg.data.condition_dropout, cfg.data.seed)
    spec = LoaderSpec(corpora=[list_shards(c.path) for c in mixture], weights=[c.weight for c in mixture],
                      tokenizer=tokenizer, seq_len=seq_len, batch_size=batch_size, seed=cfg.data.seed,
                      shuffle_buffer=cfg.data.shuffle_buffer, min_piece=cfg.data.min_piece,
                      pack_lookahead=cfg.data.pack_lookahead, tokenize_batch=cfg.data.tokenize_batch,
                      rank=info.rank, world_size=info.world_size, num_workers=cfg.data.num_workers)
    return ShardLoader(spec)


class MetricsLog:
    """``metrics.jsonl`` of a run; on resume, lines past the resumed step are dropped first."""

    def __init__(self, path: Path, resumed_step: int, enabled: bool):
        self.path, self.enabled = path, enabled
        if enabled and path.exists():
            keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= resumed_step]
            path.write_text("".join(ln + "\n" for ln in keep))

    def write(self, row: dict[str, Any]) -> None:
        """Append one row."""
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")


def _stage_at(plan: list[StageConfig], step: int) -> tuple[int, int]:
    start = 0
    for i, stage in enumerate(plan):
        if step < start + stage.steps:
            return i, start
        start += stage.steps
    return len(plan) - 1, start - plan[-1].steps


def init_from(cfg: RunConfig, init: str, vq: str | None) -> tuple[RunConfig, Path, TokenLayout]:
    """``cfg`` set up to start from the checkpoint ``init``: its model shape, text tokenizer and VQ.

    Returns the config, the checkpoint folder and the token layout the checkpoint was trained in.
    """
    try:
        run_dir, ckpt = resolve_checkpoint(init)
        spec = json.loads((run_dir / TOKENIZER_FILE).read_text())
        layout = TokenLayout.from_json((run_dir / LAYOUT_FILE).read_text())
        model_cfg = run_config_from_dict(json.loads((run_dir / "run.json").read_text())).model
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"--init {init}: not a trained run or checkpoint ({exc})".splitlines()[0]) from None
    tokenizer = dataclasses.replace(cfg.tokenizer, text=spec["text"],
                                    vq=vq or (str(run_dir / spec["vq"]) if spec.get("vq") else None))
    return dataclasses.replace(cfg, model=model_cfg, tokenizer=tokenizer), ckpt, layout


def train(cfg: RunConfig, corpora: list[CorpusSpec], out: str | Path, *, vq: str | None = None,
          max_steps: int | None = None, resume: bool = False, device: str | None = None,
          progress: bool = True, init: str | None = None) -> list[dict[str, Any]]:
    """Train (or resume) the run in ``out`` up to ``max_steps`` (default: the whole plan); returns metric rows.

    ``init`` (a run or checkpoint folder) starts from its weights, model shape and tokenizers
    instead of a random model; a resumed run continues from its own checkpoint instead.
    """
    info = init_distributed(device)
    out = Path(out)
    init_ckpt = init_layout = None
    if init:
        cfg, init_ckpt, init_layout = init_from(cfg, init, vq)
    plan, total = cfg.stage_plan(), cfg.total_steps()
    stop = min(max_steps or total, total)
    mixtures = cfg.stage_mixtures(corpora)
    if not all(mixtures):
        raise ConfigError("no training data: pass --data CORPUS or set data.mixture in the config")
    check_corpora(plan, mixtures)
    if vq:
        cfg.tokenizer.vq = vq
    vocab = resolve_vocabulary(cfg.tokenizer.text, cfg.tokenizer.vq,
                               sorted({c.path for m in mixtures for c in m}), cfg.tokenizer.max_grid)
    longest = max(s.seq_len or cfg.data.seq_len for s in plan)
    if longest > cfg.model.max_seq_len:
        raise ConfigError(f"sequence length {longest} exceeds model.max_seq_len {cfg.model.max_seq_len}")
    check_rows(plan, mixtures, cfg.data.seq_len, vocab)
    if init_layout is not None and init_layout != vocab.layout:
        raise ConfigError(f"--init {init} was trained in token layout {init_layout.to_json()}, but the corpora "
                          f"are in {vocab.layout.to_json()}: align data must come from that checkpoint")
    if info.is_main:
        vocab.save(out)
        (out / "run.json").write_text(json.dumps(cfg.to_dict(), indent=1))

    torch.manual_seed(cfg.train.seed)
    model = Transformer(cfg.model, vocab.layout.vocab_size).to(info.device)
    optimizer = build_optimizer(model, cfg, info.device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.train.warmup_steps, total, cfg.train.min_lr_ratio))
    step, loader_state = 0, None
    ckpt = latest_checkpoint(out) if resume else None
    if ckpt is not None:
        model.load_state_dict(load_file(ckpt, "model.pt"))
        opt_state = load_file(ckpt, "optimizer.pt")
        optimizer.load_state_dict(opt_state["optimizer"])
        scheduler.load_state_dict(opt_state["scheduler"])
        step = load_file(ckpt, "trainer.pt")["step"]
        rank_state = load_file(ckpt, f"loader_rank{info.rank}.pt")
        set_rng_state(rank_state["rng"])
        loader_state = rank_state
        log.info("resumed from %s at step %d", ckpt, step)
    elif resume and init_ckpt is None:
        log.warning("--resume: no checkpoint in %s yet, starting from step 0", out)
    if ckpt is None and init_ckpt is not None:
        model.load_state_dict(load_file(init_ckpt, "model.pt"))
        log.info("starting from the weights of %s", init_ckpt)

    metrics = MetricsLog(out / "metrics.jsonl", step, info.is_main)
    rows: list[dict[str, Any]] = []
    peak = peak_flops(info.device, cfg.train.peak_flops)
    bar = tqdm(total=stop, initial=step, disable=not (progress and info.is_main), desc="train", unit="step")
    while step < stop:
        index, start = _stage_at(plan, step)
        stage = plan[index]
        seq_len = stage.seq_len or cfg.data.seq_len
        set_trainable(model, stage.trainable)
        loader = make_loader(cfg, vocab, mixtures[index], seq_len, stage.batch_size or cfg.data.batch_size, info)
        if loader_state is not None and loader_state["stage"] == index:
            loader.load_state_dict(loader_state["loader"])
        loader_state = None
        runner: torch.nn.Module = model
        if info.world_size > 1:
            device_ids = [info.local_rank] if info.device.type == "cuda" else None
            runner = DistributedDataParallel(model, device_ids=device_ids)
        if cfg.train.compile:
            runner = torch.compile(runner)
        stage_end = min(start + stage.steps, stop)
        step = _run_stage(cfg, stage, index, seq_len, runner, model, vocab, optimizer, scheduler, loader,
                          info, step, stage_end, stop, metrics, rows, peak, bar, out)
    bar.close()
    return rows


def _run_stage(cfg: RunConfig, stage: StageConfig, index: int, seq_len: int, runner: torch.nn.Module,
               model: Transformer, vocab: Vocabulary, optimizer: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler, loader: ShardLoader, info: DistInfo, step: int,
               stage_end: int, stop: int, metrics: MetricsLog, rows: list[dict[str, Any]], peak: float | None,
               bar: tqdm, out: Path) -> int:
    """Steps ``step..stage_end`` of one stage; returns the step reached."""
    tc = cfg.train
    batches: Iterator[dict[str, torch.Tensor]] = iter(loader)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if info.device.type == "cuda" and tc.bf16
                else contextlib.nullcontext())
    params = [p for p in model.parameters() if p.requires_grad]
    fpt = flops_per_token(cfg.model, model.num_params(), seq_len)
    sums = torch.zeros(6, device=info.device)  # loss, text ce, text n, image ce, image n, grad norm
    tokens_seen, steps_in_window, t0 = 0, 0, time.perf_counter()
    while step < stage_end:
        for micro in range(tc.grad_accum):
            batch = {k: v.to(info.device, non_blocking=True) for k, v in next(batches).items()}
            sync = micro == tc.grad_accum - 1 or not isinstance(runner, DistributedDataParallel)
            with (contextlib.nullcontext() if sync else runner.no_sync()), autocast:
                parts = batch_loss(runner, batch, vocab.layout, cfg.data.text_loss_weight, cfg.data.image_loss_weight)
                loss = parts["weighted"] / parts["weight"].clamp(min=1) / tc.grad_accum
            loss.backward()
            sums[:5] += torch.stack([loss.detach().float(), parts["text_ce"], parts["text_n"],
                                     parts["image_ce"], parts["image_n"]])
            tokens_seen += batch["tokens"][:, :-1].numel()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip if tc.grad_clip > 0 else float("inf"))
        sums[5] += grad_norm.float()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        steps_in_window += 1
        bar.update(1)
        if step % tc.log_every == 0 or step == stop:
            totals = all_reduce_sum(sums.clone(), info).tolist()
            dt = time.perf_counter() - t0
            tps = tokens_seen * info.world_size / dt
            row = {"step": step, "stage": stage.name, "loss": totals[0] / steps_in_window / info.world_size,
                   "loss_text": totals[1] / max(totals[2], 1), "loss_image": totals[3] / max(totals[4], 1),
                   "lr": scheduler.get_last_lr()[0], "grad_norm": totals[5] / steps_in_window / info.world_size,
                   "tokens_per_s": tps, "seq_len": seq_len, **{f"data_{k}": v for k, v in loader.stats().items()}}
            if peak:
                row["mfu"] = fpt * tps / (peak * info.world_size)
            metrics.write(row)
            rows.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}")
            sums.zero_()
            tokens_seen, steps_in_window, t0 = 0, 0, time.perf_counter()
        if step % tc.ckpt_every == 0 or step == stop:
            files = {f"loader_rank{info.rank}.pt": {"stage": index, "loader": loader.state_dict(), "rng": rng_state()}}
            if info.is_main:
                files.update({"model.pt": model.state_dict(), "trainer.pt": {"step": step, "stage": index},
                              "optimizer.pt": {"optimizer": optimizer.state_dict(),
                                               "scheduler": scheduler.state_dict()}})
            save_checkpoint(out, step, files, info.rank, info.barrier, tc.keep_checkpoints)
    return step
