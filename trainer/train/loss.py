"""The training objective: next-token cross-entropy inside documents, weighted per modality.

A packed batch row holds ``L + 1`` tokens; the model reads the first ``L`` and predicts the
last ``L``. A target counts only when it belongs to the same segment as its input (so no
document predicts the start of the next one) and is not padding. Targets that are image
codes weigh ``image_weight``, everything else (text, specials) ``text_weight``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from schemas.token_layout import TokenLayout
from trainer.model import Transformer, document_mask


def batch_loss(model: Transformer | torch.nn.Module, batch: dict[str, torch.Tensor], layout: TokenLayout,
               text_weight: float = 1.0, image_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Sums for one micro-batch: ``weighted`` (sum of w*ce), ``weight``, and per modality ce sums and counts."""
    tokens, segments = batch["tokens"], batch["segments"]
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    valid = (segments[:, :-1] == segments[:, 1:]) & (targets != layout.pad)
    logits = model(inputs, batch["positions"][:, :-1], document_mask(segments[:, :-1]))
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
