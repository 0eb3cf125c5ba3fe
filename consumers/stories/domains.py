"""The registered domain of an outlet's link (news.example.co.uk -> example.co.uk), from a bundled suffix list."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

import structlog

log = structlog.get_logger(__name__)


@lru_cache(maxsize=1)
def _extractor() -> object | None:
    """tldextract reading only the suffix list in its package: never a download, so it works offline."""
    try:
        import tldextract
    except ImportError:
        log.warning("stories.no_suffix_list", fallback="the host's last two labels (wrong for co.uk and the like)",
                    hint="install tldextract to count outlets by their registered domain")  # fmt: skip
        return None
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _host(url: str) -> str:
    # The part up to the path, query or fragment names the host; parsed once per distinct one, as outlets have few.
    rest = url.split("//", 1)[1] if "//" in url else url
    return _host_of(rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0])


@lru_cache(maxsize=65536)
def _host_of(netloc: str) -> str:
    host = urlsplit(f"//{netloc}").hostname or ""
    return host.removeprefix("www.")


def _last_two_labels(host: str) -> str:
    """A guess for a suffix the list does not know (internal or reserved names): a one-label suffix."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return ".".join(host.split(".")[-2:])


def registered_domain(url: str) -> str:
    """The domain an outlet registered: its name under the public suffix (the host itself for an address)."""
    return _registered(_host(url))


# Cached by host, not by link: every item has a link of its own, while outlets use few hosts.
@lru_cache(maxsize=65536)
def _registered(host: str) -> str:
    extract = _extractor()
    if extract is None or not host:
        return _last_two_labels(host) if host else host
    found: str = extract(host).top_domain_under_public_suffix  # type: ignore[operator]
    return found or _last_two_labels(host)
