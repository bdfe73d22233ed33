"""robots.txt for every fetcher (RFC 9309): one reading, one status policy, one matching.

``read_robots`` asks for the file one hop at a time through the caller's ``get``, so each
fetcher sends that request under its own rules (the crawler through its host gate, with its
retries; the image fetcher through its per-host slots) and keeps the verdict its own way (the
crawler on disk for ``robots_max_age``, the image fetcher in memory per host). What is decided
here, for both:

- an answer that carries the file (a 200) is parsed (Protego: groups matched by product
  token, case-insensitive, longest match, ``*`` and ``$``, ``Crawl-delay`` and
  ``Request-rate``); only its first ``ROBOTS_MAX_BYTES`` count (RFC 9309 2.5: a parsing limit
  of at least 500 KiB);
- a 4xx means the file is unavailable: there are no rules, everything is allowed (2.3.1.3);
  a 429 is not one of those: it asks us to come back later, so it counts as unreachable;
- a 5xx, or no answer at all (refused address, DNS failure, timeout, reset), means the file is
  unreachable: complete disallow (2.3.1.4), a verdict for now (the crawler does not store it,
  so a resumed crawl asks again; the image fetcher keeps it for its client's life);
- redirects are followed, across hosts too, up to ``MAX_REDIRECTS`` (2.3.1.2). A chain that
  never reaches a file (longer than that, a loop, or a target that is not http(s)) is *lost*:
  RFC 9309 lets a crawler take that as unavailable (allow all), and ``lost_redirect_allows``
  says whether this caller does (the crawler) or refuses the host instead (the image fetcher).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from protego import Protego

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: parse at least 500 KiB, and here no more
MAX_REDIRECTS = 5  # RFC 9309 2.3.1.2: follow at least five consecutive redirects


def product_token(user_agent: str) -> str:
    """The product token of ``user_agent`` that robots.txt groups name, lower-cased
    (``Dataengine/1.0 (+https://x)`` -> ``dataengine``); RFC 9309 matches it case-insensitively."""
    return user_agent.split("/", 1)[0].split()[0].lower()


@dataclass
class RobotsAnswer:
    """One robots.txt request as a fetcher saw it (no redirect followed).

    ``status`` is ``None`` when no HTTP answer came (refused address, DNS, timeout, reset);
    ``body`` is set only for an answer whose bytes are the file; ``location`` is where a
    redirect points; ``detail`` says what went wrong, for the rejection rows of an unreachable file.
    """

    status: int | None = None
    body: bytes | None = None
    location: str | None = None
    detail: str = ""


class RobotsRules:
    """The robots.txt verdict of one origin: parsed rules, allow all, or (``unavailable``) disallow all.

    ``text`` is the file as parsed (``None`` without one), so that a cache can store and rebuild
    the verdict; ``detail`` says why there are no rules when nothing may be fetched.
    """

    def __init__(self, text: str | None, allow_all: bool = False, detail: str | None = None):
        self.text = text
        self.parser = Protego.parse(text) if text is not None else None
        self.allow_all = allow_all
        self.detail = detail

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


def read_robots(url: str, get: Callable[[str], RobotsAnswer], lost_redirect_allows: bool) -> RobotsRules:
    """The verdict of the robots.txt at ``url`` (an origin's ``/robots.txt``), asking ``get`` for each hop.

    ``get`` should read no more than ``ROBOTS_MAX_BYTES`` of a body; anything past them is ignored.
    """
    seen = {url}
    for _ in range(MAX_REDIRECTS + 1):
        answer = get(url)
        if answer.location is None:
            return _verdict(url, answer)
        target = urldefrag(urljoin(url, answer.location)).url
        if urlsplit(target).scheme not in ("http", "https"):
            return _lost(lost_redirect_allows, f"{url}: redirect_refused_scheme (Location: {answer.location})")
        if target in seen:
            return _lost(lost_redirect_allows, f"{url}: redirect_loop (back to {target})")
        seen.add(target)
        url = target
    return _lost(lost_redirect_allows, f"{url}: too_many_redirects (more than {MAX_REDIRECTS})")


def _verdict(url: str, answer: RobotsAnswer) -> RobotsRules:
    if answer.body is not None:
        return RobotsRules(answer.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace"))
    if answer.status is not None and 400 <= answer.status < 500 and answer.status != 429:
        return RobotsRules(None, allow_all=True)
    return RobotsRules(None, detail=f"{url}: {answer.detail}")


def _lost(allows: bool, detail: str) -> RobotsRules:
    return RobotsRules(None, allow_all=True) if allows else RobotsRules(None, detail=detail)
