"""Model stages with real models: a tiny open_clip CLIP built from a config, NudeNet's bundled detector."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from image_records import describe

from dataengine.filters.clip import ClipScorer, image_context
from dataengine.filters.images import open_rgb
from dataengine.filters.nsfw import ClipSafetyHead, NsfwFilter
from dataengine.runner.config import StageConfig
from dataengine.stages.base import Batch
from schemas import Document, ImageRecord, Segment, SourceRef, document_id, validate_document

CAPTIONS = {"img1.png": "A comfortable bed.", "img2.jpg": "A bus.",
            "img3.jpg": "Black and white photograph of a woman holding an umbrella.",
            "cat.jpg": "Two cats sleeping on a pink couch.", "blip.jpg": "A woman and her dog on a beach."}


def photo_doc(fixtures: Path, url: str, names: list[str]) -> Document:
    """A document interleaving fixture photos (alt text and caption) with text around them."""
    images, segments = [], [Segment.of_text("Pictures from our trip.", "h1")]
    for i, name in enumerate(names):
        record = ImageRecord(i, f"https://photos.example/{name}", alt=CAPTIONS.get(name),
                             caption="A photo." if i == 0 else None)
        describe(record, (fixtures / "photos" / name).read_bytes())
        images.append(record)
        segments += [Segment.of_image(i), Segment.of_text(f"We took picture {i} on day {i + 1}.", "p")]
    doc_id = document_id(url, "test")
    for im in images:
        im.member = f"{doc_id}.{im.index}.{im.format}"
    return Document(doc_id, url, SourceRef("urls", "test"), segments=segments, images=images)


def direct_cosine(config: str, checkpoint: str, pairs: list[tuple[bytes, str]]) -> list[float]:
    """CLIP similarity computed by hand for (image bytes, text) pairs: normalised embeddings, dot product."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(Path(config).stem, pretrained=checkpoint)
    model.eval()
    tokenizer = open_clip.get_tokenizer(Path(config).stem)
    out = []
    with torch.no_grad():
        for data, text in pairs:
            image = model.encode_image(preprocess(open_rgb(data)).unsqueeze(0))
            words = model.encode_text(tokenizer([text]))
            image, words = image / image.norm(dim=-1, keepdim=True), words / words.norm(dim=-1, keepdim=True)
            out.append(float((image @ words.T).item()))
    return out


def test_clip_scores_match_a_direct_computation(fixtures, tiny_clip):
    config, checkpoint = tiny_clip
    names = ["img1.png", "img2.jpg", "img3.jpg", "cat.jpg", "blip.jpg"]
    docs = [photo_doc(fixtures, "https://trip.example/a", names[:3]), photo_doc(fixtures, "https://trip.example/b",
                                                                               names[3:])]
    stage = StageConfig("clip_score", {"model": config, "pretrained": checkpoint, "threshold": None,
                                       "batch_size": 2, "device": "cpu"}).build()  # as an actor builds it
    batch = stage(Batch("p", docs))
    assert batch.docs == docs and batch.rejected == []
    first = docs[0].images[0]
    assert set(first.scores) == {"clip_alt", "clip_caption", "clip_context"}
    assert set(docs[1].images[1].scores) == {"clip_alt", "clip_context"}  # no caption, no score
    assert image_context(docs[0], 0, 300) == "Pictures from our trip. We took picture 0 on day 1."
    bed, cat = (fixtures / "photos" / "img1.png").read_bytes(), (fixtures / "photos" / "cat.jpg").read_bytes()
    expected = direct_cosine(config, checkpoint, [(bed, "A comfortable bed."), (bed, image_context(docs[0], 0, 300)),
                                                  (cat, CAPTIONS["cat.jpg"])])
    got = [first.scores["clip_alt"], first.scores["clip_context"], docs[1].images[0].scores["clip_alt"]]
    assert got == pytest.approx(expected, abs=1e-5)
    for doc in docs:
        validate_document(doc.to_json())


def test_clip_threshold_policies(fixtures, tiny_clip):
    config, checkpoint = tiny_clip
    names = ["img1.png", "img2.jpg", "img3.jpg", "cat.jpg"]
    scorer = ClipScorer(model=config, pretrained=checkpoint, threshold=None, device="cpu")
    probe = photo_doc(fixtures, "https://trip.example/probe", names)
    scorer(Batch("p", [probe]))
    best = sorted(max(im.scores[f"clip_{k}"] for k in ("alt", "caption", "context") if f"clip_{k}" in im.scores)
                  for im in probe.images)
    threshold = (best[1] + best[2]) / 2  # two images fall below it, two stay above

    per_image = ClipScorer(model=config, pretrained=checkpoint, threshold=threshold, device="cpu")
    doc = photo_doc(fixtures, "https://trip.example/c", names)
    batch = per_image(Batch("p", [doc]))
    assert batch.docs == [doc]
    assert sorted(im.status for im in doc.images) == ["failed", "failed", "ok", "ok"]
    for row in batch.rejected:
        assert (row.level, row.reason, row.threshold) == ("image", "clip_similarity_low", threshold)
        assert row.value < threshold and row.detail.startswith("best: ")
        assert doc.images[row.image_index].error == "clip_similarity_low"

    whole = ClipScorer(model=config, pretrained=checkpoint, threshold=threshold, action="drop_document",
                       device="cpu")
    kept = photo_doc(fixtures, "https://trip.example/d", names[:1])
    kept.images[0].alt = kept.images[0].caption = None
    kept.segments = [s for s in kept.segments if s.kind == "image"]  # no text at all: nothing to judge by
    batch = whole(Batch("p", [photo_doc(fixtures, "https://trip.example/e", names), kept]))
    assert batch.docs == [kept] and kept.images[0].scores == {}
    assert [(r.level, r.reason) for r in batch.rejected] == [("document", "clip_similarity_low")]
    with pytest.raises(ValueError, match="action"):
        ClipScorer(model=config, pretrained=checkpoint, action="drop_everything", device="cpu")


def test_nudenet_on_real_photos_finds_nothing_unsafe(fixtures):
    names = sorted(p.name for p in (fixtures / "photos").iterdir())
    assert len(names) == 13
    docs = [photo_doc(fixtures, f"https://photos.example/{n}", [n]) for n in names]
    docs[0].images[0].data = b"\xff\xd8\xff\xe0 not really a jpeg"  # one bad record among them
    stage = StageConfig("nsfw", {"batch_size": 4, "device": "cpu"}).build()
    batch = stage(Batch("p", docs))
    assert len(batch.docs) == 13
    assert [(r.level, r.reason) for r in batch.rejected] == [("image", "decode_failed")]
    for doc in docs[1:]:
        assert 0.0 <= doc.images[0].scores["nsfw"] < 0.5 and doc.images[0].status == "ok"


def test_clip_safety_head_swaps_in_and_drops_documents(fixtures, tiny_clip, tmp_path):
    config, checkpoint = tiny_clip
    torch.manual_seed(1)
    head = torch.nn.Sequential(torch.nn.Linear(32, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    head_path = tmp_path / "head.pt"
    torch.save(head.state_dict(), head_path)
    params = {"head": str(head_path), "model": config, "pretrained": checkpoint}
    detector = ClipSafetyHead(device="cpu", **params)
    data = (fixtures / "photos" / "cat.jpg").read_bytes()
    with torch.no_grad():
        emb = detector.model.encode_image(detector.preprocess(open_rgb(data)).unsqueeze(0))
        expected = torch.sigmoid(head(emb / emb.norm(dim=-1, keepdim=True))).item()
    assert detector.score([open_rgb(data)])[0]["nsfw"] == pytest.approx(expected, abs=1e-5)

    with torch.no_grad():  # a head that calls everything unsafe exercises the document policy
        head[2].bias.fill_(20.0)
    torch.save(head.state_dict(), head_path)
    stage = NsfwFilter(detector="clip_head", detector_params=params, action="drop_document", device="cpu")
    docs = [photo_doc(fixtures, "https://photos.example/x", ["cat.jpg", "img2.jpg"])]
    batch = stage(Batch("p", docs))
    assert batch.docs == []
    assert [(r.level, r.reason, r.image_index, r.detail) for r in batch.rejected] == [
        ("document", "nsfw_high", 0, "image 0: nsfw")]
    with pytest.raises(ValueError, match="detector_params"):
        NsfwFilter(detector="clip_head", detector_params={"weights": "x"}, device="cpu")
    bad = tmp_path / "bad.pt"
    torch.save(torch.nn.Linear(16, 1).state_dict(), bad)
    with pytest.raises(ValueError, match="takes 16-d embeddings"):
        ClipSafetyHead(device="cpu", **{**params, "head": str(bad)})
