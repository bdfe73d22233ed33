"""Which discovered URLs the crawl follows: same site, allow and deny patterns, depth, page budget."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dataengine.crawl.urls import site_of


@dataclass
class ScopeConfig:
    """Scope rules (the crawl source's ``scope:`` YAML block).

    ``same_site`` keeps the crawl on the hosts of its seeds (and sitemap), a leading ``www.``
    ignored. ``allow`` (regexes, searched in the canonical URL) admits only URLs matching one of
    them, when given; ``deny`` drops URLs matching any. ``max_depth`` counts links from a seed
    (seeds and sitemap entries are depth 0; a redirect keeps its source's depth). ``max_pages``
    caps the URLs taken from the frontier over the whole crawl, resumes included.
    """

    same_site: bool = True
    allow: list[str] | str = field(default_factory=list)  # one pattern may be given as a string
    deny: list[str] | str = field(default_factory=list)
    max_depth: int | None = None
    max_pages: int | None = None

    def __post_init__(self) -> None:
        for key in ("allow", "deny"):
            patterns = getattr(self, key)
            if isinstance(patterns, str):
                setattr(self, key, patterns := [patterns])
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"crawl scope: {key} pattern {pattern!r} is not a regex: {exc}") from None
        for key in ("max_depth", "max_pages"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"crawl scope: {key} must be a non-negative integer, got {value!r}")


class Scope:
    """Decides whether a canonical URL at a given depth is in scope; ``None`` means yes."""

    def __init__(self, config: ScopeConfig, seed_urls: list[str]):
        self.config = config
        self.sites = {site_of(url) for url in seed_urls}
        self._allow = [re.compile(p) for p in config.allow]
        self._deny = [re.compile(p) for p in config.deny]

    def refusal(self, url: str, depth: int) -> str | None:
        """Why ``url`` is out of scope (``offsite``, ``denied``, ``not_allowed``, ``too_deep``), or ``None``."""
        if self.config.same_site and site_of(url) not in self.sites:
            return "offsite"
        if any(p.search(url) for p in self._deny):
            return "denied"
        if self._allow and not any(p.search(url) for p in self._allow):
            return "not_allowed"
        if self.config.max_depth is not None and depth > self.config.max_depth:
            return "too_deep"
        return None
