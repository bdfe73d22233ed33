"""One HTTP GET under the crawler's rules: timeouts, retries with backoff, size and time limits.

``fetch`` never follows redirects itself: a 3xx comes back with its ``location`` so that the
frontier decides (dedup, scope, loop and hop limits) and the target's own host worker fetches
it under that host's politeness. Every failure comes back as a short ``error`` reason
(``http_404``, ``read_timeout``, ``body_too_large``, ...) with a human ``detail``.

Requests go through ``dataengine.net.pinned``, the image fetcher's transport: a host is
resolved and checked once, and every connection goes to the address that was checked, so a
host whose DNS answer changes after the check (DNS rebinding) cannot steer the crawler to it.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from dataengine.crawl.politeness import HostGate
from dataengine.net.addresses import AddressRefused
from dataengine.net.pinned import PinnedHost, PinnedPools, release
from dataengine.net.retry import retry_after

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT = frozenset({"connect_timeout", "read_timeout", "connection_error"})
_CHUNK = 16 * 1024  # small reads: a compressed body inflates chunk by chunk, bounded


@dataclass
class FetchConfig:
    """HTTP limits (the crawl source's ``fetch:`` YAML block).

    ``connect_timeout`` and ``read_timeout`` bound a connection attempt and each wait for data;
    ``max_seconds`` bounds a whole response, so a server dripping bytes cannot hold a slot.
    ``retries`` more attempts follow a 429, a 5xx, a timeout or a broken connection, after
    ``backoff`` seconds doubling each time, or after the server's ``Retry-After``; a wait longer
    than ``max_backoff`` is not made (the page is rejected with the status). ``max_redirects``
    bounds a redirect chain. ``max_body_bytes`` bounds a page after content decoding.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_seconds: float = 60.0
    max_body_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 60.0

    def __post_init__(self) -> None:
        for key in ("connect_timeout", "read_timeout", "max_seconds"):
            if getattr(self, key) <= 0:
                raise ValueError(f"crawl fetch: {key} must be positive")
        if self.max_body_bytes < 1 or self.max_redirects < 0 or self.retries < 0:
            raise ValueError("crawl fetch: max_body_bytes must be >= 1, max_redirects and retries >= 0")


@dataclass
class Response:
    """The outcome of ``fetch``: a response (``status``, ``headers``, ``body``) or an ``error``."""

    url: str
    status: int | None = None
    reason_phrase: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    error: str | None = None
    detail: str | None = None
    attempts: int = 0
    fetch_time: str = ""

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or ``None``."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def media_type(self) -> str | None:
        """The lower-case media type of ``Content-Type``."""
        value = self.header("content-type")
        return (value.split(";", 1)[0].strip().lower() or None) if value else None

    @property
    def location(self) -> str | None:
        """Where a redirect points."""
        return self.header("location") if self.status in REDIRECT_STATUSES else None


def _error_of(exc: Exception) -> str:
    if isinstance(exc, NewConnectionError):  # refused or unreachable; a subclass of ConnectTimeoutError
        return "connection_error"
    if isinstance(exc, ConnectTimeoutError):
        return "connect_timeout"
    if isinstance(exc, (ReadTimeoutError, TimeoutError)):
        return "read_timeout"
    if isinstance(exc, DecodeError):
        return "bad_content_encoding"
    if isinstance(exc, SSLError):
        return "tls_error"
    if isinstance(exc, ProtocolError) and "IncompleteRead" in str(exc):
        return "truncated_body"
    if isinstance(exc, (ProtocolError, OSError)):
        return "connection_error"
    return "fetch_failed"


def fetch(pools: PinnedPools, url: str, gate: HostGate, config: FetchConfig,
          accept: Collection[str] | None = None, max_bytes: int | None = None, truncate: bool = False) -> Response:
    """GET ``url`` through ``gate``, retrying transient failures; never raises for network faults.

    A URL whose host may not be contacted is refused before the gate (``refused_address``,
    ``dns_error``, ...). With ``accept`` (media types), a 200 of another type is not downloaded
    (``unwanted_content_type``, or ``missing_content_type``). ``max_bytes`` overrides
    ``config.max_body_bytes``; with ``truncate`` a longer body is cut there (the rest is never
    read) instead of refused (``body_too_large``): robots.txt is read that way.
    """
    try:
        host = pools.host(url)
    except AddressRefused as exc:
        return Response(url, error=exc.reason, detail=exc.detail)
    limit = config.max_body_bytes if max_bytes is None else max_bytes
    out = Response(url)
    for attempt in range(config.retries + 1):
        out = Response(url, attempts=attempt + 1)
        try:
            with gate.request():
                _attempt(host, url, config, accept, limit, truncate, out)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            out.error, out.detail = _error_of(exc), f"{type(exc).__name__}: {exc}"[:500]
        out.fetch_time = datetime.now(UTC).isoformat(timespec="seconds")
        if out.error not in _TRANSIENT and out.status not in RETRY_STATUSES:
            return out
        asked = retry_after(out.header("retry-after")) if out.status in RETRY_STATUSES else None
        wait = asked if asked is not None else config.backoff * 2 ** attempt
        if asked is not None and asked > config.max_backoff:
            out.detail = f"Retry-After {asked:.0f} s is longer than max_backoff {config.max_backoff:.0f} s"
            return out
        if attempt == config.retries:
            out.detail = f"{out.detail or out.status} (after {out.attempts} attempts)"
            return out
        gate.hold_off(wait)  # the host is struggling or asked everyone to wait, not only this URL
    return out


def _attempt(host: PinnedHost, url: str, config: FetchConfig, accept: Collection[str] | None,
             limit: int, truncate: bool, out: Response) -> None:
    deadline = time.monotonic() + config.max_seconds
    resp = host.open(url, {}, urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout))
    try:
        out.status, out.reason_phrase = resp.status, resp.reason or ""
        out.headers = list(resp.headers.items())
        if resp.status != 200:
            if resp.status not in REDIRECT_STATUSES or not out.location:
                out.error = f"http_{resp.status}"
            return
        if accept is not None:
            mime = out.media_type
            if mime is None:
                out.error, out.detail = "missing_content_type", "the response has no Content-Type"
                return
            if mime not in accept:
                out.error, out.detail = "unwanted_content_type", out.header("content-type")
                return
        declared = out.header("content-length")
        if declared and declared.isdigit() and int(declared) > limit and not truncate:
            out.error, out.detail = "body_too_large", f"Content-Length {declared} > {limit}"
            return
        chunks, size = [], 0
        while True:
            chunk = resp.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if truncate:
                    break
                out.error, out.detail = "body_too_large", f"more than {limit} bytes"
                return
            if time.monotonic() > deadline:
                out.error, out.detail = "too_slow", f"{size} bytes in {config.max_seconds:.0f} s"
                return
        out.body = b"".join(chunks)[:limit]
    finally:
        release(resp)  # a body left unread (unwanted, too large, too slow) is never read
