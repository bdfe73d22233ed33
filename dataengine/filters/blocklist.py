"""``url_blocklist``: drop documents (and images) whose URL or domain is on a blocklist.

Lists are inline (``domains``, ``urls``) or files (``domain_files``, ``url_files``; local
or any fsspec URL such as ``s3://``), one entry a line, ``#`` comments allowed. Domain
files may be in hosts-file form (``0.0.0.0 ads.example.com``): the last field is the
domain. A domain blocks itself and all its subdomains (``example.com`` blocks
``www.example.com`` and ``cdn.img.example.com``, not ``badexample.com``). URLs are
compared in canonical form (scheme and host lower-cased, default port and fragment
dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import fsspec

from dataengine.filters.images import fail_image
from dataengine.stages.base import Stage
from schemas import Document
from schemas.document import canonical_url


def read_list(path: str) -> list[str]:
    """Non-empty, non-comment lines of a list file, with trailing comments removed."""
    out = []
    with fsspec.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            entry = line.split("#", 1)[0].strip()
            if entry:
                out.append(entry)
    return out


def normalize_domain(entry: str) -> str:
    """``*.Example.COM.`` or ``0.0.0.0 example.com`` -> ``example.com``."""
    domain = entry.split()[-1].strip().lower().rstrip(".")
    return domain.removeprefix("*.").removeprefix(".")


def url_host(url: str) -> str:
    """The lower-case host of ``url`` without port or trailing dot ('' when there is none)."""
    try:
        return (urlsplit(url.strip()).hostname or "").rstrip(".")
    except ValueError:
        return ""


@dataclass
class BlocklistConfig:
    """The ``url_blocklist`` parameters: entries inline (``domains``, ``urls``) and in list files
    (``domain_files``, ``url_files``), and whether images on blocked domains fail (``check_images``)."""

    domains: list[str] | None = None
    domain_files: list[str] | None = None
    urls: list[str] | None = None
    url_files: list[str] | None = None
    check_images: bool = True


class UrlBlocklist(Stage):
    """Reject documents on blocked domains or URLs; fail their images on blocked domains.

    Parameters: ``BlocklistConfig``. Reasons: ``domain_blocked`` and ``url_blocked`` for
    documents, ``image_domain_blocked`` for images (when ``check_images``); the detail names
    the matching entry.
    """

    name = "url_blocklist"
    Config = BlocklistConfig
    config: BlocklistConfig

    def setup(self) -> None:
        """Read the list files and normalise every entry."""
        entries = list(self.config.domains or [])
        for path in self.config.domain_files or []:
            entries.extend(read_list(path))
        self.domains = {normalize_domain(e) for e in entries} - {""}
        url_entries = list(self.config.urls or [])
        for path in self.config.url_files or []:
            url_entries.extend(read_list(path))
        self.urls = {canonical_url(u) for u in url_entries}

    def blocked_domain(self, url: str) -> str | None:
        """The blocklist entry that covers the host of ``url``, if any."""
        labels = url_host(url).split(".")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            if suffix in self.domains:
                return suffix
        return None

    def process(self, doc: Document) -> Document | None:
        """Drop the document if blocked; otherwise fail its images on blocked domains."""
        entry = self.blocked_domain(doc.url)
        if entry:
            self.reject(doc, "domain_blocked", detail=entry)
            return None
        if self.urls and canonical_url(doc.url) in self.urls:
            self.reject(doc, "url_blocked", detail=canonical_url(doc.url))
            return None
        if self.config.check_images:
            for image in doc.images:
                if image.status != "failed" and image.url and (entry := self.blocked_domain(image.url)):
                    fail_image(self, doc, image, "image_domain_blocked", detail=entry)
        return doc
