"""The VQ tokenizer trains from shard images, reports PSNR and usage, and round-trips encode/decode."""

from __future__ import annotations

import json

import numpy as np
import torch
from trainer_corpus import scene_corpus

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
    from trainer_corpus import text_corpus

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


def test_a_pretrained_janus_vq_folder_tokenizes_and_trains(tmp_path, capsys):
    from transformers import JanusVQVAEConfig
    from transformers.models.janus.modeling_janus import JanusVQVAE

    from trainer.train.checkpoint import load_trained
    from trainer.vq.tokenizer import to_tensor

    # Janus-Pro's VQ architecture at toy size (random weights), saved as transformers saves it.
    torch.manual_seed(0)
    janus = JanusVQVAE(JanusVQVAEConfig(embed_dim=8, num_embeddings=64, latent_channels=32, base_channels=32,
                                        channel_multiplier=[1, 1, 2], num_res_blocks=1, num_patches=8,
                                        projection_dim=32, image_token_embed_dim=32)).eval()
    janus.save_pretrained(tmp_path / "janus-vq")
    tok = ImageTokenizer.load(tmp_path / "janus-vq")
    assert (tok.resolution, tok.grid, tok.codebook_size) == (32, 8, 64)

    scene_corpus(tmp_path / "c", 8)
    from trainer.data.shards import list_shards, read_samples

    pngs = [s["0.png"] for s in read_samples(list_shards(str(tmp_path / "c"))[0])]
    codes = tok.encode(pngs)
    with torch.no_grad():
        direct = janus.encode(to_tensor(pngs, 32)).image_tokens.view(-1, 8, 8).numpy()
    assert np.array_equal(codes, direct)
    assert tok.decode(codes).shape == (8, 32, 32, 3)

    args = ["train", "trainer/configs/tiny.yaml", "--data", str(tmp_path / "c"), "--out", str(tmp_path / "run"),
            "--vq", str(tmp_path / "janus-vq"), "--max-steps", "2", "--quiet", "--set", "model.dim=96",
            "--set", "model.n_layers=1", "--set", "data.seq_len=96", "--set", "data.num_workers=0"]
    assert main(args) == 0
    model, vocab, _ = load_trained(tmp_path / "run")  # the run folder carries the Janus weights in vq.pt
    assert np.array_equal(vocab.images.encode(pngs), codes)

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "llama"}')
    capsys.readouterr()
    other = [str(tmp_path / "other") if a == str(tmp_path / "janus-vq") else a for a in args]
    assert main([str(tmp_path / "r2") if a == str(tmp_path / "run") else a for a in other]) == 2
    assert "janus_vqgan" in capsys.readouterr().err
