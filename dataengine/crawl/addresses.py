"""Which hosts the crawler may connect to: public addresses only, unless told otherwise.

A crawler that follows links and redirects can be steered at a private network, at the
cloud metadata service (169.254.169.254) or at its own machine. Every host is resolved and
refused when any of its addresses is not globally routable (private, loopback, link-local,
shared, reserved, multicast...), unless ``allow_private`` is ``true`` (everything) or a list
of networks (``["127.0.0.0/8"]``: the loopback sample web, and nothing else).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_private(value: bool | list[str] | str) -> bool | list[Network]:
    """``allow_private`` as given in YAML: a bool, one network or a list of networks (CIDR)."""
    if isinstance(value, bool):
        return value
    items = [value] if isinstance(value, str) else list(value)
    try:
        return [ipaddress.ip_network(item, strict=False) for item in items]
    except ValueError as exc:
        raise ValueError(f"crawl: allow_private must be true, false or a list of networks: {exc}") from None


@dataclass
class AddressCheck:
    """The verdict on one host: a refusal reason (``dns_error``, ``refused_address``) or ``None``."""

    reason: str | None
    detail: str | None = None


class AddressPolicy:
    """Resolves hosts (cached per worker) and refuses the ones outside the allowed ranges."""

    def __init__(self, allow_private: bool | list[Network]):
        self.allow_private = allow_private
        self._cache: dict[str, AddressCheck] = {}

    def _allowed(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if addr.is_global and not addr.is_multicast:
            return True
        if self.allow_private is True:
            return True
        return bool(self.allow_private) and any(addr in net for net in self.allow_private)

    def check(self, host: str) -> AddressCheck:
        """Resolve ``host`` and judge every address it resolves to."""
        if host not in self._cache:
            self._cache[host] = self._resolve(host)
        return self._cache[host]

    def _resolve(self, host: str) -> AddressCheck:
        name = host.strip("[]")
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError) as exc:
            return AddressCheck("dns_error", f"{host}: {exc}")
        for info in infos:
            addr = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if not self._allowed(addr):
                return AddressCheck("refused_address", f"{host} resolves to {addr}, a non-public address; "
                                                       "set allow_private to crawl it")
        return AddressCheck(None)
