"""``assessment_docs``: documents that teach the model to assess its own images (ILLUME's assessment data).

For each prompt, up to ``per_prompt`` of its candidates that ``judge`` scored (one that passed
and one that failed first, when there are both) each give one document per yes/no question of
``schemas.assessment.aspect_questions``: the prompt, the generated image, then the question and
the judge's answer (``Are there two red shapes? no, three drawn, two asked.``). Training on them
is what lets ``self_assess`` answer those questions in the next round. They keep the
candidate's image codes (``KEY.tokens.npy``) and carry an assessment with role ``assessment``.
The candidates themselves pass on unchanged; prompts that are not scenes give no documents.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from dataengine.stages.base import Stage
from schemas import Document, Segment, SourceRef, document_id
from schemas.assessment import Assessment, aspect_questions, assessment_text
from schemas.token_layout import ImageCodes


@dataclass
class AssessmentDocsConfig:
    """The ``assessment_docs`` parameters: the ``model`` whose tokenizers write the documents' tokens (the
    round's run folder), the ``judge`` whose verdicts are taught, and candidates ``per_prompt``."""

    model: str
    judge: str = "ground_truth"
    per_prompt: int = 2


class AssessmentDocuments(Stage):
    """Question-and-answer documents from judged candidates (``AssessmentDocsConfig``); see the module docstring."""

    name = "assessment_docs"
    version = "1"
    reads = frozenset({"tokens"})
    Config = AssessmentDocsConfig
    config: AssessmentDocsConfig

    def setup(self) -> None:
        """Read the run's token layout and text tokenizer (not its weights)."""
        from trainer.assets import Vocabulary
        from trainer.train.checkpoint import resolve_checkpoint

        try:
            run_dir, _ = resolve_checkpoint(self.config.model)
            vocab = Vocabulary.load(run_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"assessment_docs: cannot read {self.config.model!r}: {exc}".splitlines()[0]) from None
        self.layout, self.text = vocab.layout, vocab.text

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """The candidates, then the assessment documents of the chosen ones."""
        groups: dict[str, list[tuple[Document, Assessment]]] = {}
        for doc in docs:
            if doc.assessment is not None and doc.assessment.get("role", "candidate") == "candidate":
                a = Assessment.from_json(doc.assessment)
                if (a.scene() is not None and a.judgement(self.config.judge) is not None
                        and a.mode == "text_to_image" and doc.tokens is not None):
                    groups.setdefault(a.prompt_id, []).append((doc, a))
        out = list(docs)
        for group in groups.values():
            for doc, a in self._pick(group):
                out += self._documents(doc, a)
        return out

    def _pick(self, group: list[tuple[Document, Assessment]]) -> list[tuple[Document, Assessment]]:
        passed = [g for g in group if g[1].judgement(self.config.judge).passed]
        failed = [g for g in group if not g[1].judgement(self.config.judge).passed]
        picked = []
        while len(picked) < self.config.per_prompt and (passed or failed):
            for pool in (passed, failed):
                if pool and len(picked) < self.config.per_prompt:
                    picked.append(pool.pop(0))
        return picked

    def _documents(self, doc: Document, a: Assessment) -> list[Document]:
        verdict = a.judgement(self.config.judge)
        codes = next((p.codes for p in self.layout.decode(doc.tokens) if isinstance(p, ImageCodes)), None)
        if codes is None:
            return []
        prompt_ids = np.asarray(self.text.encode(a.prompt), dtype=np.int64)
        out = []
        questions = aspect_questions(a.scene())
        for q, (aspect, question) in enumerate(questions):
            group = q // 4
            right = bool(verdict.extra.get(f"{aspect}.{group}", verdict.aspects.get(aspect, 0.0)) >= 1.0)
            note = verdict.notes.get(aspect, "").split("; ")[0] if not right else ""
            line = assessment_text(question, right, note)
            url = f"{doc.url}/assess/{q}"
            child = Document(id=document_id(url, doc.source.uri), url=url,
                             source=SourceRef("generated", doc.source.uri),
                             segments=[Segment.of_text(a.prompt), Segment.of_image(0), Segment.of_text(line)],
                             images=[copy.copy(doc.images[0])])
            child.tokens = self.layout.encode([prompt_ids, ImageCodes(codes),
                                               np.asarray(self.text.encode(line), dtype=np.int64)]).astype(np.int32)
            meta = copy.deepcopy(a)
            meta.role, meta.pair, meta.selected_by = "assessment", doc.id, self.config.judge
            child.assessment = meta.to_json()
            out.append(child)
        return out
