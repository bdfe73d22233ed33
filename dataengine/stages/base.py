"""The stage contract: parameters in ``Config``, what they load in ``setup``, one method that does the work.

A stage subclass overrides ``process(doc)`` (one document at a time) or, when batching
pays (model stages), ``process_batch(docs)``. It calls ``self.reject(...)`` for whatever it
removes; the base class collects those rows, counts documents in and out, turns an
exception on one document into a ``rejected`` row instead of a dead job, and refuses to
let a document vanish without a reason.

Parameters: a stage's ``Config`` dataclass lists them with their defaults; the stage is built
with them as arguments (``ImageRules(min_side=48)``, or a pipeline's ``params``), and
``self.config`` holds them checked and converted (``dataengine.registry.Configured``).

Lifecycle: ``__init__`` only keeps and checks parameters (cheap, so a bad value fails before
any work; a stage may derive there from ``self.config`` what needs no loading); ``setup``
loads models, lists and tokenizers, and the runner calls it once per worker process or
actor, which then serves many partitions. ``ready()`` runs ``setup`` unless
it has run; calling the stage on a batch does so too, so a stage built in Python just works.

A stage declares what it reads and writes, in the names of ``FIELDS``, so that the runner
can refuse a pipeline in which a stage reads what only a later stage writes (``check_order``),
and the corpus-level files it produces (``produces``, e.g. ``token_layout.json``), whose
contents ``corpus_files()`` returns from the parameters alone (the runner asks on its driver,
without ``setup``, and writes them when the run commits).
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from dataengine.registry import Configured
from schemas import Document, Rejection

# What ``reads`` and ``writes`` may name: parts of a document (``schemas.Document``).
FIELDS = {
    "segments": "text segments and image slots in reading order",
    "images": "image records: URL, alt text, status",
    "images.data": "image bytes (the KEY.N.EXT members)",
    "images.caption": "image captions and the model that wrote them",
    "images.scores": "per-image scores (clip_*, nsfw)",
    "language": "language and its score",
    "tokens": "the document as one token sequence (KEY.tokens.npy)",
}


@dataclass
class Batch:
    """The documents of one partition as they move through the stages, with what was removed."""

    partition: str
    docs: list[Document] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> {"in", "out", reason: n}
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> wall time on this batch


class Stage(Configured):
    """Base class of every pipeline stage.

    Subclasses set ``name`` (the key used in pipeline YAML) and ``version`` (recorded in
    each document's provenance), list their parameters in ``Config`` (a dataclass; the
    stage reads them from ``self.config``), load what they need in ``setup``, and override ``process`` or
    ``process_batch``. ``reads`` names what must be there before the stage runs (not what
    it merely uses when present), ``writes`` what it sets, both from ``FIELDS``;
    ``produces`` names the corpus files it writes through ``corpus_files``.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    reads: ClassVar[frozenset[str]] = frozenset()
    writes: ClassVar[frozenset[str]] = frozenset()
    produces: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        self._rejected: list[Rejection] = []
        self._set_up = False

    def setup(self) -> None:
        """Load models, lists and tokenizers; the runner calls it once per worker or actor."""

    def ready(self) -> Self:
        """Run ``setup`` unless it has run already; returns the stage."""
        if not self._set_up:
            self.setup()
            self._set_up = True
        return self

    def corpus_files(self) -> dict[str, str]:
        """The contents of the files named in ``produces``, by name; needs no ``setup``, so load only what they need."""
        return {}

    def derived_from(self, doc: Document) -> str | None:
        """For a stage that makes new documents from its inputs (``generate``): the id of the input
        ``doc`` was made from, which then counts as accounted for. None for every other stage."""
        return None

    def process(self, doc: Document) -> Document | None:
        """Return the (possibly changed) document, or ``None`` after calling ``reject``."""
        raise NotImplementedError(f"{type(self).__name__} must override process or process_batch")

    def process_batch(self, docs: list[Document]) -> list[Document]:
        """Process a list of documents; the default calls ``process`` on each."""
        out = []
        for doc in docs:
            try:
                result = self.process(doc)
            except Exception as exc:  # one bad record must not kill the job
                self.reject(doc, f"error:{type(exc).__name__}",
                            detail=f"{exc}\n{traceback.format_exc(limit=3)}"[:2000])
                continue
            if result is not None:
                out.append(result)
        return out

    def reject(self, doc: Document | None, reason: str, *, level: str = "document",
               value: float | None = None, threshold: float | None = None,
               image_index: int | None = None, detail: str | None = None,
               url: str | None = None) -> None:
        """Record a removal. ``level`` is ``document``, ``text`` or ``image``."""
        self._rejected.append(Rejection(
            id=doc.id if doc else None, url=url or (doc.url if doc else None), level=level,
            stage=self.name, reason=reason, value=value, threshold=threshold,
            image_index=image_index, detail=detail))

    def __call__(self, batch: Batch) -> Batch:
        """Run the stage on a batch (set up first if need be), record its counts and rejections."""
        self.ready()
        self._rejected = []
        docs_in = batch.docs
        start = time.perf_counter()
        kept = self.process_batch(docs_in)
        elapsed = time.perf_counter() - start
        kept_ids = {id(d) for d in kept}
        explained = {r.id for r in self._rejected if r.level == "document"}
        explained |= {self.derived_from(d) for d in kept} - {None}
        for doc in docs_in:
            if id(doc) not in kept_ids and doc.id not in explained:
                self.reject(doc, "dropped_without_reason", detail=f"{type(self).__name__} returned no reason")
        for doc in kept:
            doc.touch(self.name, self.version)
        for r in self._rejected:
            r.partition = batch.partition
        reasons = Counter(f"{r.level}:{r.reason}" for r in self._rejected)
        step, n = self.name, 2
        while step in batch.counts:  # a stage may run twice in one pipeline: count each run
            step, n = f"{self.name}#{n}", n + 1
        batch.counts[step] = {"in": len(docs_in), "out": len(kept), **reasons}
        batch.seconds[step] = elapsed
        batch.docs = kept
        batch.rejected.extend(self._rejected)
        self._rejected = []
        return batch


def check_order(stages: Sequence[type[Stage]]) -> list[str]:
    """Problems of a pipeline's stage order: each stage that reads a field only a later stage writes.

    A field no stage of the pipeline writes is taken to come from the source (a corpus source
    brings back everything an earlier run wrote), so only the order within the pipeline is judged.
    """
    problems = []
    for position, stage in enumerate(stages):
        written_before = set().union(*(s.writes for s in stages[:position]))
        for field_name in sorted(stage.reads - written_before):
            later = [s.name for s in stages[position + 1:] if field_name in s.writes]
            if later:
                problems.append(f"stages[{position}] ({stage.name}) reads {field_name} ({FIELDS[field_name]}), "
                                f"which only a later stage writes ({', '.join(later)}): move it after that stage")
    return problems
