"""The loop's stages on a real (tiny, trained) model: generate, the judges, assessment documents, select."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dataengine.align.assessment_docs import AssessmentDocuments
from dataengine.align.generate import CandidateGenerator
from dataengine.align.prompts import PromptSource
from dataengine.align.scorers.ground_truth import GroundTruthJudge
from dataengine.align.scorers.self_assess import SelfAssessJudge
from dataengine.align.select import CandidateSelector
from dataengine.sampleweb.images import png_bytes
from dataengine.sampleweb.scenes import render_scene
from dataengine.shards.writer import encode_document
from dataengine.stages.base import Batch
from schemas import Document, Segment, SourceRef
from schemas.assessment import Assessment, Judgement
from schemas.scene_split import load_split
from schemas.scenes import Scene
from schemas.token_layout import ImageCodes
from trainer.eval.self_assess import SelfAssessor, branch_logprobs
from trainer.train.checkpoint import load_trained
from trainer.train.loss import sequence_logprobs


def _prompts(world, count: int = 6) -> Batch:
    source = PromptSource(origin="sampleweb", path=str(world), count=count, per_partition=count)
    part = source.partitions()[0]
    return Batch(part.id, list(source.read(part)))


@pytest.fixture(scope="module")
def candidates(tiny_world, tiny_run) -> Batch:
    """Six scene prompts, four candidates each, drawn by the tiny model."""
    return CandidateGenerator(model=str(tiny_run), n=4, round=2, seed=5)(_prompts(tiny_world))


def test_sampleweb_prompts_never_name_a_held_out_composition(tiny_world):
    split = load_split(tiny_world / "split.json")
    docs = _prompts(tiny_world, 200).docs
    scenes = [Scene.from_caption(d.text, 32) for d in docs]
    assert len(docs) == 200 and all(scenes)
    assert not any(split.is_held_out(s) for s in scenes)
    assert len({d.id for d in docs}) == 200
    assert [d.text for d in _prompts(tiny_world, 200).docs] == [d.text for d in docs]  # seeded


def test_generate_draws_n_candidates_with_tokens_images_and_assessments(candidates, tiny_run):
    assert candidates.counts["generate"] == {"in": 6, "out": 24}
    _, vocab, _ = load_trained(tiny_run)
    by_prompt: dict[str, list[Document]] = {}
    for doc in candidates.docs:
        encode_document(doc)  # what the shard writer checks: the whole contract
        a = Assessment.from_json(doc.assessment)
        by_prompt.setdefault(a.prompt_id, []).append(doc)
        assert doc.source.kind == "generated" and a.round == 2 and a.mode == "text_to_image"
        assert a.scene() is not None and a.scene().caption() == a.prompt
        text, image = vocab.layout.decode(doc.tokens)
        assert vocab.text.decode(text.tolist()) == a.prompt
        # the PNG is exactly the VQ's decoding of the codes kept in KEY.tokens.npy
        png = np.asarray(Image.open(io.BytesIO(doc.images[0].data)))
        assert np.array_equal(png, vocab.images.decode(image.codes)[0])
    assert sorted(len(v) for v in by_prompt.values()) == [4] * 6
    assert {Assessment.from_json(d.assessment).candidate for d in by_prompt[next(iter(by_prompt))]} == {0, 1, 2, 3}


def test_generation_is_reproducible_from_the_recorded_seed(candidates, tiny_world, tiny_run):
    again = CandidateGenerator(model=str(tiny_run), n=4, round=2, seed=5)(_prompts(tiny_world))
    assert [d.id for d in again.docs] == [d.id for d in candidates.docs]
    assert all(np.array_equal(a.tokens, b.tokens) for a, b in zip(again.docs, candidates.docs))
    other = CandidateGenerator(model=str(tiny_run), n=4, round=3, seed=5)(_prompts(tiny_world))
    assert any(not np.array_equal(a.tokens, b.tokens) for a, b in zip(other.docs, candidates.docs))


def test_caption_mode_captions_each_image_n_times(tiny_run):
    scene = Scene.from_caption("Three blue squares on the top.", 32)
    from schemas import ImageRecord

    doc = Document("c" * 16, "https://x.example/p", SourceRef("crawl", "t"),
                   segments=[Segment.of_image(0)],
                   images=[ImageRecord(0, "https://x.example/a.png", alt=scene.caption(), status="ok",
                                       data=png_bytes(render_scene(scene, 1)))])
    out = CandidateGenerator(model=str(tiny_run), mode="caption", n=3, max_new_tokens=12)(Batch("p", [doc]))
    assert len(out.docs) == 3
    for cand in out.docs:
        a = Assessment.from_json(cand.assessment)
        assert a.mode == "caption" and a.prompt == scene.caption() and a.prompt_id == doc.id
        assert cand.segments[0].kind == "image"


def _one_group(candidates: Batch) -> Document:
    return next(d for d in candidates.docs if len(d.assessment["spec"]["objects"]) == 1)


def test_ground_truth_passes_a_true_drawing_and_says_what_a_wrong_one_got_wrong(candidates):
    doc = _one_group(candidates)
    a = Assessment.from_json(doc.assessment)
    scene = a.scene()
    right, wrong = _copy(doc), _copy(doc)
    right.images[0].data = png_bytes(render_scene(scene, 3))
    obj = scene.objects[0]
    other = Scene((type(obj)(obj.shape, obj.colour, 1 + obj.count % 4, obj.position),), 32)
    wrong.images[0].data = png_bytes(render_scene(other, 3))
    judged = GroundTruthJudge()(Batch("p", [right, wrong]))
    v_right, v_wrong = (Assessment.from_json(d.assessment).judgement("ground_truth") for d in judged.docs)
    assert v_right.passed and v_right.score == 1.0
    assert not v_wrong.passed and v_wrong.aspects["count"] < 1.0
    assert "asked" in v_wrong.notes["count"]


def test_ground_truth_rejects_prompts_that_are_not_scenes(candidates):
    doc = _copy(candidates.docs[0])
    doc.assessment = {**doc.assessment, "prompt": "A cat on a mat.", "spec": None}
    out = GroundTruthJudge()(Batch("p", [doc, Document("f" * 16, "https://x/", SourceRef("crawl", "t"))]))
    assert out.docs == []
    assert sorted(r.reason for r in out.rejected) == ["not_a_candidate", "unjudgeable_prompt"]


def test_self_assessment_answers_in_one_tree_pass_equal_separate_passes(tiny_run):
    model, vocab, _ = load_trained(tiny_run)
    lay, rng = vocab.layout, np.random.default_rng(0)
    rows = []
    for r in range(3):
        prefix = [lay.bos, *vocab.text.encode("Two red circles on the left."[: 10 + r])]
        prefix += lay.image_tokens(rng.integers(0, 64, (8, 8))).tolist()
        questions = [(vocab.text.encode("Is there a red shape?" + "?" * q), [vocab.text.encode(" yes"),
                                                                            vocab.text.encode(" no")])
                     for q in range(2 + r)]
        rows.append((prefix, questions))
    tree = branch_logprobs(model, rows, lay.pad)
    for r, (prefix, questions) in enumerate(rows):
        for q, (question, answers) in enumerate(questions):
            for a, answer in enumerate(answers):
                with torch.no_grad():
                    alone = sequence_logprobs(model, [prefix + question + answer], [len(prefix + question)], lay.pad)
                assert tree[r][q][a] == pytest.approx(float(alone), abs=1e-3)
    margins = SelfAssessor(model, vocab).answers(["Two red circles on the left."], [rng.integers(0, 64, (8, 8))],
                                                [["Is there a red shape?", "Are the red shapes circles?"]])
    assert len(margins[0]) == 2 and all(-1 <= m <= 1 for m in margins[0])


def test_self_assess_scores_every_candidate(candidates, tiny_run):
    judged = SelfAssessJudge(model=str(tiny_run))(Batch("p", [_copy(d) for d in candidates.docs[:4]]))
    for doc in judged.docs:
        v = Assessment.from_json(doc.assessment).judgement("self_assess")
        assert set(v.aspects) == {"colour", "count", "position", "shape"}
        assert -1 <= v.score <= 1 and v.extra["prompt_logprob"] < 0 and isinstance(v.passed, bool)


def _judged(doc: Document, score: float, passed: bool) -> Document:
    doc = _copy(doc)
    a = Assessment.from_json(doc.assessment)
    groups = range(len(a.scene().objects))
    a.judgements = [Judgement("ground_truth", "1", score, passed, {"colour": 1.0, "count": float(passed),
                                                                   "position": 1.0, "shape": 1.0},
                              {} if passed else {"count": "one drawn, two asked"},
                              {f"{aspect}.{g}": float(passed or aspect != "count") for g in groups
                               for aspect in ("colour", "count", "position", "shape")})]
    doc.assessment = a.to_json()
    return doc


def test_select_keeps_the_best_pairs_it_with_the_worst_and_explains_the_rest(candidates):
    first = [d for d in candidates.docs if d.assessment["prompt_id"] == candidates.docs[0].assessment["prompt_id"]]
    docs = [_judged(first[0], 1.0, True), _judged(first[1], 0.75, False), _judged(first[2], 0.25, False),
            _judged(first[3], 1.0, True)]
    out = CandidateSelector(judge="ground_truth", k=1)(Batch("p", docs))
    roles = {d.id: d.assessment["role"] for d in out.docs}
    assert roles == {docs[0].id: "chosen", docs[2].id: "rejected"}  # a tie goes to the lower candidate index
    chosen = next(d for d in out.docs if d.id == docs[0].id)
    assert chosen.assessment["pair"] == docs[2].id and chosen.assessment["selected_by"] == "ground_truth"
    reasons = {r.id: (r.reason, r.value) for r in out.rejected}
    assert reasons == {docs[1].id: ("failed_judge", 0.75), docs[3].id: ("beyond_k", 1.0)}
    blind = CandidateSelector(strategy="random", k=2, seed=1)(Batch("p", [_copy(d) for d in docs]))
    assert len(blind.docs) == 2 and {r.reason for r in blind.rejected} == {"not_picked"}
    assert all(d.assessment["selected_by"] == "random" for d in blind.docs)


def test_assessment_documents_teach_the_judges_answers(candidates, tiny_run):
    first = [d for d in candidates.docs if d.assessment["prompt_id"] == candidates.docs[0].assessment["prompt_id"]]
    docs = [_judged(first[0], 0.75, False), _judged(first[1], 1.0, True)]
    out = AssessmentDocuments(model=str(tiny_run), per_prompt=2)(Batch("p", docs))
    made = [d for d in out.docs if d.assessment["role"] == "assessment"]
    n_groups = len(Assessment.from_json(docs[0].assessment).scene().objects)
    n_questions = 4 * n_groups
    assert len(out.docs) == 2 + 2 * n_questions and len(made) == 2 * n_questions
    _, vocab, _ = load_trained(tiny_run)
    texts = []
    for doc in made:
        encode_document(doc)  # what the shard writer checks: the whole contract
        prompt, image, qa = vocab.layout.decode(doc.tokens)
        assert isinstance(image, ImageCodes) and vocab.text.decode(prompt.tolist()) == doc.assessment["prompt"]
        texts.append(vocab.text.decode(qa.tolist()))
        assert texts[-1] == doc.segments[2].text
    assert sum(t.endswith("? no, one drawn, two asked.") for t in texts) == n_groups
    assert sum(t.endswith("? yes.") for t in texts) == 2 * n_questions - n_groups
    assert CandidateSelector()(Batch("p", made)).docs == made  # selection passes them on


def _copy(doc: Document) -> Document:
    out = Document.from_json(doc.to_json())
    out.tokens = doc.tokens
    for im, src in zip(out.images, doc.images):
        im.data = src.data
    return out
