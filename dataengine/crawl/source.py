"""``CrawlSource``: the ``crawl`` source kind. ``partitions()`` crawls; ``read()`` reads what it stored.

``partitions()`` runs (or resumes) the crawl on the driver with fetch workers on Ray, then
returns one partition per WARC batch in the state folder. ``read()`` reads a batch's pages
through ``WarcSource`` (the same record handling as any web archive) and adds the batch's
fetch-log rejections, so every URL the crawl gave up on lands in ``rejected/`` with its reason.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator

from dataengine.net.addresses import parse_allow_private
from dataengine.crawl.archive import read_log
from dataengine.crawl.crawler import Crawler
from dataengine.crawl.fetch import FetchConfig
from dataengine.crawl.politeness import PolitenessConfig
from dataengine.crawl.scope import Scope, ScopeConfig
from dataengine.crawl.state import CrawlState
from dataengine.crawl.urls import canonicalize
from dataengine.crawl.worker import WorkerSettings
from dataengine.optout.lists import OptOutList
from dataengine.optout.signals import NOIMAGEAI_SCORE
from dataengine.sources.base import Partition, Source, partition_id
from dataengine.sources.warc import WarcSource
from schemas import Document, Rejection, document_id

STAGE = "source:crawl"


def _config(cls: type, values: dict[str, Any] | None, block: str) -> Any:
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"crawl source: unknown key(s) {', '.join(unknown)} in {block}; "
                         f"known: {', '.join(sorted(known))}")
    return cls(**values)


class CrawlSource(Source):
    """Crawl from ``seeds`` and/or a ``sitemap`` into ``state_dir``, then read the WARC batches.

    ``scope``, ``politeness`` and ``fetch`` are the fields of ``ScopeConfig``, ``PolitenessConfig``
    and ``FetchConfig``. ``allow_private`` lets the crawl reach non-public addresses: ``true``
    for all, or a list of networks (``["127.0.0.0/8"]``). ``optout_list`` is a file of URLs and
    domains never to fetch. ``workers`` fetch actors (``worker_cpus`` each) share the origins;
    ``batch_size`` URLs of an origin go to its worker at a time; a WARC batch (one partition)
    holds up to ``pages_per_warc`` pages of one origin.
    """

    name = "crawl"
    uses_ray = True  # partitions() crawls on FetchWorker actors

    def __init__(self, state_dir: str, seeds: list[str] | str | None = None, sitemap: str | None = None,
                 scope: dict[str, Any] | None = None, politeness: dict[str, Any] | None = None,
                 fetch: dict[str, Any] | None = None, allow_private: bool | list[str] = False,
                 optout_list: str | None = None, workers: int = 2, worker_cpus: float = 0.5,
                 batch_size: int = 8, pages_per_warc: int = 100):
        if "://" in str(state_dir):
            raise ValueError(f"crawl source: state_dir must be a local or mounted path, got {state_dir!r}")
        seeds = [seeds] if isinstance(seeds, str) else list(seeds or [])
        if not seeds and not sitemap:
            raise ValueError("crawl source: give seeds, a sitemap, or both")
        self.seeds = []
        for seed in seeds:
            url = canonicalize(seed)
            if url is None:
                raise ValueError(f"crawl source: seed {seed!r} is not an http(s) URL")
            self.seeds.append(url)
        self.sitemap = canonicalize(sitemap) if sitemap else None
        if sitemap and self.sitemap is None:
            raise ValueError(f"crawl source: sitemap {sitemap!r} is not an http(s) URL")
        if workers < 1 or batch_size < 1 or pages_per_warc < 1:
            raise ValueError("crawl source: workers, batch_size and pages_per_warc must be at least 1")
        self.state_dir = str(Path(state_dir).absolute())
        self.scope = _config(ScopeConfig, scope, "scope")
        self.politeness = _config(PolitenessConfig, politeness, "politeness")
        self.fetch = _config(FetchConfig, fetch, "fetch")
        self.allow_private = parse_allow_private(allow_private)
        self.optout_list = optout_list
        self.workers, self.worker_cpus, self.batch_size = workers, worker_cpus, batch_size
        self.pages_per_warc = pages_per_warc

    def crawl(self) -> Crawler:
        """The crawler for this configuration (the opt-out list is read here)."""
        optout = OptOutList.load(self.optout_list) if self.optout_list else None
        scope = Scope(self.scope, self.seeds + ([self.sitemap] if self.sitemap else []))
        settings = WorkerSettings(self.state_dir, self.politeness, self.fetch, scope, self.allow_private,
                                  optout, self.pages_per_warc)
        return Crawler(self.seeds, self.sitemap, settings, self.scope.max_pages, self.workers,
                       self.worker_cpus, self.batch_size)

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
            for item in WarcSource(partition.uri, max_body_bytes=self.fetch.max_body_bytes).read(partition):
                if isinstance(item, Document):
                    item.source.kind = "crawl"
                    if item.source.offset in noimageai:
                        item.scores[NOIMAGEAI_SCORE] = 1.0
                yield item
        for o in outcomes:
            if o.kind == "rejected":
                yield Rejection(document_id(o.url, partition.uri), o.url, "document", STAGE, o.reason,
                                value=o.value, detail=o.detail)
