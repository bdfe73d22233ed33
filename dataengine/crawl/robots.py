"""robots.txt in a crawl: fetched once per origin, cached on disk across resumes, obeyed.

Reading, the status policy and matching are ``dataengine.net.robots`` (RFC 9309), shared with
the image fetcher. The crawl adds the cache: a parsed file, or a 4xx's "no rules", is kept as
JSON for ``max_age`` seconds, so a resumed crawl does not ask again; a 5xx, a 429 or an
unreachable host means *complete disallow* for now and is not kept, so a resumed crawl asks again. A
redirect chain that never reaches a file (more than five hops, a loop, a non-web target)
means there are no rules, and that is kept.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dataengine.crawl.fetch import Response
from dataengine.crawl.urls import origin_slug
from dataengine.net.robots import RobotsAnswer, RobotsRules, read_robots


def robots_answer(resp: Response) -> RobotsAnswer:
    """A crawler ``Response`` to a robots.txt request, as the shared reader reads it."""
    detail = f"{resp.error or resp.status} {resp.detail or ''}".strip()
    return RobotsAnswer(resp.status, resp.body, resp.location, detail)


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

    def _fetch(self, origin_url: str, get: Callable[[str], Response]) -> RobotsRules:
        rules = read_robots(origin_url + "/robots.txt", lambda url: robots_answer(get(url)), lost_redirect_allows=True)
        if not rules.unavailable:
            path = self._path(origin_url)
            tmp = path.with_suffix(f".tmp-{os.getpid()}")
            tmp.write_text(json.dumps({"origin": origin_url, "text": rules.text, "allow_all": rules.allow_all,
                                       "fetched_at": time.time()}))
            tmp.replace(path)
        return rules
