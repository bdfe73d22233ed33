"""The model judges of the loop with real (tiny, random) models built from configs: open_clip and an HF ITM model."""

from __future__ import annotations

import pytest
import torch

from dataengine.align.scorers.clip import ClipJudge
from dataengine.align.scorers.vlm import VlmJudge
from dataengine.filters.clip import load_clip
from dataengine.filters.images import open_rgb
from dataengine.sampleweb.images import png_bytes
from dataengine.sampleweb.scenes import render_scene
from dataengine.stages.base import Batch
from schemas import Document, ImageRecord, Segment, SourceRef, document_id
from schemas.assessment import Assessment
from schemas.scenes import Scene

WORDS = ("a an one two three four red green blue yellow purple orange circle circles square squares "
         "triangle triangles on in the left right top bottom center and").split()


def _candidates() -> list[Document]:
    docs = []
    for k, caption in enumerate(["Two red circles on the left.", "One blue square in the center."]):
        scene = Scene.from_caption(caption, 32)
        url = f"generated://p{k}/r1/c0"
        a = Assessment(caption, f"p{k}", "text_to_image", 1, "ckpt", 0, 0, spec=scene.to_json())
        docs.append(Document(document_id(url, "t"), url, SourceRef("generated", "ckpt"),
                             segments=[Segment.of_text(caption), Segment.of_image(0)],
                             images=[ImageRecord(0, url + "/0.png", status="ok", format="png",
                                                 data=png_bytes(render_scene(scene, k)))],
                             assessment=a.to_json()))
    return docs


def test_clip_judge_scores_the_cosine_of_image_and_prompt(tiny_clip):
    config, checkpoint = tiny_clip
    out = ClipJudge(model=config, pretrained=checkpoint, threshold=-1.0)(Batch("p", _candidates()))
    model, preprocess, tokenizer = load_clip(config, checkpoint, "cpu")
    for doc in out.docs:
        verdict = Assessment.from_json(doc.assessment).judgement("clip")
        with torch.no_grad():
            img = model.encode_image(preprocess(open_rgb(doc.images[0].data))[None], normalize=True)
            txt = model.encode_text(tokenizer([doc.text]), normalize=True)
        assert verdict.score == pytest.approx(float((img * txt).sum()), abs=1e-5)
        assert verdict.passed is True  # every cosine reaches -1
    strict = ClipJudge(model=config, pretrained=checkpoint, threshold=1.01)(Batch("p", _candidates()))
    assert [Assessment.from_json(d.assessment).judgement("clip").passed for d in strict.docs] == [False, False]


@pytest.fixture(scope="module")
def tiny_itm(tmp_path_factory) -> str:
    """A randomly initialised BLIP image-text matching model, saved as a user's local model folder."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForImageTextRetrieval,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    root = tmp_path_factory.mktemp("itm")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *WORDS]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(vocab=str(root / "vocab.txt"))
    text = BlipTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, encoder_hidden_size=32, max_position_embeddings=64,
                          pad_token_id=0, sep_token_id=3)
    vision = BlipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=32, patch_size=8)
    torch.manual_seed(0)
    model = BlipForImageTextRetrieval(BlipConfig(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                                 projection_dim=32))
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                              tokenizer=tokenizer)
    model.save_pretrained(root / "tiny-itm")
    processor.save_pretrained(root / "tiny-itm")
    return str(root / "tiny-itm")


def test_vlm_judge_reads_p_match_from_the_matching_head(tiny_itm):
    from transformers import AutoProcessor, BlipForImageTextRetrieval

    out = VlmJudge(model=tiny_itm, threshold=0.0, device="cpu")(Batch("p", _candidates()))
    model = BlipForImageTextRetrieval.from_pretrained(tiny_itm).eval()
    processor = AutoProcessor.from_pretrained(tiny_itm)
    for doc in out.docs:
        verdict = Assessment.from_json(doc.assessment).judgement("vlm")
        inputs = processor(images=[open_rgb(doc.images[0].data)], text=[doc.text], return_tensors="pt")
        with torch.no_grad():
            expected = model(**inputs).itm_score.softmax(-1)[0, 1].item()
        assert verdict.score == pytest.approx(expected, abs=1e-4) and verdict.passed


def test_a_vlm_folder_that_is_not_a_model_fails_clearly(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert", "architectures": ["NoSuchModel"]}')
    with pytest.raises(ValueError, match="vlm: cannot load"):
        VlmJudge(model=str(tmp_path)).ready()
