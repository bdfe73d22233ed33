"""Connections pinned to the address that was checked: the HTTP transport of every fetcher.

A host is resolved once per scheme://host:port by ``AddressPolicy``, which refuses it before
any connection when one of its addresses is not allowed. The urllib3 pool of that host then
connects to the checked address itself (TLS still verifies the certificate for the host name),
so a second DNS answer (DNS rebinding: public when checked, 127.0.0.1 a moment later) cannot
steer a request elsewhere. The verdict, pool or refusal, is kept for the life of ``PinnedPools``.

This layer sends one GET and hands back the response unread: no redirect is followed and nothing
is retried, because the crawler and the image fetcher each decide those under their own rules.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import certifi
import urllib3

from dataengine.net.addresses import AddressPolicy, AddressRefused, Network

# Characters left as they are in a request target (canonical URLs are already percent-encoded).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"


@dataclass(eq=False)
class PinnedHost:
    """One scheme://host:port: the address it was checked at and a connection pool bound to it."""

    origin: str  # scheme://host[:port] as it appears in URLs
    netloc: str  # the Host header
    address: str
    pool: urllib3.HTTPConnectionPool
    headers: Mapping[str, str]

    def open(self, url: str, headers: Mapping[str, str], timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
        """Send a GET for ``url`` (a URL of this host) and return the response with its body unread.

        urllib3 and socket errors are raised as they come; give the response to ``release`` once done.
        """
        parts = urlsplit(url)
        target = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_PATH_SAFE)
        return self.pool.urlopen("GET", target, headers={**self.headers, **headers, "Host": self.netloc},
                                 timeout=timeout, retries=False, redirect=False, preload_content=False,
                                 assert_same_host=False)


def release(resp: urllib3.BaseHTTPResponse) -> None:
    """Give ``resp``'s connection back to its pool; a body not read to its end is never read:
    that connection is closed, and the pool opens a fresh one."""
    if not resp.isclosed():
        resp.close()
    resp.release_conn()


class PinnedPools:
    """Pinned connection pools, one per scheme://host:port, for one fetcher (thread-safe).

    ``maxsize`` connections are kept per host; ``headers`` go with every request (the user agent).
    """

    def __init__(self, allow_private: bool | str | list[str] | list[Network], maxsize: int,
                 headers: Mapping[str, str] | None = None):
        self.addresses = AddressPolicy(allow_private)
        self.maxsize = maxsize
        self.headers = dict(headers or {})
        self._hosts: dict[tuple[str, str, int], PinnedHost | AddressRefused] = {}
        self._locks: dict[tuple[str, str, int], threading.Lock] = {}
        self._lock = threading.Lock()

    def host(self, url: str) -> PinnedHost:
        """The pinned host of ``url``; raise ``AddressRefused`` (refused_scheme, bad_url,
        dns_error, refused_address) for a URL that may not be contacted, before any connection."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise AddressRefused("refused_scheme", f"{scheme or '(none)'}: only http and https are fetched")
        try:
            hostname, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:
            raise AddressRefused("bad_url", str(exc)) from None
        if not hostname:
            raise AddressRefused("bad_url", "no host")
        key = (scheme, hostname, port)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one lookup per host however many threads ask; a slow DNS holds up only its host
            if key not in self._hosts:
                self._hosts[key] = self._pin(scheme, hostname, port)
            host = self._hosts[key]
        if isinstance(host, AddressRefused):
            raise AddressRefused(host.reason, host.detail)  # a fresh exception: threads share the verdict
        return host

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for host in self._hosts.values():
                if isinstance(host, PinnedHost):
                    host.pool.close()
            self._hosts.clear()
            self._locks.clear()

    def _pin(self, scheme: str, hostname: str, port: int) -> PinnedHost | AddressRefused:
        try:
            address = self.addresses.resolve(hostname, port)
        except AddressRefused as exc:
            return exc
        default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
        bracketed = f"[{hostname}]" if ":" in hostname else hostname
        netloc = bracketed if default else f"{bracketed}:{port}"
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(address, port, maxsize=self.maxsize, server_hostname=hostname,
                                               assert_hostname=hostname, cert_reqs="CERT_REQUIRED",
                                               ca_certs=certifi.where())
        else:
            pool = urllib3.HTTPConnectionPool(address, port, maxsize=self.maxsize)
        return PinnedHost(f"{scheme}://{netloc}", netloc, address, pool, self.headers)
