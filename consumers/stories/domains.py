"""The registered domain of an outlet's link (news.example.co.uk -> example.co.uk), from a bundled suffix list."""

from __future__ import annotations

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
        log.warning("stories.no_suffix_list", fallback="host without www.",
                    hint="install tldextract: outlets on subdomains of one site then count once")  # fmt: skip
        return None
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _host(url: str) -> str:
    host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    return host.removeprefix("www.")


@lru_cache(maxsize=65536)
def registered_domain(url: str) -> str:
    """The domain an outlet registered, or the host itself when the suffix list does not know it (an IP, localhost)."""
    host = _host(url)
    extract = _extractor()
    if extract is None or not host:
        return host
    found: str = extract(host).top_domain_under_public_suffix  # type: ignore[operator]
    return found or host
