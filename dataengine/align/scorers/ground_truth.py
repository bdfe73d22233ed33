"""``ground_truth``: the sample web's judge (``trainer.eval.judge``) on candidates of scene prompts.

A text-to-image or interleaved candidate's first image is measured against the scene its
prompt asks for: per group, the components of its colour, their count, where their centroid
lies and which shape their fill is nearest to. A caption candidate's text is read for the
same four attributes of the scene in the image's reference text. Each aspect scores the share
of groups it is right for (``extra`` holds each group's: ``count.0``, ``count.1``), the score is
the mean over aspects, and the candidate passes when
every aspect of every group is right. Notes say what was wrong (``count: three drawn, two
asked``). A prompt that is not a scene of the sample web is ``unjudgeable_prompt``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataengine.align.scorers.base import Scorer, candidate_text, first_image
from schemas import Document
from schemas.assessment import ASPECTS, Assessment, Judgement
from schemas.scenes import POSITIONS

VERSION = "1"
_WORDS = {0: "none", 1: "one", 2: "two", 3: "three", 4: "four"}


@dataclass
class GroundTruthConfig:
    """The ``ground_truth`` parameter: ``min_area``, the pixels below which a patch of colour is a speck,
    not a shape (None: the judge's default for the image size)."""

    min_area: int | None = None


class GroundTruthJudge(Scorer):
    """Score candidates against the scene their prompt names (``GroundTruthConfig``); see the module docstring."""

    name = "ground_truth"
    version = VERSION
    Config = GroundTruthConfig
    config: GroundTruthConfig

    def judge_batch(self, candidates: list[tuple[Document, Assessment]]) -> list[Judgement | str]:
        """A judgement per candidate of a scene prompt; ``unjudgeable_prompt`` / ``no_image`` otherwise."""
        return [self._judge(doc, a) for doc, a in candidates]

    def _judge(self, doc: Document, assessment: Assessment) -> Judgement | str:
        from trainer.eval.judge import judge_caption, measure_group, score_group

        scene = assessment.scene()
        if scene is None:
            return "unjudgeable_prompt"
        notes: dict[str, list[str]] = {a: [] for a in ASPECTS}
        if assessment.mode == "caption":
            scores = judge_caption(candidate_text(doc), scene)
        else:
            image = first_image(doc)
            if image is None:
                return "no_image"
            scores = []
            for obj in scene.objects:
                seen = measure_group(image, obj, scene.size, self.config.min_area)
                score = score_group(seen, obj, scene.size)
                scores.append(score)
                if not score.colour:
                    notes["colour"].append(f"no {obj.colour} shape drawn")
                if not score.count:
                    notes["count"].append(f"{_WORDS.get(seen.count, seen.count)} drawn, {_WORDS[obj.count]} asked")
                if seen.centroid is not None and not score.position:
                    found = next((p for p in POSITIONS if _in(p, seen.centroid, scene.size)), "between regions")
                    notes["position"].append(f"drawn {found}, {obj.position} asked")
                if seen.shape is not None and not score.shape:
                    notes["shape"].append(f"{seen.shape}s drawn, {obj.shape}s asked")
        aspects = {a: sum(getattr(s, a) for s in scores) / len(scores) for a in ASPECTS}
        per_group = {f"{a}.{g}": getattr(s, a) for g, s in enumerate(scores) for a in ASPECTS}
        return Judgement(self.name, VERSION, sum(aspects.values()) / len(aspects), all(s.all for s in scores),
                         aspects, {a: "; ".join(n) for a, n in notes.items() if n}, per_group)


def _in(position: str, centroid: tuple[float, float], size: int) -> bool:
    from trainer.eval.judge import in_region

    return in_region(position, centroid[0], centroid[1], size)
