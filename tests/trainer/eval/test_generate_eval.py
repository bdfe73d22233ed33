"""Constrained decoding always yields well-formed images; generate writes a page; eval prints metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from trainer_corpus import TINY, scene_corpus, write_raw_shard

from schemas.token_layout import ImageCodes, TokenLayout
from trainer.cli import main
from trainer.config import CorpusSpec, load_run_config
from trainer.generate.constraints import LayoutConstraint
from trainer.generate.generator import Generator
from trainer.generate.sampling import SamplingOptions, filter_logits
from trainer.train.checkpoint import load_trained
from trainer.train.loop import train


@pytest.fixture(scope="module")
def run(tmp_path_factory, untrained_vq):
    root = tmp_path_factory.mktemp("gen")
    scene_corpus(root / "corpus", 12, two_groups=0.3)
    cfg = load_run_config("trainer/configs/tiny.yaml", TINY)
    train(cfg, [CorpusSpec(str(root / "corpus"))], root / "run", vq=str(untrained_vq), max_steps=2, progress=False)
    return root


def test_constrained_decoding_always_yields_well_formed_images(run):
    model, vocab, _ = load_trained(run / "run")
    gen = Generator(model, vocab)
    lay = vocab.layout
    # An untrained model samples at high temperature: only the constraint keeps images well formed.
    prompts = ["one red circle", "", "four yellow squares on the right"]
    codes = gen.image_codes(prompts, cfg_scale=2.0, opts=SamplingOptions(temperature=2.0), seed=3)
    assert codes.shape == (3, 8, 8) and codes.min() >= 0 and codes.max() < lay.codebook_size
    docs = gen.interleaved(["a"] * 4, max_new_tokens=200, opts=SamplingOptions(temperature=1.5), seed=1)
    for doc in docs:
        parts = lay.decode(np.asarray(doc.tokens))  # raises on a malformed image block
        for p in parts:
            if isinstance(p, ImageCodes):
                assert p.codes.shape == (8, 8)
    assert any(isinstance(p, np.ndarray) and p.shape == (64, 64, 3) for d in docs for p in d.parts) or \
        all(lay.boi not in d.tokens for d in docs)


def test_constraint_state_machine_forces_the_image_block(run):
    _, vocab, _ = load_trained(run / "run")
    lay = vocab.layout
    c = LayoutConstraint(lay, grid=(2, 3))
    assert c.allowed()[lay.boi] and c.allowed()[lay.eos] and not c.allowed()[lay.image_offset]
    c.advance(lay.boi)
    assert c.allowed().nonzero().flatten().tolist() == [lay.height_token(2)]
    c.advance(lay.height_token(2))
    c.advance(lay.width_token(3))
    for _ in range(6):
        assert c.allowed()[lay.image_offset:lay.special_offset].all() and not c.allowed()[lay.eoi]
        c.advance(lay.image_offset)
    assert c.allowed().nonzero().flatten().tolist() == [lay.eoi]


def test_top_k_and_top_p_filters():
    import torch

    logits = torch.tensor([[4.0, 3.0, 2.0, -1.0]])
    assert torch.isinf(filter_logits(logits, 2, 1.0)).tolist() == [[False, False, True, True]]
    kept = ~torch.isinf(filter_logits(logits, 0, 0.5))
    assert kept.tolist() == [[True, False, False, False]]


def test_generate_writes_a_page_and_eval_prints_metrics(run, capsys):
    page = run / "page.html"
    assert main(["generate", str(run / "run"), "--prompt", "two red circles on the left", "--mode", "image",
                 "--samples", "2", "--out", str(page)]) == 0
    assert page.read_text().count("data:image/png;base64") == 2
    image = next((run / "corpus").glob("shards/*.tar"))
    assert main(["generate", str(run / "run"), "--mode", "caption", "--image", str(image), "--out",
                 str(page)]) == 2  # a tar is not an image: one-line error
    capsys.readouterr()
    assert main(["eval", str(run / "run"), "--data", str(run / "corpus"), "--judge", "sample-web",
                 "--prompts", "3", "--max-batches", "2"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("loss", "loss_text", "loss_image", "t2i_accuracy", "caption_accuracy", "ilscore_image_quality"):
        assert key in metrics
    assert metrics["caption_images"] == 3


def test_eval_refuses_corpora_it_cannot_read(run, capsys):
    # Tokenized in another layout: the ids would mean other tokens.
    other = run / "other-layout"
    scene_corpus(other, 3)
    (other / "token_layout.json").write_text(TokenLayout(1000, 64, 16).to_json())
    assert main(["eval", str(run / "run"), "--data", str(other)]) == 2
    assert "another token layout" in capsys.readouterr().err
    # Nothing in it can be tokenized: an error, not a loss of 0 over no tokens.
    garbled = run / "garbled"
    write_raw_shard(garbled, [{"__key__": f"k{i}", "json": b"{not json"} for i in range(3)])
    assert main(["eval", str(run / "run"), "--data", str(garbled)]) == 2
    assert "gave no tokens to evaluate (3 samples could not be tokenized" in capsys.readouterr().err
