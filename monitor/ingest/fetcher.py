"""HTTP fetching of one feed: conditional GET, bounded time and size, failures classified."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from yarl import URL

from monitor.ingest import addresses
from monitor.ingest.errors import ErrorKind, FeedError
from monitor.retry import parse_retry_after
from monitor.settings import IngestSettings

_CHALLENGE_MARKERS = (
    b"cf-chl",
    b"just a moment...",
    b"captcha-delivery.com",
    b"datadome",
    b"challenge-platform",
)

_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class FetchResult:
    status: int  # 200 or 304
    url: str  # after redirects
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # names lowercased
    permanent_redirect: str | None = None


def make_session(s: IngestSettings) -> aiohttp.ClientSession:
    """One shared session: a connection pool bounded globally and per host, connecting only where `s` permits."""
    timeout = aiohttp.ClientTimeout(
        total=s.total_timeout_s, sock_connect=s.connect_timeout_s, sock_read=s.read_timeout_s
    )
    # Names are checked after resolution, where the connection is made; literal addresses by fetch() per hop.
    resolver = addresses.PolicyResolver(s) if addresses.restricted(s) else None
    connector = aiohttp.TCPConnector(
        limit=s.concurrency, limit_per_host=s.per_host, ttl_dns_cache=300, resolver=resolver
    )
    return aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        headers={"User-Agent": s.user_agent, "Accept-Encoding": "gzip, deflate, br"},
        # Cookies from one feed must not leak into another's requests.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def _lower(resp: aiohttp.ClientResponse) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()}


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    # Only "slow down" and "come back later" answers carry a wait worth honouring.
    if resp.status not in (429, 503):
        return None
    return parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC))


def _challenged(resp: aiohttp.ClientResponse) -> bool:
    return resp.headers.get("cf-mitigated", "").lower() == "challenge"


def _blocked(resp: aiohttp.ClientResponse, head: bytes) -> bool:
    """Bot protection answered instead of the feed: Cloudflare's challenge, DataDome, or a challenge page."""
    h = resp.headers
    if _challenged(resp):
        return True
    if any(k.lower().startswith("x-datadome") or k.lower() == "x-dd-b" for k in h):
        return True
    if any(c.lstrip().lower().startswith("datadome=") for c in h.getall("Set-Cookie", ())):
        return True
    return resp.status in (403, 429, 503) and any(m in head.lower() for m in _CHALLENGE_MARKERS)


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    # resp.content yields decompressed bytes, so the limit also stops compression bombs.
    declared = resp.content_length
    if declared is not None and declared > limit and not resp.headers.get("Content-Encoding"):
        raise FeedError(ErrorKind.TOO_LARGE, f"declared body of {declared} bytes exceeds {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise FeedError(ErrorKind.TOO_LARGE, f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _request_headers(etag: str, last_modified: str) -> dict[str, str]:
    headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _next_hop(resp: aiohttp.ClientResponse) -> URL | None:
    """Where a redirect leads, or None when the response is not one to follow."""
    location = resp.headers.get("Location") if resp.status in _REDIRECTS else None
    if location is None:
        return None  # a redirect without a Location is answered as it is, like any other status
    try:
        target = resp.url.join(URL(location)).with_fragment(None)
    except ValueError as exc:
        raise FeedError(ErrorKind.REDIRECT, f"bad redirect: {location[:200]!r} is not a URL") from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise FeedError(ErrorKind.REDIRECT, f"bad redirect: {location[:200]!r} is not an http(s) URL")
    return target


async def _answer(resp: aiohttp.ClientResponse, s: IngestSettings, permanent: str | None) -> FetchResult:
    """The final response of a fetch as a result, or the FeedError it amounts to."""
    final = str(resp.url)
    if resp.status == 304:
        return FetchResult(304, final, headers=_lower(resp), permanent_redirect=permanent)
    if resp.status != 200:
        head = await resp.content.read(16 * 1024)
        kind = ErrorKind.BLOCKED if _blocked(resp, head) else ErrorKind.HTTP_STATUS
        message = "blocked by bot protection" if kind is ErrorKind.BLOCKED else resp.reason or "unexpected status"
        raise FeedError(kind, message, status=resp.status, retry_after=_retry_after(resp))
    if _challenged(resp):
        raise FeedError(ErrorKind.BLOCKED, "a bot-protection challenge served with 200", status=200)
    body = await _read_bounded(resp, s.max_body_bytes)
    return FetchResult(200, final, body, _lower(resp), permanent)


async def _follow(session: aiohttp.ClientSession, url: str, s: IngestSettings, headers: dict[str, str]) -> FetchResult:
    """GET the URL and the redirects it leads to, each hop's address checked before it is connected to."""
    try:
        hop = URL(url)
    except ValueError as exc:
        raise FeedError(ErrorKind.BAD_URL, f"invalid URL {url[:200]!r}") from exc
    statuses: list[int] = []
    while True:
        addresses.check_url(hop, s)
        async with session.get(hop, headers=headers, allow_redirects=False) as resp:
            target = _next_hop(resp)
            if target is None:
                # Only an unbroken chain of permanent redirects moves the feed.
                moved = bool(statuses) and all(code in (301, 308) for code in statuses)
                return await _answer(resp, s, str(resp.url) if moved else None)
        statuses.append(resp.status)
        if len(statuses) > s.max_redirects:
            raise FeedError(ErrorKind.REDIRECT, f"more than {s.max_redirects} redirects")
        hop = target


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    s: IngestSettings,
    *,
    etag: str = "",
    last_modified: str = "",
) -> FetchResult:
    """GET one feed with its validators; raise FeedError for every kind of failure."""
    try:
        return await _follow(session, url, s, _request_headers(etag, last_modified))
    except FeedError:
        raise
    except aiohttp.InvalidURL as exc:
        raise FeedError(ErrorKind.BAD_URL, f"invalid URL {exc}") from exc
    except aiohttp.ClientConnectorDNSError as exc:
        if isinstance(exc.os_error, addresses.RefusedAddress):
            raise FeedError(ErrorKind.BLOCKED_ADDRESS, str(exc.os_error)) from exc
        raise FeedError(ErrorKind.DNS, f"cannot resolve {exc.host}") from exc
    except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError) as exc:
        raise FeedError(ErrorKind.TLS, str(exc) or type(exc).__name__) from exc
    except aiohttp.ClientConnectorError as exc:
        raise FeedError(ErrorKind.CONNECT, f"cannot connect to {exc.host}:{exc.port}") from exc
    except TimeoutError as exc:
        raise FeedError(ErrorKind.TIMEOUT, "no complete response in time") from exc
    except aiohttp.ClientPayloadError as exc:
        raise FeedError(ErrorKind.CONNECT, f"broken response body: {exc}") from exc
    except aiohttp.ClientResponseError as exc:
        raise FeedError(ErrorKind.HTTP_STATUS, exc.message, status=exc.status) from exc
    except aiohttp.ClientError as exc:
        raise FeedError(ErrorKind.CONNECT, f"{type(exc).__name__}: {exc}") from exc
