"""A pretrained image tokenizer from Hugging Face transformers: Janus-Pro's VQ, behind our VQ interface.

Janus and Janus-Pro (DeepSeek) generate images through a VQGAN with 16384 codes and 16x
downsampling (384-pixel images, 24x24 codes), which transformers ships as ``JanusVQVAE``.
Save it once from the full model, then pass the folder wherever a VQ checkpoint goes
(``trainer train --vq``, ``tokenizer.vq``, the engine's ``tokenize`` stage)::

    from transformers import JanusForConditionalGeneration
    model = JanusForConditionalGeneration.from_pretrained("deepseek-community/Janus-Pro-1B")
    model.model.vqmodel.save_pretrained("janus-vq")

Its pixels are in [-1, 1], as ours are. A run that uses it copies config and weights into
its ``vq.pt``, so the run folder stays self-contained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

KIND = "hf-janus-vq"


class JanusVQ(nn.Module):
    """``JanusVQVAE`` with the interface ``ImageTokenizer`` expects of a VQ model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.eval()
        cfg = model.config
        self.grid = cfg.num_patches
        self.codebook_size = cfg.num_embeddings
        # The encoder halves the resolution once per channel multiplier but the last.
        self.resolution = cfg.num_patches * 2 ** (len(cfg.channel_multiplier) - 1)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Code indices (B, h, w) for float images (B, 3, R, R) in [-1, 1]."""
        return self.model.encode(images).image_tokens.view(images.shape[0], self.grid, self.grid)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, R, R) in [-1, 1] for code indices (B, h, w)."""
        return self.model.decode(codes.reshape(codes.shape[0], -1)).clamp(-1, 1)

    def checkpoint(self) -> dict[str, Any]:
        """What ``ImageTokenizer.save`` writes: the transformers config and the weights."""
        return {"kind": KIND, "config": self.model.config.to_dict(), "state_dict": self.model.state_dict()}

    @classmethod
    def from_checkpoint(cls, blob: dict[str, Any]) -> JanusVQ:
        """Rebuild from ``checkpoint()`` output."""
        from transformers import JanusVQVAEConfig
        from transformers.models.janus.modeling_janus import JanusVQVAE

        config = {k: v for k, v in blob["config"].items() if k not in ("architectures", "transformers_version")}
        model = JanusVQVAE(JanusVQVAEConfig(**config))
        model.load_state_dict(blob["state_dict"])
        return cls(model)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> JanusVQ:
        """Load a folder written by ``JanusVQVAE.save_pretrained`` (local files only)."""
        from transformers.models.janus.modeling_janus import JanusVQVAE

        model_type = json.loads((Path(folder) / "config.json").read_text()).get("model_type")
        if model_type != "janus_vqgan":
            raise ValueError(f"{folder} holds a Hugging Face model of type {model_type!r}; the pretrained image "
                             "tokenizer read from a folder is Janus's VQ (model_type 'janus_vqgan')")
        return cls(JanusVQVAE.from_pretrained(str(folder), local_files_only=True))
