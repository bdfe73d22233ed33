"""The stage base class: counts, rejection bookkeeping, and no silent drops."""

from __future__ import annotations

from dataengine.stages.base import Batch, Stage
from schemas import Document, Segment, SourceRef


class DropShort(Stage):
    name = "drop_short"

    def __init__(self, min_chars: int = 3):
        super().__init__()
        self.min_chars = min_chars

    def process(self, doc: Document) -> Document | None:
        if doc.text == "boom":
            raise RuntimeError("bad record")
        if len(doc.text) < self.min_chars:
            self.reject(doc, "too_short", value=len(doc.text), threshold=self.min_chars)
            return None
        return doc


class Forgetful(Stage):
    name = "forgetful"

    def process_batch(self, docs):
        return docs[:1]


def doc(i: int, text: str) -> Document:
    return Document(id=f"d{i}", url=f"http://x/{i}", source=SourceRef("crawl", "x"), segments=[Segment.of_text(text)])


def test_counts_rejections_errors_and_repeated_stages():
    batch = Batch("p", [doc(1, "long enough"), doc(2, "ab"), doc(3, "boom"), doc(4, "fine text")])
    batch = DropShort()(batch)
    batch = DropShort(min_chars=10)(batch)
    assert [d.id for d in batch.docs] == ["d1"]
    assert batch.counts["drop_short"] == {"in": 4, "out": 2, "document:too_short": 1, "document:error:RuntimeError": 1}
    assert batch.counts["drop_short#2"] == {"in": 2, "out": 1, "document:too_short": 1}
    assert {r.partition for r in batch.rejected} == {"p"}
    assert batch.docs[0].provenance == [{"stage": "drop_short", "version": "1"}] * 2
    error = next(r for r in batch.rejected if r.reason.startswith("error"))
    assert "bad record" in error.detail


def test_a_document_never_vanishes_without_a_row():
    batch = Forgetful()(Batch("p", [doc(1, "a"), doc(2, "b")]))
    assert [(r.id, r.reason) for r in batch.rejected] == [("d2", "dropped_without_reason")]
