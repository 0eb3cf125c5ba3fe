"""A local feed farm for the ingestion benchmark: N generated RSS feeds of 30-60 stories each, served with ETag and
Last-Modified validators (304 when unchanged), a fraction of the feeds gaining new stories every round.

It records when every new story was published (added to its feed) and when it was first served in a 200, and
counts what it served. Run in its own process so its CPU is separate from the pollers':

    .venv/bin/python -m bench.feedfarm --feeds 1000 --change-fraction 0.1 --round 5

It prints one JSON line with its port when ready. Endpoints besides `/feed/<n>.xml`: `GET /_stats` (counters,
poll gaps since the previous call, feeds polled since the last control call), `POST /_control` (JSON:
change_fraction, round_s, change_on_request, phase) and `GET /_stories` (every story added since start: phase,
published, first served).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import re
import signal
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web

# Article ids in links are the feed number (5 digits) followed by the story's sequence number (6 digits), so a
# story landing in Kafka can be traced back to the farm by its URL alone.
ID_DIGITS = 11

_ACTORS = (
    "The defence ministry|Border guards|The prime minister|Opposition leaders|"
    "The election commission|Local officials|Coast guard crews|The foreign office|Customs officers|"
    "A parliamentary committee|Regional governors|Election observers|The interior minister|"
    "Army engineers|Police|Mayors|The central bank|Union representatives|Farmers' groups|"
    "Civil aviation authorities"
).split("|")
_VERBS = (
    "report|deny|confirm|investigate|condemn|welcome|postpone|announce|reject|question|approve|"
    "review|dispute|suspend|extend"
).split("|")
_OBJECTS = (
    "a drone sighting|the vote count|new checkpoints|an airspace violation|the runoff date|"
    "a disputed ballot|troop movements|the recount|a fishing-boat seizure|the turnout figures|"
    "fresh sanctions|a power-line outage|the candidate list|a pipeline leak|cross-border shelling|"
    "early-voting rules|a migrant crossing|the campaign budget|a rail blockade|the exit polls"
).split("|")
_PLACES = (
    "Narva|Przemyśl|Suwałki|Kraków|Zürich|São Paulo|Tbilisi|Chișinău|Vilnius|Kyiv|Rzeszów|Białystok|"
    "Tallinn|Riga|Ruse|Iași|Košice|Uzhhorod|Brest|Gdańsk|Kaliningrad|Batumi|Giurgiu|"
    "Sighetu Marmației|Daugavpils"
).split("|")
_EVENTS = (
    "overnight talks|a storm|the first round|a border incident|weekend protests|a court ruling|"
    "a power cut|heavy shelling|a cyber attack|a snap poll|a boat collision|an emergency session"
).split("|")
_SECTIONS = ("world|europe|politics|news|region|security|elections|local").split("|")
_FIRST = ("Anna|Jonas|Marta|Piotr|Elena|Tomás|Ingrid|Oleksandr|Giulia|Mihai|Sara|Lukas").split("|")
_LAST = ("Nowak|Kask|Popescu|Bauer|Ferreira|Lindqvist|Kovalenko|Rossi|Horvat|Novák").split("|")
_OUTLET_A = ("Northern|Harbour|Valley|Capital|Border|Evening|Baltic|Danube|Morning|Coastal").split("|")
_OUTLET_B = ("Herald|Gazette|Courier|Chronicle|Post|Tribune|Observer|Dispatch|Times|Ledger").split("|")
_LANGS = ["en-gb", "en-us", "en", "en-ie", "pl", "de", "ro", "et"]


def _title(rng: random.Random) -> str:
    a, v, o, p = rng.choice(_ACTORS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_PLACES)
    form = rng.randrange(4)
    if form == 0:
        return f"{a} {v}s {o} near {p}"
    if form == 1:
        return f"{p}: {a.lower() if a.startswith('The') else a} {v} {o} after {rng.choice(_EVENTS)}"
    if form == 2:
        return f"{rng.randint(2, 400)} people affected as {o} follows {rng.choice(_EVENTS)} in {p}"
    return f"Live: {rng.choice(_EVENTS)} in {p} — {a.lower()} {v} {o}"


def _sentence(rng: random.Random) -> str:
    a, v, o, p = rng.choice(_ACTORS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_PLACES)
    tail = rng.choice(
        [
            "on Tuesday",
            "late on Sunday",
            "in a statement",
            "according to state media",
            f"citing {rng.randint(2, 9)} witnesses",
            "before dawn",
            "amid growing criticism",
        ]
    )
    return f"{a} said they would {v} {o} in {p} {tail}."


def _summary(rng: random.Random, host: str) -> str:
    text = " ".join(_sentence(rng) for _ in range(rng.randint(1, 3)))
    style = rng.randrange(4)
    if style == 0:
        return text
    if style == 1:
        return f"<p>{text}</p>"
    if style == 2:
        return f'<p>{text} <a href="https://{host}/tag/{rng.choice(_SECTIONS)}">Read more &raquo;</a></p>'
    img = f'<img src="https://cdn.{host}/img/{rng.getrandbits(40):x}.jpg" width="640" alt="" />'
    return f"{img}<p>{text.replace(' and ', ' &amp; ')}</p>"


def _content(rng: random.Random) -> str:
    paras = "".join(f"<p>{' '.join(_sentence(rng) for _ in range(rng.randint(2, 4)))}</p>" for _ in range(4))
    return f"{paras}<blockquote>“{_sentence(rng)}”</blockquote><p><em>{rng.choice(_FIRST)} contributed.</em></p>"


@dataclass
class Feed:
    """One generated feed: its channel parts, its current items (newest first) and its validators."""

    n: int
    host: str
    outlet: str
    section: str
    lang: str
    size: int  # how many items the feed lists
    permalink_guids: bool
    full_content: bool
    authors: bool
    utm: bool
    items: list[bytes] = field(default_factory=list)
    next_seq: int = 0
    version: int = 0
    etag: str = ""
    modified_ts: int = 0
    last_modified: str = ""
    gz: bytes = b""
    unserved: list[int] = field(default_factory=list)  # story keys added by the last change, not yet served
    last_request: float = 0.0
    epoch: int = 0  # the farm's epoch (bumped by each control call) of the feed's last request


def story_key(feed: int, seq: int) -> int:
    return feed * 1_000_000 + seq


def _make_feed(n: int, rng: random.Random) -> Feed:
    outlet = f"{rng.choice(_OUTLET_A)} {rng.choice(_OUTLET_B)}"
    host = f"www.{outlet.lower().replace(' ', '')}{n % 97}.example"
    return Feed(
        n=n,
        host=host,
        outlet=outlet,
        section=rng.choice(_SECTIONS),
        lang=rng.choice(_LANGS),
        size=rng.randint(30, 60),
        permalink_guids=rng.random() < 0.6,
        full_content=rng.random() < 0.25,
        authors=rng.random() < 0.5,
        utm=rng.random() < 0.3,
    )


def _item(feed: Feed, seq: int, when: float, rng: random.Random) -> bytes:
    title = _title(rng)
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = "-".join(re.findall(r"[a-z0-9]+", ascii_title)[:7])
    day = time.strftime("%Y/%m/%d", time.gmtime(when))
    link = f"https://{feed.host}/{feed.section}/{day}/{slug}-{story_key(feed.n, seq):0{ID_DIGITS}d}"
    if feed.utm:
        link += "?utm_source=rss&utm_medium=feed&utm_campaign=" + feed.section
    if feed.permalink_guids:
        guid = f'<guid isPermaLink="true">{escape(link)}</guid>'
    else:
        guid = f'<guid isPermaLink="false">{feed.host}:{feed.n}:{seq}</guid>'
    cats = "".join(f"<category>{escape(c.title())}</category>" for c in rng.sample(_SECTIONS, rng.randint(1, 3)))
    parts = [
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>{guid}",
        f"<description>{escape(_summary(rng, feed.host))}</description>",
        f"<pubDate>{format_datetime(_utc(when), usegmt=True)}</pubDate>{cats}",
    ]
    if feed.authors:
        parts.append(f"<dc:creator>{rng.choice(_FIRST)} {rng.choice(_LAST)}</dc:creator>")
    if feed.full_content:
        parts.append(f"<content:encoded><![CDATA[{_content(rng)}]]></content:encoded>")
    parts.append(f"<media:thumbnail url={quoteattr(f'https://cdn.{feed.host}/t/{seq}.jpg')} /></item>")
    return "".join(parts).encode()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _render(feed: Feed, now: float) -> None:
    """Rebuild the feed's compressed body and validators from its items."""
    built = format_datetime(_utc(now), usegmt=True)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        f"<title>{escape(feed.outlet)} — {feed.section.title()}</title><link>https://{feed.host}/{feed.section}</link>"
        f"<description>Latest {feed.section} stories from the {escape(feed.outlet)}</description>"
        f"<language>{feed.lang}</language><lastBuildDate>{built}</lastBuildDate><ttl>10</ttl>"
        f'<atom:link href="https://{feed.host}/{feed.section}/rss.xml" rel="self" type="application/rss+xml" />'
    ).encode()
    # Level 1 is what common web servers compress dynamic responses with by default.
    feed.gz = gzip.compress(head + b"\n".join(feed.items) + b"</channel></rss>\n", compresslevel=1, mtime=0)
    feed.version += 1
    feed.etag = f'"{feed.n:x}-{feed.version:x}"'
    feed.modified_ts = int(now)
    feed.last_modified = built


def _add_stories(feed: Feed, count: int, now: float, rng: random.Random) -> list[int]:
    new = [_item(feed, feed.next_seq + i, now, rng) for i in range(count)]
    keys = [story_key(feed.n, feed.next_seq + i) for i in range(count)]
    feed.next_seq += count
    feed.items = [*reversed(new), *feed.items][: feed.size]
    return keys


def build_feeds(count: int, seed: int) -> list[Feed]:
    """Generate every feed with a backlog spread over the previous two days."""
    rng = random.Random(seed)
    now = time.time()
    feeds = []
    for n in range(count):
        feed = _make_feed(n, rng)
        ages = sorted((rng.uniform(600, 172800) for _ in range(feed.size)), reverse=True)
        feed.items = [_item(feed, seq, now - age, rng) for seq, age in enumerate(ages)][::-1]
        feed.next_seq = feed.size
        _render(feed, now - ages[-1])
        feeds.append(feed)
    return feeds


@dataclass
class Story:
    phase: str
    published: float
    served: float | None = None


class Farm:
    """Serves the feeds and changes a fraction of them each round, spread evenly over the round."""

    def __init__(self, feeds: list[Feed], change_fraction: float, round_s: float, seed: int) -> None:
        self.feeds = feeds
        self.change_fraction = change_fraction
        self.round_s = round_s
        # Every request first adds stories to the feed: every poll is a full one, and nothing stays pending.
        self.change_on_request = False
        self.phase = "start"
        self.rng = random.Random(seed + 1)
        self.stories: dict[int, Story] = {}
        self.counts = {"full": 0, "not_modified": 0, "not_found": 0, "bytes": 0, "changes": 0, "served_once": 0}
        self.gaps: list[float] = []
        self.epoch = 0
        self.polled_this_epoch = 0
        self._changer: asyncio.Task[None] | None = None

    def _not_modified(self, request: web.Request, feed: Feed) -> bool:
        inm = request.headers.get("If-None-Match")
        if inm is not None:  # RFC 9110: when If-None-Match is present, If-Modified-Since is ignored
            return any(tag.strip().removeprefix("W/") == feed.etag for tag in inm.split(","))
        ims = request.headers.get("If-Modified-Since")
        if ims:
            try:
                return parsedate_to_datetime(ims).timestamp() >= feed.modified_ts
            except (TypeError, ValueError):
                return False
        return False

    async def serve(self, request: web.Request) -> web.Response:
        try:
            feed = self.feeds[int(request.match_info["n"])]
        except (ValueError, IndexError):
            self.counts["not_found"] += 1
            raise web.HTTPNotFound() from None
        now = time.monotonic()
        if feed.last_request:
            self.gaps.append(now - feed.last_request)
        else:
            self.counts["served_once"] += 1
        feed.last_request = now
        if feed.epoch != self.epoch:
            feed.epoch = self.epoch
            self.polled_this_epoch += 1
        # No Cache-Control: a max-age would rightly make the pollers wait it out, and the benchmark wants them busy.
        if self.change_on_request:
            self.change(feed)
        headers = {"ETag": feed.etag, "Last-Modified": feed.last_modified}
        if self._not_modified(request, feed):
            self.counts["not_modified"] += 1
            return web.Response(status=304, headers=headers)
        self.counts["full"] += 1
        if feed.unserved:
            wall = time.time()
            for key in feed.unserved:
                self.stories[key].served = wall
            feed.unserved = []
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body = feed.gz
            headers["Content-Encoding"] = "gzip"
        else:
            body = gzip.decompress(feed.gz)
        headers["Vary"] = "Accept-Encoding"
        self.counts["bytes"] += len(body)
        return web.Response(body=body, headers=headers, content_type="application/rss+xml", charset="utf-8")

    def change(self, feed: Feed) -> None:
        wall = time.time()
        for key in _add_stories(feed, self.rng.choice((1, 1, 1, 2, 2, 3)), wall, self.rng):
            self.stories[key] = Story(self.phase, wall)
            feed.unserved.append(key)
        _render(feed, wall)
        self.counts["changes"] += 1

    async def run_changes(self) -> None:
        """Each round, change `change_fraction` of the feeds at random moments spread over the round.

        A feed whose last change nobody has fetched yet is left alone, so one poll sees one change's stories.
        """
        while True:
            started = time.monotonic()
            round_s = self.round_s
            eligible = [f for f in self.feeds if not f.unserved]
            k = min(len(eligible), round(self.change_fraction * len(self.feeds)))
            chosen = self.rng.sample(eligible, k) if k else []
            offsets = sorted(self.rng.uniform(0, round_s) for _ in chosen)
            for feed, at in zip(chosen, offsets, strict=True):
                wait = started + at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.change(feed)
                if wait <= 0:
                    await asyncio.sleep(0)  # behind schedule: still let requests through between changes
            await asyncio.sleep(max(0.0, started + round_s - time.monotonic()))

    async def stats(self, _: web.Request) -> web.Response:
        gaps, self.gaps = sorted(self.gaps), []
        doc: dict[str, object] = {
            **self.counts,
            "time": time.time(),
            "phase": self.phase,
            "gaps": len(gaps),
            "polled_since_control": self.polled_this_epoch,
            "pending_changes": sum(1 for f in self.feeds if f.unserved),
        }
        if gaps:
            doc["gap_p50_s"] = gaps[len(gaps) // 2]
            doc["gap_p95_s"] = gaps[min(len(gaps) - 1, int(len(gaps) * 0.95))]
        return web.json_response(doc)

    async def control(self, request: web.Request) -> web.Response:
        doc = await request.json()
        self.change_fraction = float(doc.get("change_fraction", self.change_fraction))
        self.round_s = float(doc.get("round_s", self.round_s))
        self.change_on_request = bool(doc.get("change_on_request", self.change_on_request))
        if "phase" in doc:
            self.phase = str(doc["phase"])
            self.epoch += 1
            self.polled_this_epoch = 0
        return web.json_response({"change_fraction": self.change_fraction, "round_s": self.round_s})

    async def story_log(self, _: web.Request) -> web.Response:
        body = {str(k): [s.phase, s.published, s.served] for k, s in self.stories.items()}
        return web.json_response(body)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/feed/{n}.xml", self.serve)
        app.router.add_get("/_stats", self.stats)
        app.router.add_post("/_control", self.control)
        app.router.add_get("/_stories", self.story_log)
        return app


async def serve_forever(farm: Farm, host: str, port: int) -> None:
    runner = web.AppRunner(farm.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    changer = asyncio.create_task(farm.run_changes())
    ready = {"port": runner.addresses[0][1], "feeds": len(farm.feeds), "items": sum(len(f.items) for f in farm.feeds)}
    print(json.dumps(ready), flush=True)
    try:
        await stop.wait()
    finally:
        changer.cancel()
        await runner.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve generated RSS feeds for the ingestion benchmark.")
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--change-fraction", type=float, default=0.0, help="fraction of all feeds changed per round")
    ap.add_argument("--round", type=float, default=5.0, help="seconds per round")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if not 0 < args.feeds < 100_000:
        ap.error("--feeds must be between 1 and 99999")
    farm = Farm(build_feeds(args.feeds, args.seed), args.change_fraction, args.round, args.seed)
    asyncio.run(serve_forever(farm, args.host, args.port))


if __name__ == "__main__":
    main()
