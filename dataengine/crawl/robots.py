"""robots.txt: fetched once per origin, cached on disk across resumes, obeyed (RFC 9309).

Outcomes follow the RFC: a 2xx is parsed (Protego: wildcards, longest match, ``Crawl-delay``,
``Request-rate``); a 4xx, or more than five redirects, means there are no rules; a 5xx or an
unreachable host means *complete disallow* for now (that verdict is not cached, so a resumed
crawl asks again).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Callable

from protego import Protego

from dataengine.crawl.fetch import Response
from dataengine.crawl.urls import canonicalize, origin_slug

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309: at least 500 KiB must be parsed
MAX_HOPS = 5


class RobotsRules:
    """The rules of one origin for one user agent: ``None`` parser with ``allow_all`` or not."""

    def __init__(self, text: str | None, allow_all: bool = False, detail: str | None = None):
        self.parser = Protego.parse(text) if text is not None else None
        self.allow_all = allow_all
        self.detail = detail  # why there are no parsed rules (for rejection rows)

    @property
    def unavailable(self) -> bool:
        """True when robots.txt could not be had: nothing may be fetched."""
        return self.parser is None and not self.allow_all

    def allows(self, url: str, token: str) -> bool:
        """Whether ``url`` may be fetched by agent ``token``."""
        if self.parser is None:
            return self.allow_all
        return self.parser.can_fetch(url, token)

    def delay(self, token: str) -> float | None:
        """Seconds between requests the site asks of ``token`` (``Crawl-delay`` or ``Request-rate``)."""
        if self.parser is None:
            return None
        delays = []
        crawl_delay = self.parser.crawl_delay(token)
        if crawl_delay is not None:
            delays.append(float(crawl_delay))
        rate = self.parser.request_rate(token)
        if rate is not None and rate.requests > 0:
            delays.append(rate.seconds / rate.requests)
        return max(delays) if delays else None


class RobotsCache:
    """robots.txt per origin: in memory, and as JSON files in ``folder`` valid for ``max_age`` seconds."""

    def __init__(self, folder: str | Path, max_age: float):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_age = max_age
        self._rules: dict[str, RobotsRules] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def rules(self, origin_url: str, get: Callable[[str], Response]) -> RobotsRules:
        """The rules of ``origin_url``, fetching robots.txt with ``get`` at most once per origin."""
        with self._guard:
            lock = self._locks.setdefault(origin_url, threading.Lock())
        with lock:
            if origin_url not in self._rules:
                self._rules[origin_url] = self._load(origin_url) or self._fetch(origin_url, get)
            return self._rules[origin_url]

    def _path(self, origin_url: str) -> Path:
        return self.folder / f"{origin_slug(origin_url)}.json"

    def _load(self, origin_url: str) -> RobotsRules | None:
        try:
            saved = json.loads(self._path(origin_url).read_text())
        except (OSError, ValueError):
            return None
        if time.time() - saved.get("fetched_at", 0) > self.max_age:
            return None
        return RobotsRules(saved.get("text"), allow_all=saved.get("allow_all", False))

    def _save(self, origin_url: str, text: str | None, allow_all: bool) -> None:
        path = self._path(origin_url)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"origin": origin_url, "text": text, "allow_all": allow_all,
                                   "fetched_at": time.time()}))
        tmp.replace(path)

    def _fetch(self, origin_url: str, get: Callable[[str], Response]) -> RobotsRules:
        url = origin_url + "/robots.txt"
        for _ in range(MAX_HOPS + 1):
            resp = get(url)
            if resp.location:
                target = canonicalize(resp.location, url)
                if target is None:
                    break  # a redirect to a non-web scheme: treat as no robots.txt
                url = target
                continue
            if resp.status is not None and 200 <= resp.status < 300 and resp.body is not None:
                text = resp.body.decode("utf-8", errors="replace")
                self._save(origin_url, text, False)
                return RobotsRules(text)
            if resp.status is not None and 400 <= resp.status < 500:
                self._save(origin_url, None, True)
                return RobotsRules(None, allow_all=True)
            return RobotsRules(None, detail=f"{url}: {resp.error or resp.status} {resp.detail or ''}".strip())
        self._save(origin_url, None, True)
        return RobotsRules(None, allow_all=True)

