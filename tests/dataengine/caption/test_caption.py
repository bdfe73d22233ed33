"""The ``caption`` stage: a tiny BLIP built from a config and the bundled unified model, on real images."""

from __future__ import annotations

import pytest
import torch
from repo_paths import REPO
from scene_documents import corrupt_image, failed_image, make_document, photo_image, scene_corpus_documents, scene_image  # noqa: E402

from dataengine.caption.judge import caption_score, load_scenes, score_captions  # noqa: E402
from dataengine.caption.policy import needs_caption, usable_alt  # noqa: E402
from dataengine.caption.stage import Captioner  # noqa: E402
from dataengine.stages.base import Batch  # noqa: E402
from schemas import ImageRecord  # noqa: E402
from schemas.scenes import Scene, SceneObject  # noqa: E402

torch.set_num_threads(1)

WORDS = ("a an the of picture photo drawing one two three four red green blue yellow purple orange circle circles "
         "square squares triangle triangles on in left right top bottom center and").split()


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory) -> str:
    """A randomly initialised BLIP with a 40-word vocabulary, saved as a user's local model directory."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    root = tmp_path_factory.mktemp("blip")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *WORDS]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(vocab=str(root / "vocab.txt"), bos_token="[DEC]")
    text = BlipTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, encoder_hidden_size=32, max_position_embeddings=64,
                          bos_token_id=vocab.index("[DEC]"), eos_token_id=3, pad_token_id=0, sep_token_id=3)
    vision = BlipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=32, patch_size=8)
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                                    projection_dim=32))
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    path = root / "tiny-blip"
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("alt,usable", [
    ("Two red circles on the left.", True), ("Drawing: four yellow triangles", True),
    ("Zwei rote Kreise links.", True), ("", False), (None, False), ("   ", False), ("scene-0007.png", False),
    ("IMG_0042.JPG", False), ("Photo", False), ("Advertisement", False), ("image photo", False),
    ("https://example.com/a.jpg", False), ("Coffee break", True),
])
def test_usable_alt(alt, usable):
    assert usable_alt(alt) is usable


def test_policies_pick_images():
    ok = dict(status="ok", data=b"x")
    assert needs_caption(ImageRecord(0, "u", alt="file.png", **ok), "missing_alt")
    assert not needs_caption(ImageRecord(0, "u", alt="Two red circles on the left.", **ok), "missing_alt")
    assert not needs_caption(ImageRecord(0, "u", alt="", caption="Fig. 1", **ok), "missing_alt")
    assert needs_caption(ImageRecord(0, "u", alt="Two red circles on the left.", **ok), "all")
    assert not needs_caption(ImageRecord(0, "u", status="failed", error="http_404"), "all")


def _documents():
    described, _ = scene_image(0, 1, alt="Two red circles on the left.")
    named, _ = scene_image(0, 2, alt="scene-0002.png")
    figure, _ = scene_image(0, 3, alt="", caption="Figure 1. A scene.", caption_model="figcaption")
    return [make_document("/one.html", ["Intro.", described, "Middle.", named, photo_image(0, "coffee", alt=""),
                                        failed_image(0), "End."]),
            make_document("/two.html", [figure, "Text.", corrupt_image(0)])]


def test_tiny_blip_captions_images_without_usable_alt(tiny_blip):
    docs = _documents()
    stage = Captioner(model=tiny_blip, policy="missing_alt", max_new_tokens=6, batch_size=2)
    batch = stage(Batch("p", docs))
    assert len(batch.docs) == 2 and batch.counts["caption"]["in"] == batch.counts["caption"]["out"] == 2
    one, two = batch.docs
    described, named, photo, failed = one.images
    assert described.caption is None and described.alt == "Two red circles on the left."
    for image in (named, photo):
        assert isinstance(image.caption, str) and image.caption_model == tiny_blip
        assert image.alt in ("scene-0002.png", "")  # alt text stays beside the caption
    assert failed.caption is None and failed.status == "failed"
    figure, corrupt = two.images
    assert (figure.caption, figure.caption_model) == ("Figure 1. A scene.", "figcaption")
    assert corrupt.status == "ok" and corrupt.caption is None  # its alt text is usable: never opened
    assert batch.rejected == []


def test_tiny_blip_recaptions_all_with_a_prompt(tiny_blip):
    docs = _documents()
    stage = Captioner(model=tiny_blip, policy="all", prompt="a picture of", max_new_tokens=4, num_beams=2)
    batch = stage(Batch("p", docs))
    captioned = [im for d in batch.docs for im in d.images if im.status == "ok"]
    assert len(captioned) == 4
    assert [(r.level, r.reason, r.image_index) for r in batch.rejected] == [("image", "undecodable_image", 1)]
    assert batch.docs[1].images[1].status == "failed" and batch.docs[1].images[1].error == "undecodable_image"
    for image in captioned:
        assert image.caption_model == tiny_blip
        assert image.caption.startswith("a picture of")  # BLIP continues its text prompt


def test_bad_models_and_parameters_fail_clearly(tmp_path, tiny_blip):
    with pytest.raises(ValueError, match="cannot load .*nowhere"):
        Captioner(model=str(tmp_path / "nowhere")).ready()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="local model directory"):
        Captioner(model=str(tmp_path / "empty")).ready()
    with pytest.raises(ValueError, match="backend must be one of"):
        Captioner(model=tiny_blip, backend="magic")
    with pytest.raises(ValueError, match="policy must be one of"):
        Captioner(model=tiny_blip, policy="some")
    with pytest.raises(ValueError, match="cannot load the unified model"):
        Captioner(model=str(tmp_path / "empty"), backend="unified").ready()


def test_judge_scores_captions_against_the_scene():
    scene = Scene((SceneObject("circle", "red", 2, "left"), SceneObject("square", "blue", 1, "center")))
    assert caption_score(scene.caption(), scene) == 1.0
    assert caption_score("Figure 1. one blue square in the middle, two red circles on the left", scene) == 1.0
    assert caption_score("Two red circles.", scene) == pytest.approx(3 / 8)
    assert caption_score("", scene) == caption_score("a picture of the", scene) == 0.0
    invented = "Two red circles on the left, one blue square in the center and four green triangles at the top."
    assert caption_score(invented, scene) == pytest.approx(8 / 12)


def test_unified_model_captions_and_is_scored_against_the_ground_truth(tmp_path):
    from dataengine.sampleweb import SampleWebConfig, generate_site
    from dataengine.shards import ShardWriter
    from dataengine.tokenize.stage import DocumentTokenizer
    from dataengine.tokenize.vocabulary import write_vocabulary
    from trainer.config import CorpusSpec, load_run_config
    from trainer.train.loop import train
    from trainer.vq.model import VQConfig, VQModel
    from trainer.vq.tokenizer import ImageTokenizer

    torch.manual_seed(0)
    vq = tmp_path / "vq.pt"
    ImageTokenizer(VQModel(VQConfig(codebook_size=64, channels=16))).save(vq)
    docs = scene_corpus_documents(6, seed=5)
    stage = DocumentTokenizer(text_tokenizer="byte", vq=str(vq), max_grid=16, image_descriptions=True).ready()
    corpus = str(tmp_path / "corpus")
    with ShardWriter(corpus, "part-a", layout=stage.layout) as writer:
        for doc in stage(Batch("p", docs)).docs:
            writer.write(doc)
    write_vocabulary(corpus, stage.vocabulary)
    tiny = {"model.dim": 32, "model.n_heads": 2, "model.n_kv_heads": 1, "model.n_layers": 1, "data.seq_len": 96,
            "data.batch_size": 2, "data.num_workers": 0, "train.warmup_steps": 1, "tokenizer.vq": str(vq)}
    cfg = load_run_config(REPO / "trainer" / "configs" / "tiny.yaml", tiny)
    train(cfg, [CorpusSpec(corpus)], tmp_path / "run", max_steps=2, device="cpu", progress=False)

    captioner = Captioner(model=str(tmp_path / "run"), backend="unified", policy="all", max_new_tokens=12)
    batch = captioner(Batch("p", scene_corpus_documents(2, seed=6)))
    images = [im for d in batch.docs for im in d.images]
    assert images and all(im.caption_model == f"unified:{tmp_path / 'run' / 'checkpoints' / 'step_000002'}"
                          and isinstance(im.caption, str) for im in images)

    site = tmp_path / "site"
    generate_site(site, SampleWebConfig(pages=12, seed=0))
    scenes = load_scenes(site / "ground_truth.jsonl")
    path, scene = next(iter(scenes.items()))
    urls = [f"http://127.0.0.1:8000{path}"] * len(images)
    report = score_captions(zip(urls, [im.caption for im in images]), scenes, captioner.model.name)
    assert report.n == len(images) and 0.0 <= report.mean <= 1.0
    assert score_captions([(urls[0], scene.caption())], scenes).mean == 1.0
