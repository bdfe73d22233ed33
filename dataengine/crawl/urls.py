"""URL canonicalisation for the frontier: one spelling per page, so a page is fetched once.

The rules (RFC 3986 normalisation plus the usual crawler conventions): lower-case scheme
and host, IDNA host, no default port, no user info, no fragment, dot segments removed,
percent-escapes upper-cased and unreserved characters unescaped, characters that must be
escaped escaped, an empty path as ``/``, query parameters sorted. Only ``http`` and
``https`` URLs have a canonical form; everything else is ``None``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

WEB_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Characters a path may carry unescaped (RFC 3986 pchar and "/"), plus "%" for existing escapes.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def _normalise_escapes(text: str) -> str:
    def fix(match: re.Match) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE.sub(fix, quote(text, safe=_PATH_SAFE))


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


@lru_cache(maxsize=1 << 16)  # pages of a site repeat their navigation links
def canonicalize(url: str, base: str | None = None) -> str | None:
    """The canonical form of ``url`` (resolved against ``base`` when given), or ``None``
    when it is not an ``http``/``https`` URL with a host."""
    try:
        url = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in WEB_SCHEMES or not parts.hostname:
            return None
        host = parts.hostname.rstrip(".").encode("idna").decode("ascii").lower()
        port = parts.port
    except (ValueError, UnicodeError):  # bad port, bad IDNA label, bad IPv6 literal
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _normalise_escapes(_remove_dot_segments(parts.path or "/"))
    query = ""
    if parts.query:
        pairs = sorted(parse_qsl(parts.query, keep_blank_values=True))
        query = urlencode(pairs, quote_via=quote, safe="/:@!$'()*,;~")
    return urlunsplit((scheme, netloc, path, query, ""))


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a canonical URL: the unit of robots.txt and of politeness."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def origin_slug(origin_url: str) -> str:
    """A file-name-safe name of an origin (``http://127.0.0.1:8000`` -> ``http-127-0-0-1-8000``)."""
    return re.sub(r"[^a-z0-9]+", "-", origin_url.lower()).strip("-")


def site_of(url: str) -> str:
    """The site a URL belongs to for the ``same_site`` rule: its host without a leading ``www.``."""
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host
