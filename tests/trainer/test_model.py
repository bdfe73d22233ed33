"""The transformer keeps attention inside documents, and its KV cache matches a full forward pass.

The per-batch ``DocumentAttention`` (sdpa and flex) gives the logits and loss of the dense
document mask it replaced; flex runs here on CPU eagerly (forward only), so the GPU path's
masking is checked without a GPU.
"""

from __future__ import annotations

import pytest
import torch

from schemas.token_layout import TokenLayout
from trainer.model import (
    ModelConfig,
    Transformer,
    _compiled,
    document_attention,
    document_mask,
    resolve_attention,
)
from trainer.train.loss import attention_kind, batch_loss

# flex_attention warns once that, uncompiled, it is the unfused reference; on CPU that is the point.
eager_flex = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")


def tiny_model(**kw) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, **kw), vocab_size=50).eval()


def test_packed_documents_do_not_see_each_other():
    model = tiny_model()
    a, b = torch.randint(0, 50, (1, 7)), torch.randint(0, 50, (1, 5))
    packed = torch.cat([a, b], dim=1)
    segments = torch.tensor([[0] * 7 + [1] * 5])
    positions = torch.tensor([list(range(7)) + list(range(5))])
    with torch.no_grad():
        together = model(packed, positions, document_mask(segments))
        alone_a, alone_b = model(a), model(b)
    assert torch.allclose(together[:, :7], alone_a, atol=1e-5)
    assert torch.allclose(together[:, 7:], alone_b, atol=1e-5)


def test_kv_cache_matches_full_forward():
    model = tiny_model(qk_norm=False)
    tokens = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        full = model(tokens)
        cache = model.new_cache()
        steps = [model(tokens[:, :4], cache=cache)] + [model(tokens[:, i:i + 1], cache=cache) for i in range(4, 9)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_tiny_config_is_about_two_million_parameters():
    from trainer.config import load_run_config

    cfg = load_run_config("trainer/configs/tiny.yaml")
    n = Transformer(cfg.model, vocab_size=256 + 256 + 5 + 32).num_params(non_embedding=False)
    assert 1.5e6 < n < 3e6


def packed_batch(doc_lengths: list[list[int]], vocab: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Rows of several documents each (as the packer lays them out: positions restart at 0)."""
    gen = torch.Generator().manual_seed(seed)
    segments = torch.tensor([[i for i, n in enumerate(row) for _ in range(n)] for row in doc_lengths])
    positions = torch.tensor([[p for n in row for p in range(n)] for row in doc_lengths])
    return {"tokens": torch.randint(0, vocab, segments.shape, generator=gen), "segments": segments,
            "positions": positions}


# Rows of 301 tokens: documents shorter and longer than flex's 128-token blocks, so some blocks
# are skipped, some fully allowed and some partly masked.
ROWS = [[150, 100, 51], [20, 260, 21], [7, 5, 1, 288], [301]]


@pytest.mark.parametrize("kind", ["sdpa", pytest.param("flex", marks=eager_flex)])
def test_document_attention_matches_the_dense_mask(kind):
    model = tiny_model()
    batch = packed_batch(ROWS, 50)
    tokens, segments, positions = batch["tokens"], batch["segments"], batch["positions"]
    with torch.no_grad():
        dense = model(tokens, positions, document_mask(segments))
        spec = document_attention(segments, kind)
        new = model(tokens, positions, spec)
    assert spec.kind == kind
    assert (spec.dense is None) == (kind == "flex")
    assert torch.allclose(new, dense, atol=1e-5), (new - dense).abs().max()


@pytest.mark.parametrize("kind", ["sdpa", pytest.param("flex", marks=eager_flex)])
def test_batch_loss_matches_the_dense_mask_loss(kind):
    layout = TokenLayout(16, 8, 4)
    torch.manual_seed(0)
    cfg = ModelConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, attention=kind)
    model = Transformer(cfg, layout.vocab_size).eval()
    # L + 1 tokens a row: the model reads the first L (301, as above).
    # Text and image ids only (no pad), so every within-document target counts, at weight 1.
    batch = packed_batch([[row[0] + 1, *row[1:]] for row in ROWS], layout.special_offset, seed=1)
    tokens, segments = batch["tokens"], batch["segments"]
    with torch.no_grad():
        parts = batch_loss(model, batch, layout)
        logits = model(tokens[:, :-1], batch["positions"][:, :-1], document_mask(segments[:, :-1]))
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), reduction="none")
    valid = (segments[:, :-1] == segments[:, 1:]).flatten()
    assert torch.allclose(parts["weighted"], (ce * valid).sum(), rtol=1e-5)
    assert parts["weight"] == valid.sum()


def test_sdpa_document_attention_trains_on_cpu():
    model = tiny_model(attention="auto").train()
    batch = packed_batch([[30, 10], [5, 35]], 50)
    model(batch["tokens"], batch["positions"], document_attention(batch["segments"])).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_attention_is_chosen_by_device_and_config():
    segments = torch.zeros(1, 8, dtype=torch.long)
    assert document_attention(segments).kind == "sdpa"
    assert resolve_attention("auto", "cuda") == "flex" and resolve_attention("auto", "cpu") == "sdpa"
    assert resolve_attention("flex", "cpu") == "flex" and resolve_attention("sdpa", "cuda") == "sdpa"
    with pytest.raises(ValueError, match="'dense'"):
        ModelConfig(attention="dense")
    with pytest.raises(ValueError, match="'fast'"):
        document_attention(segments, "fast")
    model = tiny_model(attention="sdpa")

    class DataParallelLike(torch.nn.Module):
        def __init__(self, module: torch.nn.Module):
            super().__init__()
            self.module = module

    assert attention_kind(torch.compile(DataParallelLike(model))) == "sdpa"   # compiles only when called
    assert attention_kind(torch.nn.Linear(2, 2)) == "auto"


def test_flex_attention_is_compiled_once():
    from torch.nn.attention.flex_attention import flex_attention

    assert _compiled(flex_attention) is _compiled(flex_attention)


def test_document_attention_refuses_other_shapes_and_cached_positions():
    model = tiny_model()
    tokens = torch.randint(0, 50, (1, 6))
    with torch.no_grad(), pytest.raises(ValueError, match="document attention for"):
        model(tokens, mask=document_attention(torch.zeros(1, 5, dtype=torch.long)))
    cache = model.new_cache()
    with torch.no_grad():
        model(tokens, cache=cache)
        with pytest.raises(ValueError, match="whole sequences"):
            model(tokens[:, :1], mask=document_attention(torch.zeros(1, 1, dtype=torch.long)), cache=cache)
