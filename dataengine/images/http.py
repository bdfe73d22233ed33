"""A polite, guarded HTTP GET: what the image fetcher (and the sitemap source) use to download.

Each hop of a request is checked before anything is sent: the scheme must be http or https,
and every address the host resolves to must be public unless ``allow_private`` allows it (see
``dataengine.net.addresses``); the connection then goes to the address that was checked
(``dataengine.net.pinned``, the transport the crawler uses too), so a second DNS answer cannot
steer it elsewhere. Redirects are followed hop by hop, each hop checked again, up to
``max_redirects``, loops detected. Each host's robots.txt is read once by ``dataengine.net.robots``
(RFC 9309, shared with the crawler), kept in memory for the client's life and obeyed: a 4xx
means no rules; a 5xx, a 429, no answer, or a redirect chain that never reaches a file means
disallow all (``robots_unavailable``). At most ``max_per_host`` requests are in flight to one
host. 429, 5xx and dropped connections are retried with exponential backoff, honouring
``Retry-After``; a host asking to wait longer than ``max_retry_wait`` is not retried. Answers
that opt out of AI use (``X-Robots-Tag`` ``noai``/``noimageai`` for our agent, judged by
img2dataset's own header check, and TDMRep's ``tdm-reservation: 1``) and answers of a refused
Content-Type are turned down before their body is read. A body over ``max_bytes`` (declared or
counted) is refused, and so is a transfer that stalls for ``read_timeout`` or is still running
after ``max_seconds`` (a slow drip).

Every failure is a ``FetchError`` whose ``reason`` is the rejection reason to record.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError, SSLError

from dataengine.net.addresses import AddressRefused
from dataengine.net.pinned import PinnedHost, PinnedPools, release
from dataengine.net.retry import retry_after
from dataengine.net.robots import ROBOTS_MAX_BYTES, RobotsAnswer, RobotsRules, product_token, read_robots

_REDIRECTS = (301, 302, 303, 307, 308)
_RETRYABLE = (429, 500, 502, 503, 504)
T = TypeVar("T")


@dataclass
class HttpConfig:
    """How to fetch: identity, limits, politeness and opt-out rules.

    ``accept_types`` lists the Content-Types taken (an entry ending in ``/`` is a prefix,
    ``image/``); a response without one is taken too, its bytes judged later. Empty: any.
    ``allow_private`` is ``false``, ``true`` (any address) or a list of networks (CIDR).
    """

    user_agent: str = "dataengine"
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_seconds: float = 60.0
    max_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 2
    backoff: float = 0.5
    max_retry_wait: float = 10.0
    max_per_host: int = 4
    respect_robots: bool = True
    optout_directives: tuple[str, ...] = ("noai", "noimageai")
    respect_tdm: bool = True
    accept_types: tuple[str, ...] = ()
    allow_private: bool | list[str] = False

    def __post_init__(self) -> None:
        if not self.user_agent.strip():
            raise ValueError("http: user_agent must not be empty")
        for name in ("connect_timeout", "read_timeout", "max_seconds", "max_bytes", "max_per_host"):
            if getattr(self, name) <= 0:
                raise ValueError(f"http: {name} must be positive, got {getattr(self, name)!r}")
        for name in ("max_redirects", "retries", "backoff", "max_retry_wait"):
            if getattr(self, name) < 0:
                raise ValueError(f"http: {name} must be >= 0, got {getattr(self, name)!r}")

    @property
    def robots_token(self) -> str:
        """The product token matched against robots.txt groups (``dataengine/1.0 (+url)`` -> ``dataengine``)."""
        return product_token(self.user_agent)


@dataclass
class Response:
    """A successful answer: the final URL (after redirects), status, headers (lower-case names), body."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes


class FetchError(Exception):
    """A URL that could not be had; ``reason`` is the rejection reason, ``value``/``threshold`` its measure."""

    def __init__(self, reason: str, detail: str | None = None, value: float | None = None,
                 threshold: float | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.value = value
        self.threshold = threshold


class _Retry(Exception):
    """A failure worth trying again, after ``wait`` seconds when the server said so."""

    def __init__(self, error: FetchError, wait: float | None = None):
        super().__init__(error.reason)
        self.error = error
        self.wait = wait


class _HeaderList:
    """urllib3 headers as the ``email.message`` interface img2dataset's ``is_disallowed`` reads."""

    def __init__(self, headers: urllib3.HTTPHeaderDict):
        self.headers = headers

    def get_all(self, name: str, default: list[str]) -> list[str]:
        """Every value of header ``name``, or ``default``."""
        return self.headers.getlist(name) or default


@dataclass
class _Host:
    """One scheme://host:port: its pinned connections, request slots and robots.txt."""

    pinned: PinnedHost
    slots: threading.BoundedSemaphore
    robots_lock: threading.Lock = field(default_factory=threading.Lock)
    robots: RobotsRules | None = None


def _img2dataset_is_disallowed():
    # Imported on first use: importing img2dataset imports torch (via its writers), seconds
    # that the sitemap source, which never checks opt-out headers, should not pay.
    from img2dataset.downloader import is_disallowed

    return is_disallowed


def _transport_error(exc: Exception, url: str) -> FetchError | _Retry:
    """The rejection reason for a connection-level failure; dropped connections are retried."""
    detail = f"{url}: {type(exc).__name__}: {exc}"[:500]
    chain = [exc, exc.__cause__, exc.__context__, *getattr(exc, "args", ())]
    if isinstance(exc, NewConnectionError):
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            return _Retry(FetchError("connection_refused", detail))
        return FetchError("connect_failed", detail)
    if isinstance(exc, ConnectTimeoutError):
        return FetchError("connect_timeout", detail)
    if isinstance(exc, (ReadTimeoutError, TimeoutError)):
        return FetchError("read_timeout", detail)
    if isinstance(exc, SSLError):
        return FetchError("tls_error", detail)
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return _Retry(FetchError("connection_reset", detail))
    if any(isinstance(e, http.client.IncompleteRead) for e in chain):
        return FetchError("incomplete_body", detail)
    if isinstance(exc, ProtocolError):
        return _Retry(FetchError("connection_closed", detail))
    return FetchError("fetch_failed", detail)


class HttpClient:
    """Fetch URLs under one ``HttpConfig``; thread-safe, one instance per worker.

    Connection pools, address checks and robots.txt verdicts are kept per host for the
    client's lifetime, so a long-lived worker (a Ray actor) asks each host for robots.txt once.
    """

    def __init__(self, config: HttpConfig):
        self.config = config
        self.pools = PinnedPools(config.allow_private, config.max_per_host, {"User-Agent": config.user_agent})
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()
        self._accept = ", ".join(t + "*" if t.endswith("/") else t for t in config.accept_types) or "*/*"

    def get(self, url: str) -> Response:
        """GET ``url`` (following redirects, retrying what is worth it); raise ``FetchError``."""
        return self._with_retries(url, lambda: self._follow(url))

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            self._hosts.clear()
        self.pools.close()

    def robots_hop(self, url: str) -> RobotsAnswer:
        """One robots.txt request (retried, no redirect followed): the ``get`` of ``read_robots``."""
        try:
            answer = self._with_retries(url, lambda: self._request(self._host(url), url, robots_txt=True))
        except FetchError as exc:
            status = exc.reason.removeprefix("http_")
            return RobotsAnswer(int(status) if status.isdigit() else None, detail=f"{exc.reason} ({exc.detail})")
        if isinstance(answer, str):
            return RobotsAnswer(location=answer)
        return RobotsAnswer(answer.status, answer.body)

    def _with_retries(self, url: str, attempt_once: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return attempt_once()
            except _Retry as retry:
                wait = retry.wait if retry.wait is not None else self.config.backoff * 2 ** attempt
                if attempt == self.config.retries or wait > self.config.max_retry_wait:
                    error = retry.error
                    error.detail = f"{error.detail or url}; gave up after {attempt + 1} attempt(s)"
                    if wait > self.config.max_retry_wait:
                        error.detail += f", server asked to wait {wait:.0f} s"
                    raise error from None
            time.sleep(wait)
            attempt += 1

    def _follow(self, url: str) -> Response:
        seen = {url}
        for _ in range(self.config.max_redirects + 1):
            host = self._host(url)
            if self.config.respect_robots:
                self._obey_robots(host, url)
            answer = self._request(host, url, robots_txt=False)
            if isinstance(answer, Response):
                return answer
            nxt = urljoin(url, answer)
            if nxt in seen:
                raise FetchError("redirect_loop", f"{url} redirects back to {nxt}")
            seen.add(nxt)
            url = nxt
        raise FetchError("too_many_redirects", f"more than {self.config.max_redirects} redirects, last {url}",
                         value=float(self.config.max_redirects + 1), threshold=float(self.config.max_redirects))

    def _host(self, url: str) -> _Host:
        try:
            pinned = self.pools.host(url)  # refuses before any connection is made
        except AddressRefused as exc:
            raise FetchError(exc.reason, exc.detail) from None
        with self._lock:
            if pinned.origin not in self._hosts:
                self._hosts[pinned.origin] = _Host(pinned, threading.BoundedSemaphore(self.config.max_per_host))
            return self._hosts[pinned.origin]

    def _request(self, host: _Host, url: str, robots_txt: bool) -> Response | str:
        """One hop: a ``Response``, or the ``Location`` of a redirect."""
        cfg = self.config
        headers = {"Accept": "text/plain, */*" if robots_txt else self._accept}
        timeout = urllib3.Timeout(connect=cfg.connect_timeout, read=cfg.read_timeout)
        with host.slots:
            start = time.monotonic()
            try:
                resp = host.pinned.open(url, headers, timeout)
            except Exception as exc:  # urllib3 and socket errors: each maps to a reason
                error = _transport_error(exc, url)
                raise error from None
            try:
                return self._answer(resp, url, start, robots_txt)
            finally:
                release(resp)  # an unwanted body is never read

    def _answer(self, resp: urllib3.BaseHTTPResponse, url: str, start: float, robots_txt: bool) -> Response | str:
        status = resp.status
        if status in _REDIRECTS:
            location = resp.headers.get("Location")
            if not location:
                raise FetchError("bad_redirect", f"{url}: {status} without a Location")
            resp.drain_conn()
            return location
        if status in _RETRYABLE:
            raise _Retry(FetchError(f"http_{status}", url, value=float(status)),
                         retry_after(resp.headers.get("Retry-After")))
        if status not in (200, 203):
            raise FetchError(f"http_{status}", url, value=float(status))
        if not robots_txt:
            self._check_headers(resp.headers, url)
        limit = ROBOTS_MAX_BYTES if robots_txt else self.config.max_bytes
        body = self._read_body(resp, url, start, limit, truncate=robots_txt)
        return Response(url, status, {k.lower(): v for k, v in resp.headers.items()}, body)

    def _check_headers(self, headers: urllib3.HTTPHeaderDict, url: str) -> None:
        cfg = self.config
        is_disallowed = _img2dataset_is_disallowed()
        if cfg.optout_directives and is_disallowed(_HeaderList(headers), cfg.robots_token, set(cfg.optout_directives)):
            raise FetchError("optout_noai", f"X-Robots-Tag: {', '.join(headers.getlist('X-Robots-Tag'))}")
        if cfg.respect_tdm and headers.get("tdm-reservation", "").strip() == "1":
            raise FetchError("optout_tdm", "tdm-reservation: 1" + (f", policy {headers['tdm-policy']}"
                                                                    if "tdm-policy" in headers else ""))
        media = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if media and cfg.accept_types and not any(
                media.startswith(t) if t.endswith("/") else media == t for t in cfg.accept_types):
            raise FetchError("wrong_content_type", f"{url}: Content-Type {media}, expected {self._accept}")
        declared = headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cfg.max_bytes:
            raise FetchError("body_too_large", f"{url}: Content-Length {declared}", value=float(declared),
                             threshold=float(cfg.max_bytes))

    def _read_body(self, resp: urllib3.BaseHTTPResponse, url: str, start: float, limit: int, truncate: bool) -> bytes:
        chunks, size = [], 0
        deadline = start + self.config.max_seconds
        try:
            while chunk := resp.read1(1 << 16):
                size += len(chunk)
                chunks.append(chunk)
                if size > limit:
                    if truncate:
                        return b"".join(chunks)[:limit]
                    raise FetchError("body_too_large", f"{url}: more than {limit} bytes", value=float(size),
                                     threshold=float(limit))
                if time.monotonic() > deadline:
                    raise FetchError("download_too_slow", f"{url}: {size} bytes after {self.config.max_seconds} s",
                                     value=time.monotonic() - start, threshold=self.config.max_seconds)
        except FetchError:
            raise
        except Exception as exc:  # timeouts, resets, short bodies while reading
            error = _transport_error(exc, url)
            raise (error.error if isinstance(error, _Retry) else error) from None
        return b"".join(chunks)

    def _obey_robots(self, host: _Host, url: str) -> None:
        with host.robots_lock:  # one fetch per host, however many threads ask at once
            if host.robots is None:
                host.robots = read_robots(f"{host.pinned.origin}/robots.txt", self.robots_hop,
                                          lost_redirect_allows=False)
        if host.robots.unavailable:
            raise FetchError("robots_unavailable", host.robots.detail)
        if not host.robots.allows(url, self.config.robots_token):
            raise FetchError("robots_disallowed", f"{url}: disallowed for {self.config.robots_token}")
