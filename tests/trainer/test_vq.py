"""The VQ tokenizer trains from shard images, reports PSNR and usage, and round-trips encode/decode."""

from __future__ import annotations

import json

import numpy as np
import torch
from corpus import scene_corpus

from trainer.cli import main
from trainer.vq.model import EMACodebook
from trainer.vq.tokenizer import ImageTokenizer


def test_vq_train_cli_reports_psnr_and_usage_and_tokenizer_round_trips(tmp_path, capsys):
    scene_corpus(tmp_path / "c", 20)
    sets = ["--set", "train.steps=4", "--set", "train.batch_size=8", "--set", "train.log_every=2",
            "--set", "vq.channels=8", "--set", "vq.codebook_size=32"]
    assert main(["vq", "train", "trainer/configs/vq_tiny.yaml", "--data", str(tmp_path / "c"),
                 "--out", str(tmp_path / "vq"), "--quiet", *sets]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["psnr"] > 0 and 0 < report["codebook_usage"] <= 1 and report["heldout_images"] == 2
    assert len((tmp_path / "vq" / "vq_metrics.jsonl").read_text().splitlines()) == 2
    tok = ImageTokenizer.load(tmp_path / "vq")
    images = np.full((3, 80, 100, 3), 255, dtype=np.uint8)  # any size: resized and centre-cropped
    codes = tok.encode(list(images))
    assert codes.shape == (3, 8, 8) and codes.dtype == np.int64
    assert tok.decode(codes).shape == (3, 32, 32, 3)  # vq_tiny reads scenes at 32x32


def test_vq_train_rejects_a_corpus_without_images(tmp_path, capsys):
    from corpus import text_corpus

    text_corpus(tmp_path / "t", 3)
    assert main(["vq", "train", "trainer/configs/vq_tiny.yaml", "--data", str(tmp_path / "t"),
                 "--out", str(tmp_path / "vq"), "--quiet"]) == 2
    assert "no readable images" in capsys.readouterr().err


def test_dead_codes_are_restarted_on_live_vectors():
    book = EMACodebook(size=16, dim=4, decay=0.5, dead_threshold=0.1)
    data = torch.randn(64, 4) + 10
    book.update(data, book.assign(data), torch.Generator().manual_seed(0))  # initialise from data
    book.embed[1:] = 0.0
    book.embed_sum[1:] = 0.0
    for _ in range(10):
        # Only code 0 is ever used: every other code decays below the threshold and is restarted.
        book.update(data[:8], torch.zeros(8, dtype=torch.long), torch.Generator().manual_seed(1))
    assert (book.embed[1:] - 10).abs().max() < 5  # restarted codes sit among the data, not at init noise
