"""``self_assess``: the round's model judges its own candidates, as ILLUME does.

For a candidate of a scene prompt, the model answers the yes/no questions of
``schemas.assessment.aspect_questions`` (is there a red shape? are there two red shapes? are
they on the left? are they circles?) after reading the prompt and the image; each aspect scores
the mean ``p(yes) - p(no)`` of its questions, the score is the mean over aspects, and the
candidate passes when every answer leans to yes. For every candidate it also records
``prompt_logprob`` (mean log p(prompt | image) per token); a prompt that is not a scene is
scored by that alone (``passed`` null). ``model`` is a ``trainer train`` run or checkpoint
folder, loaded once per actor; ``batch_size`` sequences go through the model at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataengine.align.scorers.base import Scorer
from schemas import Document
from schemas.assessment import ASPECTS, Assessment, Judgement, aspect_questions

VERSION = "1"


@dataclass
class SelfAssessConfig:
    """The ``self_assess`` parameters: the ``model`` folder, ``batch_size`` sequences per pass, the ``device``."""

    model: str
    batch_size: int = 128
    device: str = "auto"


class SelfAssessJudge(Scorer):
    """The model's own yes/no assessment of each candidate (``SelfAssessConfig``); see the module docstring."""

    name = "self_assess"
    version = VERSION
    reads = frozenset({"tokens"})
    Config = SelfAssessConfig
    config: SelfAssessConfig

    def setup(self) -> None:
        """Load the model once."""
        from dataengine.align.generate import load_round_model
        from trainer.eval.self_assess import SelfAssessor

        model, vocab, self.checkpoint = load_round_model(self.name, self.config.model, self.config.device)
        self.assessor, self.vocab = SelfAssessor(model, vocab, self.config.batch_size), vocab

    def judge_batch(self, candidates: list[tuple[Document, Assessment]]) -> list[Judgement | str]:
        """Questions and prompt likelihood for every candidate with an image, in two batched passes."""
        from trainer.eval.self_assess import codes_of

        usable, verdicts = [], []
        for doc, assessment in candidates:
            if doc.tokens is None:
                verdicts.append("no_tokens")
                continue
            try:
                codes = codes_of(doc.tokens, self.vocab)
            except ValueError:
                verdicts.append("no_image")
                continue
            verdicts.append(None)
            usable.append((len(verdicts) - 1, assessment, codes))
        prompts = [a.prompt for _, a, _ in usable]
        grids = [c for _, _, c in usable]
        scenes = [a.scene() for _, a, _ in usable]
        questions = [aspect_questions(s) if s else [] for s in scenes]
        margins = self.assessor.answers(prompts, grids, [[q for _, q in qs] for qs in questions])
        logprobs = self.assessor.prompt_logprob(prompts, grids)
        for (slot, _, _), qs, ms, lp in zip(usable, questions, margins, logprobs):
            if not qs:
                verdicts[slot] = Judgement(self.name, VERSION, lp, None, extra={"prompt_logprob": lp})
                continue
            aspects = {a: _mean([m for (aspect, _), m in zip(qs, ms) if aspect == a]) for a in ASPECTS}
            verdicts[slot] = Judgement(self.name, VERSION, _mean(list(aspects.values())), all(m > 0 for m in ms),
                                       aspects, extra={"prompt_logprob": lp})
        return verdicts


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
