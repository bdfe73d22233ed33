"""``select``: which candidates become alignment data, and why the others do not.

Candidates are grouped by prompt (all of a prompt's candidates are in one partition, since
``generate`` makes them from one input). With ``strategy: best_of_n`` the candidates that
``judge`` passed (and whose score reaches ``min_score``, when set) are ranked by score and the
best ``k`` become ``chosen`` (supervised fine-tuning); with ``pairs``, the best chosen one is
paired with the prompt's lowest-scoring failed candidate, which is kept as ``rejected`` (the
losing side of a preference pair; ``pair`` links the two). ``strategy: random`` is the control
arm: ``k`` candidates per prompt picked blind (seeded by the prompt), whatever the judges said.

Every candidate not kept is a ``rejected`` row, so the whole funnel is in SQL: the reason
(``failed_judge``, ``below_min_score``, ``beyond_k``, ``not_judged``, ``not_picked``), the
score as ``value``, ``min_score`` as ``threshold``, and in ``detail`` the candidate's
assessment summary (JSON: prompt id, round, candidate, every judge's score and verdict), which
the catalog's ``candidates`` view reads. Assessment documents pass through untouched.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from dataengine.stages.base import Stage
from schemas import Document
from schemas.assessment import Assessment

STRATEGIES = ("best_of_n", "random")


@dataclass
class SelectConfig:
    """The ``select`` parameters (see the module docstring)."""

    judge: str = "ground_truth"
    strategy: str = "best_of_n"
    k: int = 1
    min_score: float | None = None
    pairs: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")


def summary(assessment: Assessment) -> str:
    """The JSON a rejected candidate's row keeps in ``detail`` (read by the ``candidates`` view)."""
    return json.dumps({"prompt_id": assessment.prompt_id, "prompt": assessment.prompt, "round": assessment.round,
                       "candidate": assessment.candidate, "mode": assessment.mode,
                       "judgements": [{"judge": j.judge, "score": j.score, "passed": j.passed, "aspects": j.aspects}
                                      for j in assessment.judgements]})


class CandidateSelector(Stage):
    """Best-of-N (or blind, for the control arm) selection per prompt (``SelectConfig``); see the module docstring."""

    name = "select"
    version = "1"
    Config = SelectConfig
    config: SelectConfig

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Group by prompt, keep the selected candidates (and pair losers), reject the rest with reasons."""
        groups: dict[str, list[tuple[Document, Assessment]]] = {}
        out = []
        for doc in docs:
            if doc.assessment is None:
                self.reject(doc, "not_a_candidate")
            elif doc.assessment.get("role") == "assessment":
                out.append(doc)
            else:
                a = Assessment.from_json(doc.assessment)
                groups.setdefault(a.prompt_id, []).append((doc, a))
        for prompt_id, group in groups.items():
            pick = self._random if self.config.strategy == "random" else self._best
            out += pick(prompt_id, group)
        return out

    def _keep(self, doc: Document, a: Assessment, role: str, pair: str | None = None) -> Document:
        a.role, a.pair = role, pair
        a.selected_by = self.config.judge if self.config.strategy == "best_of_n" else "random"
        doc.assessment = a.to_json()
        return doc

    def _drop(self, doc: Document, a: Assessment, reason: str, score: float | None) -> None:
        self.reject(doc, reason, value=score, threshold=self.config.min_score, detail=summary(a))

    def _random(self, prompt_id: str, group: list[tuple[Document, Assessment]]) -> list[Document]:
        rng = random.Random(f"{self.config.seed}:{prompt_id}")
        picked = set(rng.sample(range(len(group)), min(self.config.k, len(group))))
        out = []
        for i, (doc, a) in enumerate(group):
            j = a.judgement(self.config.judge)
            if i in picked:
                out.append(self._keep(doc, a, "chosen"))
            else:
                self._drop(doc, a, "not_picked", j.score if j else None)
        return out

    def _best(self, prompt_id: str, group: list[tuple[Document, Assessment]]) -> list[Document]:
        c = self.config
        passing, failing = [], []
        for doc, a in group:
            j = a.judgement(c.judge)
            if j is None:
                self._drop(doc, a, "not_judged", None)
            elif not j.passed:
                failing.append((j.score, doc, a))
            elif c.min_score is not None and j.score < c.min_score:
                failing.append((j.score, doc, a))
            else:
                passing.append((j.score, doc, a))
        passing.sort(key=lambda t: (-t[0], t[2].candidate))
        failing.sort(key=lambda t: (t[0], t[2].candidate))
        out = []
        loser = failing[0] if c.pairs and passing and failing else None
        for rank, (score, doc, a) in enumerate(passing):
            if rank >= c.k:
                self._drop(doc, a, "beyond_k", score)
                continue
            out.append(self._keep(doc, a, "chosen", loser[1].id if loser and rank == 0 else None))
        for score, doc, a in failing:
            if loser is not None and doc is loser[1]:
                out.append(self._keep(doc, a, "rejected", passing[0][1].id))
                continue
            j = a.judgement(c.judge)
            self._drop(doc, a, "failed_judge" if j is not None and not j.passed else "below_min_score", score)
        return out
