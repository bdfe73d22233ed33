"""The ``optout`` stage: opt-out signals and a user opt-out list, applied to documents in a pipeline.

Place it after ``extract_html`` and before ``fetch_images``, so opted-out images are never
downloaded. For each document:

- its URL on the list: the document is rejected (``optout_list``);
- a raw page still attached (a source whose pages were not checked at fetch time, such as
  ``warc``; put a second ``optout`` before ``extract_html`` for those): its headers and meta tags
  are read, ``noai``/TDM pages are rejected, ``noimageai`` pages are marked;
- marked ``noimageai`` (``scores["optout_noimageai"]``, set by the crawler or as above): every
  image slot becomes ``failed`` with ``optout_noimageai`` and gets an image-level rejected row;
- an image URL on the list: that slot becomes ``failed`` with ``optout_list``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataengine.crawl.links import parse_html
from dataengine.optout.lists import OptOutList
from dataengine.optout.signals import NOIMAGEAI_SCORE, page_optout
from dataengine.stages.base import Stage
from schemas import Document


@dataclass
class OptOutConfig:
    """The ``optout`` parameters: the list at ``optout_list`` (path or URL; optional), and the
    ``user_agent`` whose product token page signals are matched against."""

    optout_list: str | None = None
    user_agent: str = "dataengine"


class OptOutFilter(Stage):
    """Apply opt-out signals and the list at ``optout_list`` to documents (parameters: ``OptOutConfig``)."""

    name = "optout"
    version = "1"
    Config = OptOutConfig
    config: OptOutConfig

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        self.token = self.config.user_agent.split("/", 1)[0].split()[0]

    def setup(self) -> None:
        """Read the opt-out list."""
        self.optout = OptOutList.load(self.config.optout_list) if self.config.optout_list else None

    def process(self, doc: Document) -> Document | None:
        """Reject or trim ``doc`` as its signals and the list say."""
        entry = self.optout.match(doc.url) if self.optout else None
        if entry:
            self.reject(doc, "optout_list", detail=f"listed: {entry}")
            return None
        if doc.raw is not None:
            signals = page_optout(doc.raw.headers, parse_html(doc.raw.body), self.token)
            if signals.reason:
                self.reject(doc, signals.reason, detail=signals.detail)
                return None
            if signals.noimageai:
                doc.scores[NOIMAGEAI_SCORE] = 1.0
        noimageai = doc.scores.get(NOIMAGEAI_SCORE) == 1.0
        for image in doc.images:
            if image.status == "failed":
                continue
            reason = "optout_noimageai" if noimageai else None
            listed = self.optout.match(image.url) if self.optout and not noimageai else None
            if listed:
                reason = "optout_list"
            if reason:
                image.status, image.error, image.data, image.member = "failed", reason, None, None
                self.reject(doc, reason, level="image", image_index=image.index,
                            url=image.url if image.url and not image.url.startswith("data:") else None,
                            detail=f"listed: {listed}" if listed else "the page says noimageai")
        return doc
