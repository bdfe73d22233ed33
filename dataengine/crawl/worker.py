"""``FetchWorker``: fetches the URLs of the origins hashed onto it (a Ray actor in a crawl).

Every request to an origin is made here, through that origin's ``HostGate``, so politeness
holds whatever the driver asks: robots.txt first (once, cached), then the page under the
crawl delay and concurrency bound, retries included. For each URL the worker decides the
outcome (page, rejection with a reason, or redirect), writes pages to the origin's current
WARC batch and every outcome to its log, and returns the outcomes with the page's links.
"""

from __future__ import annotations

import threading
import traceback
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dataengine.crawl.archive import Outcome, WarcBatch, next_sequence
from dataengine.crawl.fetch import FetchConfig, Response, fetch
from dataengine.crawl.frontier import Task
from dataengine.crawl.links import extract_links, parse_html
from dataengine.crawl.politeness import HostGate, PolitenessConfig
from dataengine.crawl.robots import RobotsCache
from dataengine.crawl.scope import Scope
from dataengine.crawl.state import lock_file
from dataengine.crawl.urls import canonicalize, origin_slug
from dataengine.crawl.urls import origin as _origin_of
from dataengine.net.addresses import AddressRefused, Network
from dataengine.net.pinned import PinnedPools
from dataengine.net.robots import ROBOTS_MAX_BYTES
from dataengine.optout.lists import OptOutList
from dataengine.optout.signals import PageOptOut, page_optout, x_robots_directives
from dataengine.sources.warc import HTML_TYPES

SITEMAP_MAX_BYTES = 50 * 1024 * 1024  # the sitemap protocol's limit, uncompressed
SITEMAP_MAX_FILES = 50
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
LOCK_WAIT = 60.0


@dataclass
class WorkerSettings:
    """Everything a worker needs, picklable: the rules, the state folder and the batch size."""

    state_dir: str
    politeness: PolitenessConfig
    fetch: FetchConfig
    scope: Scope
    allow_private: bool | list[Network]
    optout: OptOutList | None
    pages_per_warc: int


def _gunzip(data: bytes, limit: int) -> bytes:
    """``data``, inflated if gzipped, refusing more than ``limit`` bytes (a gzip bomb stops here)."""
    if data[:2] != b"\x1f\x8b":
        return data
    out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, limit + 1)
    if len(out) > limit:
        raise ValueError(f"more than {limit} bytes once inflated")
    return out


def read_page(url: str, headers: list[tuple[str, str]], body: bytes, token: str) -> tuple[list[str], PageOptOut]:
    """A fetched page's links to follow and its opt-out signals (parsing the HTML once)."""
    tree = parse_html(body)
    robots = x_robots_directives([v for k, v in headers if k.lower() == "x-robots-tag"], token)
    links = [] if robots & {"nofollow", "none"} else extract_links(tree, url, token)
    return links, page_optout(headers, tree, token)


class _Origin:
    """A worker's state for one origin: its gate and current WARC batch."""

    def __init__(self, settings: WorkerSettings):
        pol = settings.politeness
        self.gate = HostGate(pol.concurrency_per_host, pol.delay)
        self.batch: WarcBatch | None = None
        self.lock = threading.Lock()


class FetchWorker:
    """Fetch tasks for the origins assigned to this worker (``index`` names its lock file)."""

    def __init__(self, settings: WorkerSettings, index: int):
        self.settings = settings
        self.state = Path(settings.state_dir)
        self.warc_dir = self.state / "warc"
        self.warc_dir.mkdir(parents=True, exist_ok=True)
        # Held for the worker's life: a later crawl waits for it before reading the logs.
        self._lock_fd = lock_file(self.state / "locks" / f"worker-{index}.lock", LOCK_WAIT)
        self.token = settings.politeness.robots_token
        self.robots = RobotsCache(self.state / "robots", settings.politeness.robots_max_age)
        # One pinned pool per host: checked once, then connected to at the checked address only.
        pol = settings.politeness
        self.pools = PinnedPools(settings.allow_private, pol.concurrency_per_host,
                                 {"User-Agent": pol.user_agent, "Accept-Encoding": "gzip, deflate"})
        self._origins: dict[str, _Origin] = {}
        self._guard = threading.Lock()

    def _origin(self, origin: str) -> _Origin:
        with self._guard:
            if origin not in self._origins:
                self._origins[origin] = _Origin(self.settings)
            return self._origins[origin]

    # --- requests -------------------------------------------------------------------------
    def _get(self, host: _Origin, url: str, accept: Collection[str] | None = None,
             max_bytes: int | None = None, truncate: bool = False) -> Response:
        """A gated GET of ``url``, refused before any connection when its host is not allowed."""
        return fetch(self.pools, url, host.gate, self.settings.fetch, accept, max_bytes, truncate)

    def sitemap(self, url: str) -> tuple[list[str], str | None]:
        """Page URLs listed by the sitemap at ``url`` (a sitemap index is followed), or an error."""
        todo, pages, seen = [url], [], set()
        while todo and len(seen) < SITEMAP_MAX_FILES:
            current = todo.pop(0)
            seen.add(current)
            resp = self._get(self._origin(_origin_of(current)), current, max_bytes=SITEMAP_MAX_BYTES)
            if resp.body is None:
                return pages, f"sitemap {current}: {resp.error or resp.status} {resp.detail or ''}".strip()
            try:
                root = ET.fromstring(_gunzip(resp.body, SITEMAP_MAX_BYTES))
            except (ValueError, zlib.error, ET.ParseError) as exc:
                return pages, f"sitemap {current}: not a (gzipped) XML sitemap: {exc}"
            locs = [canonicalize(loc.text or "", current) for loc in root.iter(f"{_SITEMAP_NS}loc")]
            if root.tag == f"{_SITEMAP_NS}sitemapindex":
                todo += [loc for loc in locs if loc and loc not in seen]
            else:
                pages += [loc for loc in locs if loc]
        return pages, None

    # --- pages ----------------------------------------------------------------------------
    def fetch(self, origin: str, tasks: list[Task]) -> list[Outcome]:
        """Fetch ``tasks`` (all of ``origin``), log each outcome, and return them."""
        host = self._origin(origin)
        threads = min(self.settings.politeness.concurrency_per_host, len(tasks))
        if threads <= 1:
            return [self._record(origin, host, task) for task in tasks]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda task: self._record(origin, host, task), tasks))

    def _record(self, origin: str, host: _Origin, task: Task) -> Outcome:
        try:
            outcome, resp = self._outcome(host, task)
        except Exception as exc:  # a bug on one page must not end the crawl
            outcome, resp = Outcome(task.url, "rejected", task.depth, "crawl_error",
                                    f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"[:2000]), None
        with host.lock:
            if host.batch is None or host.batch.pages >= self.settings.pages_per_warc:
                if host.batch is not None:
                    host.batch.close()
                slug = origin_slug(origin)
                host.batch = WarcBatch(self.warc_dir, slug, next_sequence(self.warc_dir, slug))
            batch = host.batch
        batch.add(outcome, resp if outcome.kind == "page" else None)
        return outcome

    def _outcome(self, host: _Origin, task: Task) -> tuple[Outcome, Response | None]:
        url, pol = task.url, self.settings.politeness

        def reject(reason: str, detail: str | None = None, **extra) -> tuple[Outcome, None]:
            return Outcome(url, "rejected", task.depth, reason, detail, chain=list(task.chain), **extra), None

        if self.settings.optout is not None and (entry := self.settings.optout.match(url)):
            return reject("optout_list", f"listed: {entry}")
        try:
            self.pools.host(url)  # refused here, not as robots_unavailable, and before robots.txt is asked for
        except AddressRefused as exc:
            return reject(exc.reason, exc.detail)
        rules = self.robots.rules(_origin_of(url),
                                  lambda u: self._get(host, u, max_bytes=ROBOTS_MAX_BYTES, truncate=True))
        if rules.unavailable:
            return reject("robots_unavailable", rules.detail)
        asked = rules.delay(self.token)
        if asked is not None and asked > pol.max_crawl_delay:
            return reject("crawl_delay_too_long", f"robots.txt asks {asked:g} s between requests",
                          value=asked)
        host.gate.set_interval(max(pol.delay, asked or 0.0))
        if not rules.allows(url, self.token):
            return reject("robots_disallowed")
        resp = self._get(host, url, accept=HTML_TYPES)
        if resp.location is not None:
            return self._redirect(task, resp), None
        if resp.error:
            return reject(resp.error, resp.detail, status=resp.status, attempts=resp.attempts,
                          value=float(resp.status) if resp.status else None)
        links, signals = read_page(url, resp.headers, resp.body or b"", self.token)
        if signals.reason:
            return reject(signals.reason, signals.detail, status=resp.status, links=links)
        return Outcome(url, "page", task.depth, status=resp.status, chain=list(task.chain), links=links,
                       noimageai=signals.noimageai, fetch_time=resp.fetch_time, attempts=resp.attempts), resp

    def _redirect(self, task: Task, resp: Response) -> Outcome:
        chain = [*task.chain, task.url]
        target = canonicalize(resp.location or "", task.url)

        def reject(reason: str, detail: str) -> Outcome:
            return Outcome(task.url, "rejected", task.depth, reason, detail, status=resp.status, chain=chain)

        if target is None:
            return reject("redirect_refused_scheme", f"Location: {resp.location}")
        if target in chain:
            return reject("redirect_loop", " -> ".join([*chain, target]))
        if len(chain) > self.settings.fetch.max_redirects:
            return reject("too_many_redirects", f"{len(chain)} redirects, max_redirects "
                                                f"{self.settings.fetch.max_redirects}")
        refusal = self.settings.scope.refusal(target, task.depth)
        if refusal:
            return reject("redirect_out_of_scope", f"-> {target} ({refusal})")
        return Outcome(task.url, "redirect", task.depth, status=resp.status, target=target, chain=chain,
                       fetch_time=resp.fetch_time)

    def close(self) -> None:
        """Close every open batch (the driver calls this before the worker is killed)."""
        with self._guard:
            for host in self._origins.values():
                if host.batch is not None:
                    host.batch.close()
                    host.batch = None
        self.pools.close()

