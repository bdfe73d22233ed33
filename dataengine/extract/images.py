"""Where an ``<img>`` or ``<picture>`` really points: srcset, lazy-load attributes, data: URIs.

Pages rarely put the picture in ``src``: lazy loaders park it in ``data-src`` (and a
placeholder in ``src``), responsive markup lists renditions in ``srcset`` or in
``<picture><source>``. We take the largest rendition we can see, because later stages
resize down but cannot recover detail. ``data:`` URIs are decoded here, since they carry
the bytes themselves; tiny ones are lazy-load placeholders, not pictures.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

# Lazy-load attributes seen in the wild, most specific first; the first present one wins over src.
LAZY_SRC_ATTRS = ("data-lazy-src", "data-src", "data-original", "data-lazy", "data-dejavu-src",
                  "data-hi-res-src", "data-full-src", "data-img-src", "data-image", "data-echo", "data-interchange",
                  "data-lazyload", "data-url")
LAZY_SRCSET_ATTRS = ("data-lazy-srcset", "data-srcset")
# File names that lazy loaders and old layouts use for stand-ins: never the picture itself.
_PLACEHOLDER_NAME = re.compile(
    r"(?:^|[-_.])(?:blank|spacer|placeholder|transparent|lazy|lazyload|lazy_placeholder|1x1|loader|dummy)"
    r"(?:[-_.][^/]*)?\.(?:gif|png|svg)$", re.I)
# Hosts (and host/path prefixes) that serve counting pixels, not pictures.
_TRACKERS = ("facebook.com/tr", "pixel.wp.com", "stats.wp.com", "google-analytics.com", "doubleclick.net",
             "scorecardresearch.com", "vgwort.de", "ioam.de", "ivwbox.de", "quantserve.com", "bat.bing.com",
             "analytics.twitter.com", "googletagmanager.com")
_TRACKER_DOMAINS = tuple(tracker.partition("/")[0] for tracker in _TRACKERS)
_WS = re.compile(r"[\t\n\r\f ]+")
# What urljoin rewrites or checks in an absolute http(s) URL: no host ("http:///x"), path
# parameters (";"), an empty query or fragment ("x?#", "x#"), brackets of an IPv6 host.
_REWRITTEN = re.compile(r"^https?://(?:[/?#]|$)|^[^?#]*;|\?#|\?$|#$|[\[\]]")
# Values templates write into src when they have no picture: not an address.
_NO_SOURCE = frozenset({"null", "undefined", "none", "false", "#", "about:blank"})
# Nine digits at most: longer is junk, and int() refuses strings of over 4,300 digits.
_DECLARED_SIZE = re.compile(r"\s*(\d{1,9})(?:\.\d+)?\s*(?:px)?\s*$")
# URLs inside a bracketed or JSON attribute value: absolute, or a path to an image file.
_EMBEDDED_URL = re.compile(r"(?:https?:)?//[^\s,\]\)\"']+|/[^\s,\]\)\"']+\.(?:jpe?g|png|gif|webp|avif)\b", re.I)
_SRCSET_URL = re.compile(r"[\s,]*(\S+)")
_SRCSET_DESCRIPTOR = re.compile(r"([^,]*),?")
_DATA_URI = re.compile(r"data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*?),(?P<payload>.*)", re.S | re.I)


@dataclass(frozen=True)
class DataImage:
    """The decoded bytes of a ``data:`` URI and their declared type (``image/png``, ...)."""

    mime: str
    data: bytes


class BadDataUri(ValueError):
    """A ``data:`` URI that is malformed, not base64/percent-decodable, or not an image."""


def parse_srcset(value: str) -> list[tuple[str, float, float]]:
    """Candidates of a ``srcset`` as ``(url, width, density)``; a missing descriptor is ``1x``.

    URLs end at whitespace, not at commas (they may contain commas), as in the HTML spec.
    """
    out = []
    pos = 0
    while match := _SRCSET_URL.match(value, pos):
        url, pos = match.group(1), match.end()
        descriptor = ""
        if url.endswith(","):  # "a.jpg, b.jpg 2x": a comma right after the URL ends the candidate
            url = url.rstrip(",")
        else:
            found = _SRCSET_DESCRIPTOR.match(value, pos)
            descriptor, pos = found.group(1).strip().lower(), found.end()
        width, density = 0.0, 1.0
        try:
            if descriptor.endswith("w"):
                width = float(descriptor[:-1])
            elif descriptor.endswith("x"):
                density = float(descriptor[:-1])
        except ValueError:
            pass
        out.append((url, width, density))
    return out


def largest_candidate(candidates: list[tuple[str, float, float]]) -> str | None:
    """The URL of the widest candidate (by ``w`` descriptor, else by pixel density)."""
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c[1], c[2]))[0]


def srcset_candidates(attrs: dict[str, str | None]) -> list[tuple[str, float, float]]:
    """The candidates of the lazy srcset if present, else of ``srcset``, without data: URIs."""
    for name in (*LAZY_SRCSET_ATTRS, "srcset"):
        value = attrs.get(name)
        if value:
            found = [c for c in parse_srcset(value) if not c[0].lower().startswith("data:")]
            if found:
                return found
    return []


def chosen_source(attrs: dict[str, str | None]) -> str | None:
    """The raw (unresolved) source of an ``<img>``: the largest srcset rendition, else the lazy-load
    attribute, else ``src``. ``src`` also competes with the srcset at its declared ``width``,
    because templates often list only thumbnails in ``srcset``."""
    candidates = srcset_candidates(attrs)
    src = (attrs.get("src") or "").strip()
    width = declared_size(attrs.get("width"))
    if candidates and src and width and not src.lower().startswith("data:"):
        candidates.append((src, float(width), 1.0))
    best = largest_candidate(candidates)
    if best:
        return best
    if src.lower() in _NO_SOURCE:
        src = ""
    for name in LAZY_SRC_ATTRS:
        value = (attrs.get(name) or "").strip()
        if value.startswith(("{", "[")):
            # A list of renditions ("[small.jpg, (small)], [large.jpg, (large)]", Foundation's
            # interchange) or a JSON config: its last URL is the largest rendition.
            urls = _EMBEDDED_URL.findall(value)
            if urls:
                return urls[-1]
        elif value:
            return value
    return src or None


def _plain_absolute(raw: str) -> bool:
    """Whether ``raw`` is an absolute http(s) URL that urljoin gives back unchanged (most links and image sources)."""
    return raw.startswith(("https://", "http://")) and raw.isascii() and not _REWRITTEN.search(raw)


def join_url(base: str, raw: str) -> str | None:
    """``urljoin(base, raw)``, or ``None`` when either cannot be parsed as a URL (an unclosed
    IPv6 bracket, a host that normalises to a delimiter): pages are free to hold such junk."""
    if _plain_absolute(raw):
        return raw
    try:
        url = urljoin(base, raw)
        urlsplit(url)  # urljoin lets some through that urlsplit refuses
    except ValueError:
        return None
    return url


def resolve_url(raw: str, base: str, allowed_schemes: frozenset[str]) -> str | None:
    """``raw`` resolved against ``base`` (browsers drop tabs and newlines inside URLs), or
    ``None`` when the result is not of an allowed scheme (``javascript:``, ``about:``, ...)
    or not a URL at all."""
    raw = _WS.sub("", raw) if ("\n" in raw or "\t" in raw or "\r" in raw) else raw.strip()
    if not raw or raw.startswith("#"):
        return None
    if _plain_absolute(raw):
        return raw if raw[:raw.index(":")] in allowed_schemes else None
    url = join_url(base, raw)
    return url if url is not None and urlsplit(url).scheme.lower() in allowed_schemes else None


def url_path(url: str) -> str:
    """The path of a URL, relative or absolute (string cuts, several times cheaper than ``urlsplit``)."""
    url = url.split("#", 1)[0].split("?", 1)[0]
    if "//" in url:
        url = url.split("//", 1)[1]
        slash = url.find("/")
        return url[slash:] if slash >= 0 else ""
    return url


def is_placeholder_url(url: str) -> bool:
    """Whether the file name of ``url`` marks a lazy-load stand-in (``blank.gif``, ``lazy_placeholder.gif``)."""
    name = url_path(url).rsplit("/", 1)[-1]
    return bool(name) and bool(_PLACEHOLDER_NAME.search(name))


def is_tracker_url(url: str) -> bool:
    """Whether ``url`` points at a known counting-pixel service."""
    lowered = url.lower()
    if not any(domain in lowered for domain in _TRACKER_DOMAINS):  # most URLs: no urlsplit needed
        return False
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for tracker in _TRACKERS:
        domain, _, path = tracker.partition("/")
        if (host == domain or host.endswith("." + domain)) and parts.path.startswith("/" + path):
            return True
    return False


def decode_data_uri(uri: str) -> DataImage:
    """Decode a ``data:`` URI holding an image; raise ``BadDataUri`` saying what is wrong."""
    match = _DATA_URI.match(uri.strip())
    if not match:
        raise BadDataUri("not of the form data:[type][;base64],payload")
    mime = (match["mime"] or "text/plain").strip().lower()
    if not mime.startswith("image/"):
        raise BadDataUri(f"type {mime!r} is not an image")
    payload = match["payload"]
    if any(p.strip().lower() == "base64" for p in match["params"].split(";")):
        compact = _WS.sub("", unquote_to_bytes(payload).decode("ascii", "replace"))
        try:
            data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadDataUri(f"base64 payload does not decode: {exc}") from None
    else:
        data = unquote_to_bytes(payload)
    if not data:
        raise BadDataUri("empty payload")
    return DataImage(mime, data)


def pixel_size(data: bytes) -> tuple[int, int] | None:
    """Width and height read from a GIF or PNG header, enough to spot 1x1 pixels."""
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return None


def declared_size(value: str | None) -> int | None:
    """An integer ``width``/``height`` attribute (``"300"``, ``"300px"``); ``None`` for ``%`` or junk."""
    if not value:
        return None
    if value.isdecimal() and len(value) <= 9:  # isdigit() would let "²" through to int()
        return int(value)
    match = _DECLARED_SIZE.match(value)
    return int(match.group(1)) if match else None


def image_format(mime: str) -> str:
    """Short format name of an image MIME type (``image/svg+xml`` -> ``svg``)."""
    sub = mime.split("/", 1)[-1]
    return {"jpg": "jpeg", "svg+xml": "svg", "x-icon": "ico", "vnd.microsoft.icon": "ico"}.get(sub, sub)
