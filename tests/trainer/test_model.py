"""The transformer keeps attention inside documents, and its KV cache matches a full forward pass."""

from __future__ import annotations

import torch

from trainer.model import ModelConfig, Transformer, document_mask


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
