"""Page-level opt-out signals: ``X-Robots-Tag``, ``<meta name="robots">`` and TDMRep.

- ``noai`` (in the header, or in a robots meta tag for every robot or for our agent): the page
  may not be used at all; the page is rejected (``optout_noai`` / ``optout_meta_noai``).
- ``noimageai``: the text may be used, the images may not. The document is kept and marked
  with ``scores["optout_noimageai"] = 1.0``; the ``optout`` stage turns each of its image slots
  into ``status: failed, error: optout_noimageai`` (with an image-level rejected row), so the
  images are never downloaded and their positions stay.
- TDMRep (W3C CG): ``tdm-reservation: 1`` as an HTTP header or as ``<meta name="tdm-reservation"
  content="1">`` reserves text-and-data-mining rights; the page is rejected (``optout_tdm_reservation``).

``X-Robots-Tag`` may scope directives to an agent (``otherbot: noai, noimageai``); only
unscoped directives and those scoped to our agent's token count.
"""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from dataengine.crawl.links import robots_meta_directives

NOIMAGEAI_SCORE = "optout_noimageai"
# X-Robots-Tag directives that carry a value after a colon; anything else before a colon is an agent.
_VALUED = {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}


@dataclass
class PageOptOut:
    """What a page's signals say: a rejection ``reason`` (with ``detail``), and/or ``noimageai``."""

    reason: str | None = None
    detail: str | None = None
    noimageai: bool = False


def x_robots_directives(values: list[str], token: str) -> set[str]:
    """Lower-case directives of ``X-Robots-Tag`` header values that apply to agent ``token``."""
    token = token.lower()
    out: set[str] = set()
    for value in values:
        agent = None  # directives before any "agent:" apply to every agent
        for part in value.split(","):
            part = part.strip().lower()
            head, colon, rest = part.partition(":")
            if colon and head.strip() not in _VALUED and " " not in head.strip():
                agent, part = head.strip(), rest.strip()
            if part and agent in (None, token):
                out.add(part)
    return out


def tdm_reserved(value: str | None) -> bool:
    """Whether a ``tdm-reservation`` value (header or meta content) reserves the rights."""
    return (value or "").strip() == "1"


def header_optout(headers: list[tuple[str, str]] | dict[str, str], token: str) -> PageOptOut:
    """The opt-out signals of HTTP response headers."""
    items = list(headers.items()) if isinstance(headers, dict) else headers
    robots = [v for k, v in items if k.lower() == "x-robots-tag"]
    directives = x_robots_directives(robots, token)
    noimageai = "noimageai" in directives
    if "noai" in directives:
        return PageOptOut("optout_noai", "X-Robots-Tag: " + "; ".join(robots), noimageai)
    tdm = next((v for k, v in items if k.lower() == "tdm-reservation"), None)
    if tdm_reserved(tdm):
        return PageOptOut("optout_tdm_reservation", "tdm-reservation header: 1", noimageai)
    return PageOptOut(noimageai=noimageai)


def meta_optout(tree: LexborHTMLParser, token: str) -> PageOptOut:
    """The opt-out signals of a parsed page's meta tags."""
    directives = robots_meta_directives(tree, token)
    noimageai = "noimageai" in directives
    if "noai" in directives:
        return PageOptOut("optout_meta_noai", '<meta name="robots"> says noai', noimageai)
    for node in tree.css('meta[name][content]'):
        if (node.attributes.get("name") or "").strip().lower() == "tdm-reservation" \
                and tdm_reserved(node.attributes.get("content")):
            return PageOptOut("optout_tdm_reservation", '<meta name="tdm-reservation" content="1">', noimageai)
    return PageOptOut(noimageai=noimageai)


def page_optout(headers: list[tuple[str, str]] | dict[str, str], tree: LexborHTMLParser | None,
                token: str) -> PageOptOut:
    """Header and meta signals together: the first rejection found, and ``noimageai`` from either."""
    head = header_optout(headers, token)
    meta = meta_optout(tree, token) if tree is not None else PageOptOut()
    reason, detail = (head.reason, head.detail) if head.reason else (meta.reason, meta.detail)
    return PageOptOut(reason, detail, head.noimageai or meta.noimageai)
