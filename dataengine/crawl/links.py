"""Links of a fetched page: ``<a href>`` and ``<area href>``, resolved and canonicalised.

``<base href>`` is honoured, as browsers do. A page whose robots meta tag (for every robot or
for our agent) says ``nofollow`` or ``none`` gives no links; so does ``X-Robots-Tag: nofollow``.
"""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser

from dataengine.crawl.urls import canonicalize


def parse_html(body: bytes) -> LexborHTMLParser:
    """Parse page bytes once for links and opt-out meta tags (non-UTF-8 bytes only affect text)."""
    return LexborHTMLParser(body.decode("utf-8", errors="replace"))


def robots_meta_directives(tree: LexborHTMLParser, token: str) -> set[str]:
    """Lower-case directives of ``<meta name="robots">`` and ``<meta name="TOKEN">``."""
    names = {"robots", token.lower()}
    out: set[str] = set()
    for node in tree.css("meta[name][content]"):
        if (node.attributes.get("name") or "").strip().lower() in names:
            out.update(d.strip().lower() for d in (node.attributes.get("content") or "").split(","))
    out.discard("")
    return out


def extract_links(tree: LexborHTMLParser, url: str, token: str) -> list[str]:
    """Canonical ``http``/``https`` links of the page at ``url``, in document order, deduplicated."""
    if robots_meta_directives(tree, token) & {"nofollow", "none"}:
        return []
    base = url
    node = tree.css_first("base[href]")
    if node is not None:
        base = canonicalize(node.attributes.get("href") or "", url) or url
    seen: dict[str, None] = {}
    for node in tree.css("a[href], area[href]"):
        link = canonicalize(node.attributes.get("href") or "", base)
        if link is not None and link != url:
            seen.setdefault(link, None)
    return list(seen)
