"""The whole loop on the sample web: crawl, filter, dedup, tokenize, publish, train, caption, judge.

The model trains with the scene-world recipe on a small world beside the crawled corpus, and
is scored on the world's held-out compositions.

Small sizes (12 pages, a VQ and a model trained for two steps) keep it to about a minute; ``make
demo`` runs the same ``run_full_loop`` at full size.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dataengine.catalog.validate import validate_corpus
from dataengine.demo.loop import LoopConfig, format_loop, run_full_loop
from dataengine.shards import iter_corpus, list_shards
from dataengine.tokenize.vocabulary import corpus_vocabulary
from schemas.token_layout import ImageCodes
from trainer.text_tokenizer import load_text_tokenizer

TINY = {"model.dim": 32, "model.n_heads": 2, "model.n_kv_heads": 1, "model.n_layers": 1, "data.seq_len": 128,
        "data.batch_size": 2, "data.num_workers": 0, "train.warmup_steps": 1, "train.log_every": 1}


@pytest.mark.slow
def test_sample_web_to_published_shards_to_a_trained_model(ray_session, tmp_path):
    from trainer.config import CorpusSpec, load_run_config
    from trainer.train.loop import train
    from trainer.vq.tokenizer import ImageTokenizer

    torch.set_num_threads(1)
    config = LoopConfig(pages=12, vocab_size=320, vq_steps=2, train_steps=3, train_overrides=TINY, world_size=2,
                        tokens_per_shard=2000, eval_images=6, samples=2, world_pairs=200, world_interleaved=20)
    result = run_full_loop(tmp_path, config)
    print(format_loop(result))

    docs = result.documents
    assert docs["deduplicated"] == docs["tokenized"] == docs["published"] > 0
    assert validate_corpus(result.final) == []
    assert len(list_shards(result.final)) % config.world_size == 0

    # Every published document carries its tokens; image blocks hold exactly the VQ's codes.
    vocab = corpus_vocabulary(result.final)
    vq, text = ImageTokenizer.load(vocab.vq), load_text_tokenizer(vocab.text)
    n_images = 0
    for doc in iter_corpus(result.final):
        parts = vocab.layout.decode(doc.tokens)
        codes = [p.codes for p in parts if isinstance(p, ImageCodes)]
        ok = [im.data for im in doc.images if im.status == "ok"]
        assert len(codes) == len(ok)
        if ok:
            np.testing.assert_array_equal(np.stack(codes), vq.encode(ok))
        written = "\n\n".join(text.decode(p.tolist()) for p in parts if not isinstance(p, ImageCodes))
        assert all(seg.text in written for seg in doc.segments if seg.kind == "text" and seg.text)
        n_images += len(ok)
    assert docs["image_tokens"] == n_images * vq.grid ** 2

    # The trainer needs no tokenizer of its own for these shards: without a VQ every sample still reads.
    cfg = load_run_config(config.train_config, {"tokenizer.text": vocab.text, "tokenizer.vq": None, **TINY,
                                                "stages": []})
    rows = train(cfg, [CorpusSpec(result.final)], tmp_path / "tokens-only", max_steps=2, device="cpu",
                 progress=False)
    assert rows[-1]["step"] == 2 and rows[-1]["data_bad_samples"] == 0 and rows[-1]["data_documents"] > 0

    # The trained model captioned scene images, and the judge scored them against the ground truth.
    assert result.captions.n > 0 and result.captions.model.startswith("unified:")
    assert result.heldout_captions.n == config.eval_images
    assert 0.0 <= result.captions.mean <= 1.0 and 0.0 <= result.heldout_captions.mean <= 1.0
    assert all(p.is_file() for p in result.samples) and len(result.samples) == 1

    # The recipe's three stages ran (the crawled corpus mixed into the last two), and text-to-image was
    # scored on every held-out composition of the world.
    metrics = [json.loads(line) for line in (result.run / "metrics.jsonl").read_text().splitlines()]
    assert list(dict.fromkeys(m["stage"] for m in metrics)) == ["align", "mixed", "interleaved"]
    run_cfg = json.loads((result.run / "run.json").read_text())
    assert run_cfg["stages"][1]["mixture"][-1]["path"] == result.final
    t2i = result.text_to_image
    assert t2i["t2i_prompts"] == 64 and t2i["t2i_heldout_share"] == 1.0 and 0.0 <= t2i["t2i_accuracy"] <= 1.0
    assert "held-out compositions" in format_loop(result)
