"""User opt-out lists: URLs and domains whose content must not be used, one per line.

::

    # comments and blank lines are ignored
    https://example.com/articles/mine.html     one page (compared in canonical form)
    example.org                                a domain and all its subdomains
    *.example.net                              the same, written as a wildcard

The crawler consults the list before fetching (a listed page is never requested), the
``optout`` stage applies it to documents and image slots in a pipeline, and
``dataengine optout CORPUS LIST`` applies it to a corpus already written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import fsspec

from dataengine.crawl.urls import canonicalize

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


@dataclass
class OptOutList:
    """Opted-out canonical URLs and domains; ``match(url)`` names the entry a URL falls under."""

    urls: set[str] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    source: str = "<list>"

    @classmethod
    def parse(cls, text: str, source: str = "<list>") -> OptOutList:
        """Parse list text; ``ValueError`` names ``source`` and the line of an entry that is neither."""
        out = cls(source=source)
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if "://" in line:
                url = canonicalize(line)
                if url is None:
                    raise ValueError(f"{source}:{number}: {line!r} is not an http(s) URL")
                out.urls.add(url)
                continue
            domain = line.lower().removeprefix("*.").rstrip(".")
            try:
                domain = domain.encode("idna").decode("ascii")
            except UnicodeError:
                pass
            if not _DOMAIN.match(domain):
                raise ValueError(f"{source}:{number}: {line!r} is neither an http(s) URL nor a domain")
            out.domains.add(domain)
        return out

    @classmethod
    def load(cls, path: str) -> OptOutList:
        """Read a list from a local path or URL (``s3://...``)."""
        try:
            with fsspec.open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ValueError(f"opt-out list {path} does not exist") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"opt-out list {path} is not UTF-8 text") from None
        return cls.parse(text, path)

    def __len__(self) -> int:
        return len(self.urls) + len(self.domains)

    def match(self, url: str | None) -> str | None:
        """The entry that opts ``url`` out (the canonical URL or the domain), or ``None``."""
        if not url:
            return None
        canonical = canonicalize(url)
        if canonical is None:
            return None
        if canonical in self.urls:
            return canonical
        host = (urlsplit(canonical).hostname or "").lower()
        labels = host.split(".")
        for i in range(len(labels)):
            if ".".join(labels[i:]) in self.domains:
                return ".".join(labels[i:])
        return None
