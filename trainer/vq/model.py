"""The VQ image tokenizer: a convolutional encoder, an EMA codebook with dead-code restarts, a decoder.

``VQModel.encode(images) -> codes`` maps float images (B, 3, R, R) in [-1, 1] to a grid of
codebook indices (B, R/f, R/f); ``decode(codes)`` maps them back. The codebook is updated
by exponential moving averages of the encoder outputs assigned to each code (VQ-VAE-2),
and codes nobody used for a while are restarted at random encoder outputs of the batch, so
that most of the codebook stays in use.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

KIND = "dataengine-vq"  # the checkpoint kind ``ImageTokenizer`` recognises


@dataclass
class VQConfig:
    """Resolution, downsampling factor, codebook and network width of the tokenizer."""

    resolution: int = 64
    downsample: int = 8              # a power of two; the code grid is resolution / downsample
    codebook_size: int = 256
    code_dim: int = 32
    channels: int = 32
    channel_mult: list[int] = field(default_factory=lambda: [1, 2, 2])  # one entry per halving
    res_blocks: int = 1
    ema_decay: float = 0.95
    commitment: float = 0.25
    dead_code_threshold: float = 0.03  # EMA vectors per batch below which a code is restarted (~70 idle steps)

    def __post_init__(self) -> None:
        levels = int(round(math.log2(self.downsample)))
        if 2 ** levels != self.downsample:
            raise ValueError(f"downsample must be a power of two, got {self.downsample}")
        if len(self.channel_mult) != levels:
            raise ValueError(f"channel_mult needs {levels} entries for downsample {self.downsample}, "
                             f"got {len(self.channel_mult)}")
        if self.resolution % self.downsample:
            raise ValueError(f"resolution {self.resolution} is not a multiple of downsample {self.downsample}")

    @property
    def grid(self) -> int:
        """Side of the code grid."""
        return self.resolution // self.downsample


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv residual block."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.net = nn.Sequential(nn.GroupNorm(min(8, cin), cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1),
                                 nn.GroupNorm(min(8, cout), cout), nn.SiLU(), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + f(x)."""
        return self.skip(x) + self.net(x)


class Encoder(nn.Module):
    """Images to continuous latents (B, code_dim, R/f, R/f)."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, cfg.channels, 3, padding=1)]
        c = cfg.channels
        for mult in cfg.channel_mult:
            cout = cfg.channels * mult
            layers.append(ResBlock(c, cout))
            layers += [ResBlock(cout, cout) for _ in range(cfg.res_blocks - 1)]
            layers.append(nn.Conv2d(cout, cout, 4, stride=2, padding=1))
            c = cout
        layers += [ResBlock(c, c), nn.GroupNorm(min(8, c), c), nn.SiLU(), nn.Conv2d(c, cfg.code_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode."""
        return self.net(x)


class Decoder(nn.Module):
    """Latents back to images in [-1, 1] (unclamped)."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        c = cfg.channels * cfg.channel_mult[-1]
        layers: list[nn.Module] = [nn.Conv2d(cfg.code_dim, c, 3, padding=1), ResBlock(c, c)]
        for mult in reversed(cfg.channel_mult):
            cout = cfg.channels * mult
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, cout, 3, padding=1)]
            layers += [ResBlock(cout, cout) for _ in range(cfg.res_blocks)]
            c = cout
        layers += [nn.GroupNorm(min(8, c), c), nn.SiLU(), nn.Conv2d(c, 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Decode."""
        return self.net(z)


class EMACodebook(nn.Module):
    """Nearest-neighbour quantiser whose codes follow EMA means of their assigned vectors."""

    def __init__(self, size: int, dim: int, decay: float, dead_threshold: float):
        super().__init__()
        self.size, self.dim, self.decay, self.dead_threshold = size, dim, decay, dead_threshold
        self.register_buffer("embed", torch.randn(size, dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(size))
        self.register_buffer("embed_sum", self.embed.clone())
        self.register_buffer("initialised", torch.tensor(False))

    def assign(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each row of ``flat`` (N, dim)."""
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t() + self.embed.pow(2).sum(1)[None]
        return dist.argmin(1)

    @torch.no_grad()
    def update(self, flat: torch.Tensor, idx: torch.Tensor, generator: torch.Generator | None) -> None:
        """EMA step on cluster sizes and sums, then restart codes whose usage fell below the threshold."""
        if not bool(self.initialised):
            # Start from data so no code begins far from every encoder output.
            pick = torch.randint(0, flat.shape[0], (self.size,), generator=generator, device=flat.device)
            self.embed.copy_(flat[pick])
            self.embed_sum.copy_(flat[pick])
            self.cluster_size.fill_(1.0)
            self.initialised.fill_(True)
            return
        onehot = F.one_hot(idx, self.size).type_as(flat)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (n + self.size * 1e-5) * n
        self.embed.copy_(self.embed_sum / smoothed[:, None])
        dead = self.cluster_size < self.dead_threshold
        n_dead = int(dead.sum())
        if n_dead:
            pick = torch.randint(0, flat.shape[0], (n_dead,), generator=generator, device=flat.device)
            fresh = flat[pick] + 1e-3 * torch.randn(n_dead, self.dim, generator=generator, device=flat.device)
            self.embed[dead] = fresh
            self.embed_sum[dead] = fresh
            self.cluster_size[dead] = 1.0


class VQModel(nn.Module):
    """Encoder + EMA codebook + decoder, with ``encode``/``decode`` between images and code grids."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.codebook = EMACodebook(cfg.codebook_size, cfg.code_dim, cfg.ema_decay, cfg.dead_code_threshold)
        self.resolution, self.codebook_size, self.grid = cfg.resolution, cfg.codebook_size, cfg.grid

    def checkpoint(self) -> dict[str, Any]:
        """What ``ImageTokenizer.save`` writes: config and weights."""
        return {"kind": KIND, "config": asdict(self.cfg), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, blob: dict[str, Any]) -> VQModel:
        """Rebuild from ``checkpoint()`` output."""
        model = cls(VQConfig(**blob["config"]))
        model.load_state_dict(blob["state_dict"])
        return model

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest codes for latents (B, D, h, w): quantised latents and indices (B, h, w)."""
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        idx = self.codebook.assign(flat)
        zq = self.codebook.embed[idx].view(b, h, w, d).permute(0, 3, 1, 2)
        return zq, idx.view(b, h, w)

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, training loss (reconstruction + commitment) and code indices.

        In training mode the codebook takes an EMA step on this batch.
        """
        z = self.encoder(images)
        zq, idx = self.quantize(z)
        if self.training:
            self.codebook.update(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).detach(), idx.view(-1), generator)
        commit = F.mse_loss(z, zq.detach())
        zq = z + (zq - z).detach()  # straight-through gradient to the encoder
        recon = self.decoder(zq)
        loss = F.mse_loss(recon, images) + self.cfg.commitment * commit
        return recon, loss, idx

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Code indices (B, h, w) for float images (B, 3, R, R) in [-1, 1]."""
        return self.quantize(self.encoder(images))[1]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, R, R) in [-1, 1] for code indices (B, h, w)."""
        zq = self.codebook.embed[codes].permute(0, 3, 1, 2)
        return self.decoder(zq).clamp(-1, 1)
