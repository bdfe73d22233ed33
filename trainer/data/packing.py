"""Packing documents into fixed-length sequences without ever splitting an image.

Documents are laid end to end. A document that would fit in a sequence of its own is never
cut: when it does not fit in the space left, the first of the next ``lookahead`` documents
that does fit goes there instead, and when none does the sequence is padded. (Cutting a
caption from its image would teach the model images that follow no text.) Only a document
longer than a whole sequence is cut, at the last point before the end of the space that is
not inside an image block (``<|boi|> ... <|eoi|>``); the rest starts the next sequence.
When that cut would leave a piece shorter than ``min_piece``, the sequence is padded
instead. Every piece gets its own segment id and positions from 0, so attention and loss
stay inside documents. An image longer than a whole sequence can never be placed: it is
removed from its document, logged and counted in ``stats["images_too_long"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from schemas.token_layout import TokenLayout

log = logging.getLogger(__name__)


@dataclass
class PackedSequence:
    """One row of a batch: tokens, segment id per token (pads share one) and position in segment."""

    tokens: np.ndarray     # int64 (L,)
    segments: np.ndarray   # int64 (L,)
    positions: np.ndarray  # int64 (L,)


def image_spans(tokens: np.ndarray, layout: TokenLayout) -> list[tuple[int, int]]:
    """``(start, end)`` of each image block, ``end`` exclusive (one past ``<|eoi|>``)."""
    starts = np.flatnonzero(tokens == layout.boi)
    ends = np.flatnonzero(tokens == layout.eoi)
    spans = []
    for s in starts:
        after = ends[ends > s]
        spans.append((int(s), int(after[0]) + 1 if len(after) else len(tokens)))
    return spans


def cut_allowed(tokens: np.ndarray, layout: TokenLayout) -> np.ndarray:
    """``allowed[i]``: the sequence may be cut just before index ``i`` (0..len inclusive)."""
    allowed = np.ones(len(tokens) + 1, dtype=bool)
    for s, e in image_spans(tokens, layout):
        allowed[s + 1:e] = False
    return allowed


@dataclass
class Packer:
    """Greedy first-fit packer; ``pending`` (documents not yet fully placed) is its whole state."""

    layout: TokenLayout
    length: int
    min_piece: int = 16
    lookahead: int = 8
    pending: list[np.ndarray] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=lambda: {"images_too_long": 0, "documents_split": 0})

    def add(self, tokens: np.ndarray) -> None:
        """Queue a document, after removing images that could never fit in one sequence."""
        spans = [(s, e) for s, e in image_spans(tokens, self.layout) if e - s > self.length]
        if spans:
            keep = np.ones(len(tokens), dtype=bool)
            for s, e in spans:
                keep[s:e] = False
            # Warn once per packer; the running count is in the loader's stats and metrics.
            report = log.warning if self.stats["images_too_long"] == 0 else log.debug
            self.stats["images_too_long"] += len(spans)
            report("removed %d image(s) of %d+ tokens: longer than the packed sequence length %d "
                   "(counted in data_images_too_long)", len(spans), min(e - s for s, e in spans), self.length)
            tokens = tokens[keep]
        if len(tokens):
            self.pending.append(np.asarray(tokens, dtype=np.int64))

    def next_sequence(self, next_document: Callable[[], np.ndarray | None]) -> PackedSequence | None:
        """Fill one sequence from the queue, pulling documents with ``next_document`` when it runs dry.

        ``next_document`` returns None at the end of a finite stream: the last sequence is
        then padded, and once nothing is left the result is None.
        """
        tokens = np.full(self.length, self.layout.pad, dtype=np.int64)
        segments = np.zeros(self.length, dtype=np.int64)
        positions = np.zeros(self.length, dtype=np.int64)
        filled, segment = 0, 0
        while filled < self.length:
            while not self.pending:
                doc = next_document()
                if doc is None:
                    break
                self.add(doc)
            if not self.pending:
                if filled == 0:
                    return None
                break
            doc = self.pending[0]
            space = self.length - filled
            cut = False
            if len(doc) <= space:
                take = len(doc)
                self.pending.pop(0)
            elif len(doc) <= self.length:
                fit = self._first_fit(space, next_document)
                if fit is None:
                    break
                doc = self.pending.pop(fit)
                take = len(doc)
            else:
                allowed = np.flatnonzero(cut_allowed(doc, self.layout)[: space + 1])
                take = int(allowed[-1])
                if take == 0 or (take < self.min_piece and filled > 0):
                    break
                self.pending[0] = doc[take:]
                self.stats["documents_split"] += 1
                cut = True
            tokens[filled:filled + take] = doc[:take]
            segments[filled:filled + take] = segment
            positions[filled:filled + take] = np.arange(take)
            filled += take
            segment += 1
            if cut:
                break  # the rest of a cut document starts the next sequence, right after its head
        segments[filled:] = segment  # pads form one segment of their own
        positions[filled:] = np.arange(self.length - filled)
        return PackedSequence(tokens, segments, positions)

    def _first_fit(self, space: int, next_document: Callable[[], np.ndarray | None]) -> int | None:
        """Index in ``pending`` of the first of the next ``lookahead`` documents that fits in ``space``."""
        for i in range(1, self.lookahead + 1):
            while len(self.pending) <= i:
                doc = next_document()
                if doc is None:
                    return None
                self.add(doc)
            if len(self.pending[i]) <= space:
                return i
        return None
