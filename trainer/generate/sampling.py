"""Sampling one token from logits: temperature, top-k and nucleus (top-p) filtering."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SamplingOptions:
    """How to pick tokens; ``temperature`` 0 means greedy."""

    temperature: float = 1.0
    top_k: int = 0        # 0: no top-k filter
    top_p: float = 1.0    # 1.0: no nucleus filter


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Set logits outside the top-k and outside the smallest set with probability >= top_p to -inf."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        # Drop a token when the tokens before it already reach top_p (the first token always stays).
        drop = probs.cumsum(-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def sample(logits: torch.Tensor, opts: SamplingOptions, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of ``logits`` (B, V)."""
    if opts.temperature <= 0:
        return logits.argmax(-1)
    logits = filter_logits(logits.float() / opts.temperature, opts.top_k, opts.top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)
