"""Which addresses a fetcher may connect to: public ones, unless the pipeline allows more.

Links, image URLs and redirects come from pages nobody vetted, so they can point at a private
network, at the cloud metadata service (169.254.169.254) or at the worker itself. A host is
resolved once and refused when any of its addresses is not globally routable (private,
loopback, link-local, shared, reserved, multicast), before any connection is attempted;
``dataengine.net.pinned`` then connects to the address that was checked, never to a new answer.
``allow_private`` is ``false``, ``true`` (any address) or a list of networks in CIDR form
(``["127.0.0.0/8"]``: a loopback test server, and nothing else). The crawler, the image
fetcher and the sitemap source all read ``allow_private`` this way.
"""

from __future__ import annotations

import ipaddress
import socket

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """A URL that may not be contacted: ``reason`` is ``refused_address`` or ``dns_error`` (its host),
    ``refused_scheme`` or ``bad_url`` (the URL itself)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_allow_private(value: bool | str | list[str]) -> bool | list[Network]:
    """``allow_private`` as written in YAML: a bool, one network, or a list of networks."""
    if isinstance(value, bool):
        return value
    items = [value] if isinstance(value, str) else list(value)
    try:
        return [ipaddress.ip_network(item, strict=False) for item in items]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"allow_private must be true, false or a list of networks (CIDR): {exc}") from None


class AddressPolicy:
    """Resolves host names and refuses those with an address outside the allowed ranges."""

    def __init__(self, allow_private: bool | str | list[str] | list[Network] = False):
        self.allowed = parse_allow_private(allow_private)

    def allows(self, address: Address) -> bool:
        """True when ``address`` may be contacted."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address.is_global and not address.is_multicast:
            return True
        if self.allowed is True:
            return True
        return bool(self.allowed) and any(address in net for net in self.allowed)

    def resolve(self, host: str, port: int) -> str:
        """The address to connect to for ``host``; raise ``AddressRefused`` if any is not allowed.

        An IP literal is judged as written, without a DNS query.
        """
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise AddressRefused("dns_error", f"{host}: {exc}") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
        for address in addresses:
            if not self.allows(address):
                named = host if host == str(address) else f"{host} ({address})"
                raise AddressRefused("refused_address", f"{named} is not a public address and "
                                                        "allow_private does not cover it; not contacted")
        return str(addresses[0])
