"""A site listed by its ``sitemap.xml``: the pages are fetched, split into fixed-size partitions.

This is the simple way to read a known site (the demo's sample web among them): no link
following, one request at a time per partition, ``robots.txt`` obeyed. Crawling an
unknown site with full politeness is the crawler's job.
"""

from __future__ import annotations

import ipaddress
import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Iterator
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests

from dataengine.sources.base import Partition, Source
from schemas import Document, RawPage, Rejection, SourceRef, document_id

STAGE = "source:sitemap"
_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def is_private_host(host: str) -> bool:
    """True when ``host`` resolves to a loopback, private or link-local address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local:
            return True
    return False


class SitemapSource(Source):
    """Pages listed in a sitemap, ``pages_per_partition`` at a time."""

    name = "sitemap"

    def __init__(self, url: str, pages_per_partition: int = 20, user_agent: str = "dataengine",
                 timeout: float = 10.0, max_body_bytes: int = 5 * 1024 * 1024, allow_private: bool = False):
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"sitemap source: url must be http(s), got {url!r}")
        if pages_per_partition < 1:
            raise ValueError("sitemap source: pages_per_partition must be at least 1")
        self.url = url
        self.pages_per_partition = pages_per_partition
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.allow_private = allow_private

    def _check_host(self) -> None:
        host = urlsplit(self.url).hostname or ""
        if not self.allow_private and is_private_host(host):
            raise ValueError(f"sitemap source: {host} is a private or loopback address; "
                             "set allow_private: true to read it")

    def partitions(self) -> list[Partition]:
        """Fetch the sitemap and split its page URLs, sorted, into chunks."""
        self._check_host()
        resp = requests.get(self.url, timeout=self.timeout, headers={"User-Agent": self.user_agent})
        resp.raise_for_status()
        root = ET.fromstring(resp.content)
        urls = sorted({urljoin(self.url, loc.text.strip()) for loc in root.iter(f"{_NS}loc") if loc.text})
        host = urlsplit(self.url).netloc.replace(":", "-").replace(".", "-")
        n = self.pages_per_partition
        return [Partition(f"site-{host}-{i // n:05d}", self.url, {"urls": urls[i:i + n]})
                for i in range(0, len(urls), n)]

    def read(self, partition: Partition) -> Iterator[Document | Rejection]:
        """Fetch each page of the partition; robots-disallowed and failed fetches become rejections."""
        self._check_host()
        session = requests.Session()
        session.headers["User-Agent"] = self.user_agent
        robots = self._robots(session)
        for url in partition.meta["urls"]:
            doc_id = document_id(url, self.url)
            if not robots.can_fetch(self.user_agent, url):
                yield Rejection(doc_id, url, "document", STAGE, "robots_disallowed")
                continue
            try:
                resp = session.get(url, timeout=self.timeout, stream=True)
                body = resp.raw.read(self.max_body_bytes + 1, decode_content=True)
            except requests.RequestException as exc:
                yield Rejection(doc_id, url, "document", STAGE, "fetch_failed", detail=f"{type(exc).__name__}: {exc}")
                continue
            if resp.status_code != 200:
                yield Rejection(doc_id, url, "document", STAGE, f"http_{resp.status_code}",
                                value=float(resp.status_code))
                continue
            if len(body) > self.max_body_bytes:
                yield Rejection(doc_id, url, "document", STAGE, "body_too_large", value=float(len(body)),
                                threshold=float(self.max_body_bytes))
                continue
            headers = {k.lower(): v for k, v in resp.headers.items()}
            fetched = datetime.now(timezone.utc).isoformat()
            yield Document(id=doc_id, url=url, source=SourceRef("crawl", self.url, None, len(body), fetched),
                           raw=RawPage(body, headers, resp.status_code))

    def _robots(self, session: requests.Session) -> RobotFileParser:
        parser = RobotFileParser()
        try:
            resp = session.get(urljoin(self.url, "/robots.txt"), timeout=self.timeout)
            lines = resp.text.splitlines() if resp.status_code == 200 else []
        except requests.RequestException:
            lines = []
        parser.parse(lines)
        return parser
