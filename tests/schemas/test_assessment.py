"""The assessment contract: JSON round trip, validation messages, scene prompts and their questions."""

from __future__ import annotations

import pytest

from schemas import Document, SourceRef, validate_document
from schemas.assessment import Assessment, Judgement, aspect_questions, assessment_text
from schemas.scene_split import all_compositions
from schemas.scenes import Scene, SceneObject


def _assessment(**kw) -> Assessment:
    scene = Scene((SceneObject("circle", "red", 2, "left"),), 32)
    base = dict(prompt=scene.caption(), prompt_id="p1", mode="text_to_image", round=1, checkpoint="/run/step_000010",
                candidate=3, seed=42, sampling={"temperature": 1.0}, spec=scene.to_json(),
                judgements=[Judgement("ground_truth", "1", 0.75, False, {"count": 0.0}, {"count": "three drawn"})])
    return Assessment(**{**base, **kw})


def test_round_trip_and_lookup():
    a = _assessment()
    back = Assessment.from_json(a.to_json())
    assert back == a
    assert back.judgement("ground_truth").notes == {"count": "three drawn"}
    assert back.judgement("clip") is None
    assert back.scene().objects[0].count == 2


@pytest.mark.parametrize("change,message", [
    ({"mode": "painting"}, "mode must be one of"),
    ({"role": "winner"}, "role must be one of"),
    ({"round": "1"}, "round must be an integer"),
    ({"spec": {"objects": [{"shape": "hexagon"}]}}, "spec is not a scene"),
    ({"judgements": [{"judge": "x", "version": "1", "score": 1, "passed": "yes"}]}, "passed must be"),
])
def test_bad_assessments_name_what_is_wrong(change, message):
    with pytest.raises(ValueError, match=message):
        Assessment.from_json({**_assessment().to_json(), **change})
    with pytest.raises(ValueError, match="lacks seed"):
        Assessment.from_json({k: v for k, v in _assessment().to_json().items() if k != "seed"})


def test_validate_checks_the_assessment_of_a_document():
    doc = Document("d" * 16, "generated://x", SourceRef("generated", "ckpt"), assessment=_assessment().to_json())
    validate_document(doc.to_json())
    doc.assessment = {**doc.assessment, "mode": "poem"}
    with pytest.raises(ValueError, match="assessment: assessment mode"):
        validate_document(doc.to_json())
    crawled = Document("e" * 16, "https://a.example/", SourceRef("crawl", "x"), assessment=_assessment().to_json())
    with pytest.raises(ValueError, match="only generated documents"):
        validate_document(crawled.to_json())


def test_canonical_captions_parse_back_to_their_scenes():
    for shape, colour, count, position in all_compositions():
        scene = Scene((SceneObject(shape, colour, count, position),), 32)
        assert Scene.from_caption(scene.caption(), 32) == scene
    two = Scene((SceneObject("square", "blue", 1, "top"), SceneObject("triangle", "green", 3, "bottom")), 32)
    assert Scene.from_caption(two.caption(), 32) == two
    for text in ("A red cat on the mat.", "Two red circle on the left.", "Five red circles on the left.", ""):
        assert Scene.from_caption(text) is None


def test_questions_cover_every_aspect_of_every_group():
    two = Scene((SceneObject("square", "blue", 1, "top"), SceneObject("triangle", "green", 3, "center")))
    questions = aspect_questions(two)
    assert [a for a, _ in questions] == ["colour", "count", "position", "shape"] * 2
    assert questions[5] == ("count", "Are there three green shapes?")
    assert questions[6] == ("position", "Are the green shapes in the center?")
    assert assessment_text(questions[5][1], False, "two drawn, three asked") == \
        "Are there three green shapes? no, two drawn, three asked."
    assert assessment_text(questions[5][1], True, "ignored") == "Are there three green shapes? yes."
