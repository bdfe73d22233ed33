"""The unified transformer: a Llama-style decoder over text ids, image codes and specials.

RMSNorm, rotary position embeddings with explicit per-token positions (packed documents
restart at 0), SwiGLU, grouped-query attention and optional QK-norm. ``KVCache`` serves
incremental decoding.

Attention stays inside a document. Training builds a ``DocumentAttention`` once per batch
with ``document_attention(segments)`` and every layer shares it: a token attends only to
earlier tokens of its own segment. ``ModelConfig.attention`` picks how that is computed:

- ``"flex"``: FlexAttention with a block mask (causal AND same segment). No (T, T) tensor is
  kept, fully masked blocks are skipped, and on CUDA both ``flex_attention`` and
  ``create_block_mask`` run through ``torch.compile`` (compiled once per process, lazily),
  which gives a fused kernel. On CPU it runs eagerly, forward only: torch's reference
  implementation materialises the scores and has no backward on CPU (it raises), so on CPU
  it serves tests that check the GPU path against the dense one, not training.
- ``"sdpa"``: ``scaled_dot_product_attention`` with a dense bool (B, 1, T, T) mask. O(T^2)
  memory, which is fine at the sequence lengths a CPU trains at.
- ``"auto"`` (default): flex on CUDA, sdpa elsewhere.

The generator's padded, KV-cached decoding passes its own bool masks; those always take the
SDPA path.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

ATTENTION_KINDS = ("auto", "flex", "sdpa")


@dataclass
class ModelConfig:
    """Shape of the transformer; the vocabulary size comes from the token layout."""

    dim: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None
    ffn_hidden: int | None = None    # None: 8/3 * dim rounded up to ``multiple_of``
    multiple_of: int = 32
    qk_norm: bool = True
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = False
    max_seq_len: int = 4096
    init_std: float = 0.02
    attention: str = "auto"          # "auto" (flex on CUDA, else sdpa), "flex" or "sdpa"; see the module docstring

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"model attention {self.attention!r} is not one of {', '.join(ATTENTION_KINDS)}")
        if self.dim % self.n_heads or self.n_heads % self.kv_heads:
            raise ValueError(f"dim {self.dim}, n_heads {self.n_heads} and n_kv_heads {self.kv_heads} "
                             "must divide evenly")

    @property
    def head_dim(self) -> int:
        """Channels per attention head."""
        return self.dim // self.n_heads

    @property
    def kv_heads(self) -> int:
        """Key/value heads (grouped-query attention when fewer than ``n_heads``)."""
        return self.n_kv_heads or self.n_heads

    @property
    def hidden(self) -> int:
        """SwiGLU hidden width."""
        if self.ffn_hidden:
            return self.ffn_hidden
        h = int(8 * self.dim / 3)
        return self.multiple_of * math.ceil(h / self.multiple_of)


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned scale."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the last dimension (in float32 for stability under bf16)."""
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def rope_tables(head_dim: int, max_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, shape ``(max_len, head_dim // 2)``."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inv)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of ``x`` (B, H, T, D) by per-position angles (B, 1, T, D/2)."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
    return out.type_as(x)


class KVCache:
    """Keys and values of earlier positions, per layer, for incremental decoding."""

    def __init__(self, n_layers: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layers
        self.values: list[torch.Tensor | None] = [None] * n_layers

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's keys/values to layer ``layer`` and return all of them."""
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=2)
            v = torch.cat([self.values[layer], v], dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v

    @property
    def length(self) -> int:
        """Positions cached so far."""
        return 0 if self.keys[0] is None else self.keys[0].shape[2]


@functools.cache
def _compiled(fn: Callable) -> Callable:
    """``torch.compile(fn)``, made once per process; compiling happens at its first call."""
    return torch.compile(fn)


def resolve_attention(kind: str, device: torch.device | str) -> str:
    """``"flex"`` or ``"sdpa"`` for a ``ModelConfig.attention`` value on ``device`` (auto: flex on CUDA)."""
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"attention {kind!r} is not one of {', '.join(ATTENTION_KINDS)}")
    if kind == "auto":
        return "flex" if torch.device(device).type == "cuda" else "sdpa"
    return kind


def document_mask(segments: torch.Tensor) -> torch.Tensor:
    """Causal mask that keeps attention inside each segment: bool (B, 1, T, T)."""
    t = segments.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=segments.device).tril()
    same = segments[:, :, None] == segments[:, None, :]
    return (same & causal)[:, None]


@dataclass(frozen=True)
class DocumentAttention:
    """Causal attention inside each packed document, for one batch; built once, shared by every layer.

    Exactly one of ``block_mask`` (the flex path) and ``dense`` (the SDPA path) is set.
    """

    segments: torch.Tensor                # int64 (B, T)
    block_mask: BlockMask | None = None
    dense: torch.Tensor | None = None     # bool (B, 1, T, T), True where attention is allowed

    @property
    def kind(self) -> str:
        """``"flex"`` or ``"sdpa"``."""
        return "flex" if self.block_mask is not None else "sdpa"


# What the model's forward takes as ``mask``: see ``Attention.forward``.
AttentionMask = DocumentAttention | torch.Tensor | None


def document_attention(segments: torch.Tensor, kind: str = "auto") -> DocumentAttention:
    """The attention spec for packed rows with segment ids ``segments`` (B, T), on their device.

    ``kind`` is a ``ModelConfig.attention`` value; see the module docstring for what each costs.
    """
    if resolve_attention(kind, segments.device) == "sdpa":
        return DocumentAttention(segments, dense=document_mask(segments))

    def same_document(b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        return (q >= kv) & (segments[b, q] == segments[b, kv])

    # Eager, create_block_mask evaluates the full (B, T, T) mask before reducing it to blocks (once per
    # batch, freed at once); compiled, as on CUDA, that work is fused and far cheaper.
    make = _compiled(create_block_mask) if segments.is_cuda else create_block_mask
    b, t = segments.shape
    # H=None: one mask for every head, broadcast by flex_attention.
    return DocumentAttention(segments, block_mask=make(same_document, b, None, t, t, device=segments.device))


def _flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_mask: BlockMask) -> torch.Tensor:
    """flex_attention, compiled on CUDA (the fused kernel), eager elsewhere (torch's reference, forward only)."""
    # Under bf16 autocast v comes out of a Linear in bf16 while QK-norm and RoPE leave q, k in
    # float32; flex's backward refuses mixed dtypes, so cast as SDPA's autocast would (a no-op in fp32).
    q, k = q.to(v.dtype), k.to(v.dtype)
    fn = _compiled(flex_attention) if q.is_cuda else flex_attention
    return fn(q, k, v, block_mask=block_mask, enable_gqa=k.shape[1] != q.shape[1])


class Attention(nn.Module):
    """Grouped-query self-attention with RoPE and optional QK-norm."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.kv_heads, self.head_dim = cfg.n_heads, cfg.kv_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)
        self.q_norm = RMSNorm(cfg.head_dim, cfg.norm_eps) if cfg.qk_norm else None
        self.k_norm = RMSNorm(cfg.head_dim, cfg.norm_eps) if cfg.qk_norm else None

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: AttentionMask,
                cache: KVCache | None, layer: int) -> torch.Tensor:
        """``mask``: a ``DocumentAttention``; or bool (B, 1, Tq, Tk), True where attention is allowed;
        or None, plain causal."""
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        if isinstance(mask, DocumentAttention):
            if mask.block_mask is not None:
                # flex shares key/value heads itself (enable_gqa), so no repeated copies.
                return self.wo(_flex(q, k, v, mask.block_mask).transpose(1, 2).reshape(b, t, -1))
            mask = mask.dense
        if self.kv_heads != self.n_heads:
            k = k.repeat_interleave(self.n_heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.n_heads // self.kv_heads, dim=1)
        if mask is None and k.shape[2] != t:
            # Queries are the last t of the keys: causal alignment is bottom-right, which is_causal is not.
            mask = torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(k.shape[2] - t)
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.wo(out.transpose(1, 2).reshape(b, t, -1))


class FeedForward(nn.Module):
    """SwiGLU: ``w2(silu(w1 x) * w3 x)``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.hidden, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.hidden, bias=False)
        self.w2 = nn.Linear(cfg.hidden, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the gated MLP."""
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn = FeedForward(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: AttentionMask,
                cache: KVCache | None, layer: int) -> torch.Tensor:
        """Residual attention then residual MLP."""
        x = x + self.attn(self.attn_norm(x), cos, sin, mask, cache, layer)
        return x + self.ffn(self.ffn_norm(x))


class Transformer(nn.Module):
    """Decoder-only transformer over the unified vocabulary."""

    def __init__(self, cfg: ModelConfig, vocab_size: int):
        super().__init__()
        self.cfg, self.vocab_size = cfg, vocab_size
        self.embed = nn.Embedding(vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.embed.weight
        cos, sin = rope_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Normal(0, init_std) weights; residual output projections scaled by depth (GPT-2 style)."""
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if p.dim() == 2:
                scale = 1 / math.sqrt(2 * self.cfg.n_layers) if name.endswith(("wo.weight", "w2.weight")) else 1
                nn.init.normal_(p, mean=0.0, std=std * scale)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count (without the embedding table, as in MFU estimates)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if non_embedding else n

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor | None = None,
                mask: AttentionMask = None, cache: KVCache | None = None) -> torch.Tensor:
        """Logits (B, T, V). ``positions`` (B, T) default to 0..T-1 after the cache; ``mask`` see ``Attention``.

        A ``DocumentAttention`` covers these T tokens alone, so it takes no earlier cached positions.
        """
        b, t = tokens.shape
        if isinstance(mask, DocumentAttention):
            if mask.segments.shape != tokens.shape:
                raise ValueError(f"document attention for {tuple(mask.segments.shape)} tokens, "
                                 f"got {tuple(tokens.shape)}")
            if cache is not None and cache.length:
                raise ValueError("document attention covers whole sequences; pass a bool mask after cached positions")
        if positions is None:
            start = cache.length if cache is not None else 0
            positions = torch.arange(start, start + t, device=tokens.device).expand(b, t)
        cos, sin = self.rope_cos[positions][:, None], self.rope_sin[positions][:, None]
        x = self.embed(tokens)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, cache, i)
        return self.output(self.norm(x))

    def new_cache(self) -> KVCache:
        """An empty key/value cache for this model."""
        return KVCache(self.cfg.n_layers)


def flops_per_token(cfg: ModelConfig, n_params: int, seq_len: int) -> float:
    """Training FLOPs per token: 6N for the matmuls plus attention scores (PaLM appendix B)."""
    return 6 * n_params + 12 * cfg.n_layers * cfg.dim * seq_len
