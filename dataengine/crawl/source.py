"""``CrawlSource``: the ``crawl`` source kind. ``partitions()`` crawls; ``read()`` reads what it stored.

``partitions()`` runs (or resumes) the crawl on the driver with fetch workers on Ray, then
returns one partition per WARC batch in the state folder. ``read()`` reads a batch's pages
through ``WarcSource`` (the same record handling as any web archive) and adds the batch's
fetch-log rejections, so every URL the crawl gave up on lands in ``rejected/`` with its reason.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataengine.crawl.archive import read_log
from dataengine.crawl.crawler import Crawler
from dataengine.crawl.fetch import FetchConfig
from dataengine.crawl.politeness import PolitenessConfig
from dataengine.crawl.scope import Scope, ScopeConfig
from dataengine.crawl.state import CrawlState
from dataengine.crawl.urls import canonicalize
from dataengine.crawl.worker import WorkerSettings
from dataengine.net.addresses import parse_allow_private
from dataengine.optout.lists import OptOutList
from dataengine.optout.signals import NOIMAGEAI_SCORE
from dataengine.sources.base import Partition, Source, partition_id
from dataengine.sources.warc import WarcSource
from schemas import Document, Rejection, document_id

STAGE = "source:crawl"


@dataclass
class CrawlConfig:
    """The ``crawl`` source's parameters.

    ``state_dir`` (a local or mounted folder) keeps the frontier and the WARC batches.
    ``scope``, ``politeness`` and ``fetch`` are ``ScopeConfig``, ``PolitenessConfig`` and
    ``FetchConfig``. ``allow_private`` lets the crawl reach non-public addresses: ``true``
    for all, or a list of networks (``["127.0.0.0/8"]``). ``optout_list`` is a file of URLs and
    domains never to fetch. ``workers`` fetch actors (``worker_cpus`` each) share the origins;
    ``batch_size`` URLs of an origin go to its worker at a time; a WARC batch (one partition)
    holds up to ``pages_per_warc`` pages of one origin.
    """

    state_dir: str
    seeds: list[str] | str | None = None
    sitemap: str | None = None
    scope: ScopeConfig = field(default_factory=ScopeConfig)
    politeness: PolitenessConfig = field(default_factory=PolitenessConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    allow_private: bool | str | list[str] = False
    optout_list: str | None = None
    workers: int = 2
    worker_cpus: float = 0.5
    batch_size: int = 8
    pages_per_warc: int = 100

    def __post_init__(self) -> None:
        if "://" in self.state_dir:
            raise ValueError(f"state_dir must be a local or mounted path, got {self.state_dir!r}")
        if not self.seeds and not self.sitemap:
            raise ValueError("give seeds, a sitemap, or both")
        if self.workers < 1 or self.batch_size < 1 or self.pages_per_warc < 1:
            raise ValueError("workers, batch_size and pages_per_warc must be at least 1")


class CrawlSource(Source):
    """Crawl ``seeds`` and/or a ``sitemap`` into ``state_dir``, then read its WARCs (parameters: ``CrawlConfig``)."""

    name = "crawl"
    uses_ray = True  # partitions() crawls on FetchWorker actors
    Config = CrawlConfig
    config: CrawlConfig

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        c = self.config
        self.seeds = []
        for seed in [c.seeds] if isinstance(c.seeds, str) else list(c.seeds or []):
            url = canonicalize(seed)
            if url is None:
                raise ValueError(f"crawl source: seed {seed!r} is not an http(s) URL")
            self.seeds.append(url)
        self.sitemap = canonicalize(c.sitemap) if c.sitemap else None
        if c.sitemap and self.sitemap is None:
            raise ValueError(f"crawl source: sitemap {c.sitemap!r} is not an http(s) URL")
        self.state_dir = str(Path(c.state_dir).absolute())
        self.allow_private = parse_allow_private(c.allow_private)

    def crawl(self) -> Crawler:
        """The crawler for this configuration (the opt-out list is read here)."""
        c = self.config
        optout = OptOutList.load(c.optout_list) if c.optout_list else None
        scope = Scope(c.scope, self.seeds + ([self.sitemap] if self.sitemap else []))
        settings = WorkerSettings(self.state_dir, c.politeness, c.fetch, scope, self.allow_private,
                                  optout, c.pages_per_warc)
        return Crawler(self.seeds, self.sitemap, settings, c.scope.max_pages, c.workers, c.worker_cpus, c.batch_size)

    def partitions(self) -> list[Partition]:
        """Run or resume the crawl, then list its WARC batches (one partition each)."""
        summary = self.crawl().run()
        print(summary.line(), file=sys.stderr)
        return [Partition(partition_id("crawl", str(warc)), str(warc), {"log": str(log)})
                for warc, log in CrawlState(self.state_dir).batches()]

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """The batch's pages as documents (source kind ``crawl``), then its rejected URLs."""
        outcomes = read_log(Path(partition.meta["log"]))
        noimageai = {o.offset for o in outcomes if o.kind == "page" and o.noimageai}
        # A batch whose URLs were all rejected or redirected has no record: not a warc_empty fault.
        if any(o.kind == "page" for o in outcomes) and Path(partition.uri).exists():
            for item in WarcSource(partition.uri, max_body_bytes=self.config.fetch.max_body_bytes).read(partition):
                if isinstance(item, Document):
                    item.source.kind = "crawl"
                    if item.source.offset in noimageai:
                        item.scores[NOIMAGEAI_SCORE] = 1.0
                yield item
        for o in outcomes:
            if o.kind == "rejected":
                yield Rejection(document_id(o.url, partition.uri), o.url, "document", STAGE, o.reason,
                                value=o.value, detail=o.detail)
