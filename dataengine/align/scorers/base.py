"""``Scorer``: the base of the loop's judges. Each adds one ``Judgement`` to a candidate's assessment.

A subclass sets ``name`` (the YAML stage name, and the judge name recorded) and overrides
``judge_batch``, returning for each candidate a ``Judgement`` or, when it cannot judge it, the
reason (a string), which becomes that candidate's ``rejected`` row. A document without an
assessment is not a candidate (``not_a_candidate``). A candidate scored again by the same judge
(a rerun) keeps only the new judgement.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dataengine.filters.images import open_rgb
from dataengine.stages.base import Stage
from schemas import Document
from schemas.assessment import Assessment, Judgement


class Scorer(Stage):
    """Base class of the judges; see the module docstring."""

    reads = frozenset({"images.data"})

    def judge_batch(self, candidates: list[tuple[Document, Assessment]]) -> list[Judgement | str]:
        """One ``Judgement`` (or the reason it cannot judge) per candidate."""
        raise NotImplementedError

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Judge every candidate of the batch in one call of ``judge_batch``."""
        candidates, passed_on = [], []
        for doc in docs:
            if doc.assessment is None:
                self.reject(doc, "not_a_candidate", detail="no assessment: not written by the generate stage")
            elif doc.assessment.get("role") == "assessment":
                passed_on.append(doc)  # an assessment document teaches; it is not judged again
            else:
                candidates.append((doc, Assessment.from_json(doc.assessment)))
        out = []
        for (doc, assessment), verdict in zip(candidates, self.judge_batch(candidates)):
            if isinstance(verdict, str):
                self.reject(doc, verdict)
                continue
            assessment.judgements = [j for j in assessment.judgements if j.judge != verdict.judge] + [verdict]
            doc.assessment = assessment.to_json()
            out.append(doc)
        return out + passed_on


def first_image(doc: Document) -> np.ndarray | None:
    """The candidate's first ok image as an RGB array, or None."""
    for im in doc.images:
        if im.status == "ok" and im.data:
            return np.asarray(open_rgb(im.data))
    return None


def image_prompt_jobs(candidates: list[tuple[Document, Assessment]]
                      ) -> tuple[list[Judgement | str], list[tuple[int, Image.Image, str]]]:
    """For judges of image and prompt: a verdict slot per candidate (``no_image`` where it has none) and
    ``(slot, picture, prompt)`` for the others, in order, to fill the slots a model batch at a time."""
    verdicts: list[Judgement | str] = []
    jobs = []
    for doc, assessment in candidates:
        image = first_image(doc)
        verdicts.append("no_image" if image is None else "")
        if image is not None:
            jobs.append((len(verdicts) - 1, Image.fromarray(image), assessment.prompt))
    return verdicts, jobs


def candidate_text(doc: Document) -> str:
    """The text the candidate wrote: its caption (caption mode), or all its text."""
    return doc.text
