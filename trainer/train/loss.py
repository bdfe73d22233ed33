"""The training objective: next-token cross-entropy inside documents, weighted per modality.

A packed batch row holds ``L + 1`` tokens; the model reads the first ``L`` and predicts the
last ``L``. A target counts only when it belongs to the same segment as its input (so no
document predicts the start of the next one) and is not padding. Targets that are image
codes weigh ``image_weight``, everything else (text, specials) ``text_weight``. Attention
inside documents is one ``DocumentAttention`` per micro-batch, as the model's config asks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from schemas.token_layout import TokenLayout
from trainer.model import Transformer, document_attention


def batch_loss(model: Transformer | torch.nn.Module, batch: dict[str, torch.Tensor], layout: TokenLayout,
               text_weight: float = 1.0, image_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Sums for one micro-batch: ``weighted`` (sum of w*ce), ``weight``, and per modality ce sums and counts."""
    tokens, segments = batch["tokens"], batch["segments"]
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    valid = (segments[:, :-1] == segments[:, 1:]) & (targets != layout.pad)
    # Built here, outside a compiled model, so create_block_mask is not traced into its graph.
    attention = document_attention(segments[:, :-1], attention_kind(model))
    logits = model(inputs, batch["positions"][:, :-1], attention)
    ce = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
    is_image = (targets >= layout.image_offset) & (targets < layout.special_offset)
    image_valid, text_valid = valid & is_image, valid & ~is_image
    weights = text_valid * text_weight + image_valid * image_weight
    return {
        "weighted": (ce * weights).sum(),
        "weight": weights.sum().float(),
        "text_ce": (ce * text_valid).sum().detach(),
        "text_n": text_valid.sum().float(),
        "image_ce": (ce * image_valid).sum().detach(),
        "image_n": image_valid.sum().float(),
    }


def attention_kind(model: torch.nn.Module) -> str:
    """The ``attention`` of the ``Transformer`` inside torch.compile and DDP wrappers; "auto" if none is found."""
    for _ in range(4):
        if isinstance(model, Transformer):
            return model.cfg.attention
        inner = getattr(model, "_orig_mod", None)   # torch.compile's OptimizedModule
        model = inner if inner is not None else getattr(model, "module", None)   # DistributedDataParallel
    return "auto"


def sequence_logprobs(model: Transformer | torch.nn.Module, sequences: list[list[int]], starts: list[int],
                      pad: int) -> torch.Tensor:
    """Sum of log p(token) over ``sequences[i][starts[i]:]``, each read as one document: (N,).

    Rows are right-padded into one batch; padding is a segment of its own, so it changes
    nothing. Gradients flow when the caller has them on (DPO); self-assessment calls it
    under ``no_grad``.
    """
    if not sequences:
        return torch.zeros(0)
    device = next(model.parameters()).device
    longest = max(len(s) for s in sequences)
    tokens = torch.full((len(sequences), longest), pad, dtype=torch.long)
    segments = torch.ones(len(sequences), longest, dtype=torch.long)
    scored = torch.zeros(len(sequences), longest - 1, dtype=torch.bool)
    for i, (seq, start) in enumerate(zip(sequences, starts)):
        if not 0 < start < len(seq):
            raise ValueError(f"sequence {i}: the scored part must start inside it (start {start}, length {len(seq)})")
        tokens[i, :len(seq)] = torch.tensor(seq)
        segments[i, :len(seq)] = 0
        scored[i, start - 1:len(seq) - 1] = True
    tokens, segments, scored = tokens.to(device), segments.to(device), scored.to(device)
    positions = torch.arange(longest, device=device).expand(len(sequences), -1)
    attention = document_attention(segments[:, :-1], attention_kind(model))
    logits = model(tokens[:, :-1], positions[:, :-1], attention).float()
    logp = torch.log_softmax(logits, -1).gather(-1, tokens[:, 1:, None]).squeeze(-1)
    return (logp * scored).sum(1)
