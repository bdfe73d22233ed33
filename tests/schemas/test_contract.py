"""The data contract: documents round-trip, validation names fields, the token layout is exact."""

from __future__ import annotations

import json
import re

import jsonschema
import numpy as np
import pytest

from schemas import (
    Document,
    DocumentError,
    ImageCodes,
    ImageRecord,
    Rejection,
    Segment,
    SourceRef,
    TokenLayout,
    document_id,
    document_problems,
    read_document,
    validate_document,
)
from schemas.scenes import Scene, SceneObject
from schemas.validate import json_schema


def make_doc() -> Document:
    doc_id = document_id("HTTP://Example.COM:80/a?b=1#frag", "s3://bucket/x.warc.gz", 1234)
    return Document(
        id=doc_id, url="http://example.com/a?b=1", source=SourceRef("warc", "s3://bucket/x.warc.gz", 1234, 99),
        segments=[Segment.of_text("Hello", "p"), Segment.of_image(0), Segment.of_text("World")],
        images=[ImageRecord(0, "http://example.com/i.png", alt="an image", status="ok", member=f"{doc_id}.0.png",
                            width=4, height=3, format="png", sha256="a" * 64)],
        language="en", scores={"q": 0.5})


def test_document_json_round_trip_and_schema():
    doc = make_doc()
    obj = json.loads(json.dumps(doc.to_json()))
    assert Document.from_json(obj).to_json() == obj
    jsonschema.validate(obj, json_schema())
    validate_document(obj)


def test_read_document_parses_key_json_and_names_the_key_when_it_cannot():
    doc = make_doc()
    assert read_document(json.dumps(doc.to_json()).encode(), doc.id).to_json() == doc.to_json()
    textless = {"id": "k", "url": "u", "source": {"kind": "crawl", "uri": "u"}, "segments": [{"type": "text"}]}
    for raw, problem in ((b"{not json", "is not valid JSON"), (b"\xff\xfe", "is not valid JSON"),
                         (b"[1, 2]", "is not a document (TypeError"), (b'{"id": "k"}', "is not a document (KeyError"),
                         (json.dumps(textless).encode(), "is not a document (KeyError")):
        with pytest.raises(ValueError, match=rf"^sample k7: KEY.json {re.escape(problem)}"):
            read_document(raw, "k7")


def test_document_id_is_stable_and_canonical():
    a = document_id("HTTP://Example.COM:80/a?b=1#frag", "src", 1)
    assert a == document_id("http://example.com/a?b=1", "src", 1)
    assert a != document_id("http://example.com/a?b=1", "src", 2)
    assert "." not in a and len(a) == 24


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["images"][0].update(status="ok", member=None), "images[0].member"),
    (lambda d: d["segments"].append({"type": "image", "image": 5}), "segments[3].image"),
    (lambda d: d["images"][0].update(index=3), "images[0].index"),
    (lambda d: d["images"][0].update(sha256="xyz"), "images[0].sha256"),
    (lambda d: d["source"].update(kind="ftp"), "source.kind"),
    (lambda d: d.pop("url"), "(document)"),
    (lambda d: d["images"][0].update(status="failed", error=None), "images[0].error"),
])
def test_validate_document_names_the_field(mutate, field):
    obj = make_doc().to_json()
    mutate(obj)
    problems = document_problems(obj)
    assert problems and any(p.startswith(field) for p in problems), problems
    with pytest.raises(DocumentError):
        validate_document(obj)


def test_rejection_level_is_checked():
    assert Rejection("x", "u", "image", "s", "r", image_index=2).to_row()["image_index"] == 2
    with pytest.raises(ValueError, match="level"):
        Rejection("x", "u", "page", "s", "r")


def test_token_layout_round_trip_and_ranges():
    layout = TokenLayout(text_vocab_size=300, codebook_size=64, max_grid=8)
    codes = np.arange(12).reshape(3, 4) % 64
    tokens = layout.encode([np.array([1, 2, 3]), ImageCodes(codes), np.array([299])])
    assert tokens.dtype == np.int32
    assert tokens[0] == layout.bos and tokens[-1] == layout.eos
    parts = layout.decode(tokens)
    assert [type(p).__name__ for p in parts] == ["ndarray", "ImageCodes", "ndarray"]
    np.testing.assert_array_equal(parts[1].codes, codes)
    assert layout.is_image_code(tokens).sum() == 12
    assert layout.is_text(tokens).sum() == 4
    assert max(tokens) < layout.vocab_size
    assert TokenLayout.from_json(layout.to_json()) == layout


def test_token_layout_rejects_malformed_images():
    layout = TokenLayout(300, 64, 8)
    tokens = layout.encode([ImageCodes(np.zeros((2, 2), dtype=int))])
    with pytest.raises(ValueError, match="eoi"):
        layout.decode(tokens[:-3])  # cut inside the image
    with pytest.raises(ValueError, match="codebook"):
        layout.image_tokens(np.full((2, 2), 64))
    with pytest.raises(ValueError, match="grid height"):
        layout.image_tokens(np.zeros((9, 1), dtype=int))


def test_scene_caption_and_vocabulary():
    scene = Scene((SceneObject("triangle", "blue", 1, "center"), SceneObject("square", "red", 3, "top")))
    assert scene.caption() == "One blue triangle in the center and three red squares on the top."
    assert Scene.from_json(scene.to_json()) == scene
    with pytest.raises(ValueError, match="colour"):
        SceneObject("circle", "magenta", 1, "left")
