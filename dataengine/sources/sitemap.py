"""A site listed by its ``sitemap.xml``: the pages are fetched, split into fixed-size partitions.

This is the simple way to read a known site (the demo's sample web among them): no link
following, one request at a time per partition, ``robots.txt`` obeyed. Crawling an
unknown site with full politeness is the crawler's job.

Pages are fetched with the image fetcher's guarded client (``dataengine.images.http``):
connect and read timeouts and a limit on a whole transfer, retries of 429/5xx honouring
``Retry-After``, redirects checked hop by hop (loops, refused schemes and addresses), a
body size limit and an HTML Content-Type. A page that fails is a ``rejected`` row whose
reason names the failure (``http_404``, ``read_timeout``, ``redirect_loop``, ...).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from dataengine.images.http import FetchError, HttpClient, HttpConfig
from dataengine.sources.base import Partition, Source
from schemas import Document, RawPage, Rejection, SourceRef, document_id

STAGE = "source:sitemap"
_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
# What the extractor parses; anything else is refused before its body is read.
PAGE_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")


@dataclass
class SitemapConfig:
    """The ``sitemap`` source's parameters: the sitemap's ``url``, pages per partition, and how pages are fetched
    (``allow_private``: ``false``, ``true`` or a list of CIDR networks that may be contacted)."""

    url: str
    pages_per_partition: int = 20
    user_agent: str = "dataengine"
    timeout: float = 10.0
    max_body_bytes: int = 5 * 1024 * 1024
    allow_private: bool | str | list[str] = False
    max_seconds: float = 60.0
    retries: int = 2
    max_redirects: int = 5

    def __post_init__(self) -> None:
        if urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"url must be http(s), got {self.url!r}")
        if self.pages_per_partition < 1:
            raise ValueError("pages_per_partition must be at least 1")

    def http(self) -> HttpConfig:
        """The HTTP client's settings for the sitemap's pages."""
        return HttpConfig(
            user_agent=self.user_agent, read_timeout=self.timeout, max_seconds=self.max_seconds,
            max_bytes=self.max_body_bytes, max_redirects=self.max_redirects, retries=self.retries, max_per_host=1,
            optout_directives=(), respect_tdm=False, accept_types=PAGE_TYPES, allow_private=self.allow_private)


class SitemapSource(Source):
    """Pages listed in a sitemap, ``pages_per_partition`` at a time."""

    name = "sitemap"
    Config = SitemapConfig
    config: SitemapConfig

    def __init__(self, *args: Any, **params: Any) -> None:
        super().__init__(*args, **params)
        self.http_config = self.config.http()

    def partitions(self) -> list[Partition]:
        """Fetch the sitemap and split its page URLs, sorted, into chunks."""
        client = HttpClient(replace(self.http_config, accept_types=(), respect_robots=False))
        try:
            body = client.get(self.config.url).body
        except FetchError as exc:
            hint = "; set allow_private to read a private or loopback host" if exc.reason == "refused_address" else ""
            raise ValueError(f"sitemap source: cannot fetch {self.config.url}: "
                             f"{exc.reason} ({exc.detail}){hint}") from None
        finally:
            client.close()
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise ValueError(f"sitemap source: {self.config.url} is not XML: {exc}") from None
        urls = sorted({urljoin(self.config.url, loc.text.strip()) for loc in root.iter(f"{_NS}loc") if loc.text})
        # The host names the partitions, its port does not: a site served on whatever port was free
        # (the sample web, a local mirror) keeps its shard names, so a rerun resumes.
        host = (urlsplit(self.config.url).hostname or "site").replace(".", "-").replace(":", "-")
        n = self.config.pages_per_partition
        return [Partition(f"site-{host}-{i // n:05d}", self.config.url, {"urls": urls[i:i + n]})
                for i in range(0, len(urls), n)]

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Fetch each page of the partition; disallowed and failed fetches become rejections."""
        client = HttpClient(self.http_config)
        try:
            for url in partition.meta["urls"]:
                doc_id = document_id(url, self.config.url)
                try:
                    resp = client.get(url)
                except FetchError as exc:
                    yield Rejection(doc_id, url, "document", STAGE, exc.reason, value=exc.value,
                                    threshold=exc.threshold, detail=exc.detail)
                    continue
                fetched = datetime.now(UTC).isoformat()
                source = SourceRef("crawl", self.config.url, None, len(resp.body), fetched)
                yield Document(id=doc_id, url=url, source=source, raw=RawPage(resp.body, resp.headers, resp.status))
        finally:
            client.close()
