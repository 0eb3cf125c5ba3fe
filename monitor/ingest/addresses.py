"""Which addresses a feed may be fetched from: public ones, plus private ones only where the settings allow them."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address, ip_network

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from monitor.ingest.errors import ErrorKind, FeedError
from monitor.settings import IngestSettings

IPAddress = IPv4Address | IPv6Address

_NAT64 = ip_network("64:ff9b::/96")
# Carrier-grade NAT: not global, yet not `is_private` on every Python.
_SHARED = IPv4Network("100.64.0.0/10")
_HINT = "refused unless ingest.allow_private_addresses is on or ingest.allowed_networks lists it"


class RefusedAddress(OSError):
    """A host name resolved only to addresses the fetch policy refuses."""


def _embedded_v4(ip: IPAddress) -> list[IPv4Address]:
    """IPv4 addresses an IPv6 address carries and that a relay would reach (6to4, Teredo)."""
    if isinstance(ip, IPv4Address):
        return []
    found = [ip.sixtofour] if ip.sixtofour else []
    if ip.teredo:
        found.append(ip.teredo[1])
    return found


def unmapped(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it is; any other address unchanged."""
    return ip.ipv4_mapped or ip if isinstance(ip, IPv6Address) else ip


def is_public(ip: IPAddress) -> bool:
    """Whether the address is public: not loopback, private, link-local, shared, reserved or multicast."""
    ip = unmapped(ip)
    if ip in _NAT64:
        # Under DNS64 every IPv4 host has such an address; Python files the prefix under reserved ::/8.
        return is_public(IPv4Address(int(ip) & 0xFFFFFFFF))
    if not all(is_public(v4) for v4 in _embedded_v4(ip)):
        return False
    special = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified
    site_local = isinstance(ip, IPv6Address) and ip.is_site_local
    return ip.is_global and not (special or site_local or ip.is_multicast or ip in _SHARED)


def permitted(ip: IPAddress, s: IngestSettings) -> bool:
    """Whether the settings let a fetch connect to this address."""
    if s.allow_private_addresses or is_public(ip):
        return True
    ip = unmapped(ip)
    return any(ip in net for net in s.allowed_networks)


def restricted(s: IngestSettings) -> bool:
    """Whether the settings refuse any address at all."""
    return not s.allow_private_addresses


def check_url(url: URL, s: IngestSettings) -> None:
    """Refuse a URL whose host is a literal address the settings do not permit (aiohttp never resolves those)."""
    try:
        ip = ip_address(url.host or "")
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    if not permitted(ip, s):
        raise FeedError(ErrorKind.BLOCKED_ADDRESS, f"{ip} is not a public address; {_HINT}")


class PolicyResolver(AbstractResolver):
    """Resolves names like aiohttp's default resolver, then keeps only the addresses the settings permit.

    The check runs where the connection is made, for every hop, so a name cannot change its answer in between.
    """

    def __init__(self, s: IngestSettings, inner: AbstractResolver | None = None) -> None:
        self._s = s
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if self._allows(r["host"])]
        if not kept:
            addresses = ", ".join(sorted({r["host"] for r in found}))
            raise RefusedAddress(f"{host} resolves only to non-public addresses ({addresses}); {_HINT}")
        return kept

    def _allows(self, address: str) -> bool:
        try:
            return permitted(ip_address(address), self._s)
        except ValueError:
            return False  # not an address we can judge, so not one to connect to

    async def close(self) -> None:
        await self._inner.close()
