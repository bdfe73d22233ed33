"""Per-host politeness: how many requests at once, and how far apart they start.

A ``HostGate`` lives in the fetch worker that owns the host, so every request to that host
(robots.txt, sitemap, pages, retries) passes through the same gate: at most ``concurrency``
in flight, request starts at least ``interval`` seconds apart, and after a 429/503 with
``Retry-After`` the whole host waits, not only the URL that got it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dataengine.net.robots import product_token


@dataclass
class PolitenessConfig:
    """Politeness rules (the crawl source's ``politeness:`` YAML block).

    ``user_agent`` is sent with every request and matched against robots.txt groups.
    ``delay`` is our own floor on the seconds between request starts to one host; a robots.txt
    ``Crawl-delay`` or ``Request-rate`` for our agent raises it. A host asking for more than
    ``max_crawl_delay`` seconds is not crawled (its pages are rejected ``crawl_delay_too_long``)
    rather than crawled faster than it asked. ``concurrency_per_host`` bounds requests in flight
    to one host. ``robots_max_age`` is how long a cached robots.txt stays valid, resumes included.
    """

    user_agent: str = "dataengine"
    delay: float = 1.0
    max_crawl_delay: float = 30.0
    concurrency_per_host: int = 1
    robots_max_age: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if not self.user_agent.strip():
            raise ValueError("crawl politeness: user_agent must not be empty")
        if self.delay < 0 or self.max_crawl_delay < 0:
            raise ValueError("crawl politeness: delay and max_crawl_delay must be >= 0")
        if self.concurrency_per_host < 1:
            raise ValueError("crawl politeness: concurrency_per_host must be at least 1")

    @property
    def robots_token(self) -> str:
        """The product token robots.txt groups are matched against (``dataengine/1.0 (+url)`` -> ``dataengine``)."""
        return product_token(self.user_agent)


class HostGate:
    """Admission to one host: a concurrency bound and a minimum spacing of request starts."""

    def __init__(self, concurrency: int, interval: float):
        self.interval = interval
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._last_start = float("-inf")
        self._hold_until = 0.0

    def set_interval(self, seconds: float) -> None:
        """Change the spacing (once robots.txt is known); it counts from the last request made."""
        with self._lock:
            self.interval = seconds

    def hold_off(self, seconds: float) -> None:
        """Make the whole host wait at least ``seconds`` from now (a ``Retry-After``)."""
        with self._lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    @contextmanager
    def request(self) -> Iterator[None]:
        """Hold a slot for one request, started no earlier than the spacing allows."""
        with self._slots:
            while True:
                with self._lock:
                    now = time.monotonic()
                    start = max(now, self._last_start + self.interval, self._hold_until)
                    if start <= now:
                        self._last_start = now
                        break
                time.sleep(start - now)  # then look again: a Retry-After may have come in meanwhile
            yield
