"""Normalization is pure: canonical URLs, stable ids, clean text, UTC dates (no network, no broker)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from classifiers.text import model_text
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.formats.entry import ParsedEntry, ParsedFeed
from monitor.ingest.formats.syndication import entry_of
from monitor.ingest.normalize import (
    Known,
    canonical_url,
    entry_print,
    html_to_text,
    normalize_changes,
    normalize_entries,
)
from monitor.messages import RawItem, encode
from tests.support.feeds import rss

FEED = FeedConfig(id="t", url="https://news.example.org/rss", name="Example")
NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)


def entries(body: bytes) -> list[ParsedEntry]:
    return [entry_of(e) for e in feedparser.parse(body)["entries"]]


def doc(entries: list[ParsedEntry], lang: str = "") -> ParsedFeed:
    """A parsed document of these entries, with no title or format of its own."""
    return ParsedFeed(title="", lang=lang, entries=tuple(entries))


def test_canonical_url_drops_tracking_fragment_and_case() -> None:
    assert canonical_url("HTTPS://News.Example.ORG:443/a/b?utm_source=x&id=7&fbclid=z#top") == (
        "https://news.example.org/a/b?id=7"
    )
    assert canonical_url("http://x.example:8080") == "http://x.example:8080/"


@given(st.text(alphabet="abcdefgh/-_.", min_size=0, max_size=20),
       st.lists(st.tuples(st.sampled_from(["id", "p", "utm_medium", "gclid", "q"]), st.text("xyz01", max_size=4)),
                max_size=4))  # fmt: skip
def test_canonical_url_is_idempotent_and_ignores_tracking(path: str, params: list[tuple[str, str]]) -> None:
    url = f"https://Example.com/{path}?{urlencode(params)}#frag"
    c = canonical_url(url)
    assert canonical_url(c) == c
    assert "utm_" not in c and "gclid" not in c and "#" not in c
    clean = [(k, v) for k, v in params if k not in ("utm_medium", "gclid")]
    assert canonical_url(f"https://example.com/{path}?{urlencode(clean)}") == c


def test_html_is_stripped_to_text() -> None:
    html = "<p>Shells hit <b>Akçakale</b> &amp; nearby&nbsp;farms</p><script>alert(1)</script><style>p{}</style>"
    assert html_to_text(html) == "Shells hit Akçakale & nearby\xa0farms".replace("\xa0", " ")
    assert html_to_text("a " * 300, max_chars=50).endswith("…")
    assert len(html_to_text("a " * 300, max_chars=50)) <= 50


@given(st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != ""))
def test_id_is_stable_for_same_guid_regardless_of_text(guid: str) -> None:
    a, _ = normalize_entries(doc(entries(rss([(guid, "One", "x")]))), FEED, fetched_at=NOW, backfill_before=None)
    b, _ = normalize_entries(doc(entries(rss([(guid, "Two", "y")]))), FEED, fetched_at=NOW, backfill_before=None)
    if a and b:
        assert a[0].id == b[0].id and a[0].id


def test_reused_guid_does_not_collapse_distinct_stories() -> None:
    body = rss([("same", "Story A", "a"), ("same", "Story B", "b")]).replace(b"/same</link>", b"/x</link>", 1)
    items, _ = normalize_entries(doc(entries(body)), FEED, fetched_at=NOW, backfill_before=None)
    assert len(items) == 2 and items[0].id != items[1].id


def test_dates_missing_or_future_take_fetch_time_and_are_flagged() -> None:
    future = rss([("g", "T", "S")], date=NOW + timedelta(days=3))
    items, _ = normalize_entries(doc(entries(future)), FEED, fetched_at=NOW, backfill_before=None)
    assert items[0].published == NOW and items[0].published_estimated
    past = rss([("g", "T", "S")], date=NOW - timedelta(days=3))
    items, _ = normalize_entries(doc(entries(past), lang="en-GB"), FEED, fetched_at=NOW, backfill_before=NOW)
    assert items[0].published == NOW - timedelta(days=3) and not items[0].published_estimated
    assert items[0].backfill and items[0].lang == "en"


# --- canonical URLs: properties -------------------------------------------------------------------------------

_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_host = st.lists(_label, min_size=1, max_size=3).map(".".join).map(lambda h: h + ".example")
_path = st.lists(st.text(alphabet="abcXYZ019-_.~%", min_size=1, max_size=6), max_size=3).map("/".join)
_params = st.lists(st.tuples(st.sampled_from(["id", "page", "q", "lang"]), st.text("abz19 ", max_size=4)), max_size=3)
_tracking = st.lists(
    st.tuples(
        st.sampled_from(["utm_source", "UTM_Medium", "utm_campaign", "fbclid", "gclid"]), st.text("ab1", max_size=4)
    ),
    max_size=3,
)


@given(st.sampled_from(["http", "https"]), _host, _path, _params, _tracking, st.text("abc", max_size=4), st.randoms())
def test_canonical_url_equal_for_every_spelling_of_one_url(
    scheme: str, host: str, path: str, params: list[tuple[str, str]], tracking: list[tuple[str, str]],
    fragment: str, rnd: random.Random,
) -> None:  # fmt: skip
    plain = canonical_url(f"{scheme}://{host}/{path}?{urlencode(params)}")
    # Tracking parameters at random places among the real ones, whose order is kept.
    noisy_query = list(params)
    for p in tracking:
        noisy_query.insert(rnd.randint(0, len(noisy_query)), p)
    port = {"http": 80, "https": 443}[scheme]
    noisy = f"{scheme.upper()}://{host.upper()}:{port}/{path}?{urlencode(noisy_query)}#{fragment}"
    assert canonical_url(noisy) == plain
    assert plain.startswith(f"{scheme}://{host}/") and "#" not in plain
    assert "utm_" not in plain.lower() and "fbclid" not in plain and "gclid" not in plain


@given(st.text(max_size=60))
def test_canonical_url_never_fails_and_is_idempotent(url: str) -> None:
    c = canonical_url(url)
    assert canonical_url(c) == c and "#" not in c


def test_canonical_url_keeps_real_ports_and_non_web_ids() -> None:
    assert canonical_url("https://a.example:8443/x#y") == "https://a.example:8443/x"
    assert canonical_url("  tag:a.example,2024:1#frag ") == "tag:a.example,2024:1"
    assert canonical_url("http://a.example:99999/x#y") == "http://a.example:99999/x"  # invalid port kept, no fragment


# --- ids: properties ------------------------------------------------------------------------------------------

_story = st.tuples(
    st.sampled_from(["", "g1", "g2", "https://news.example.org/p/1", "https://NEWS.example.org/p/1#x"]),  # guid
    st.sampled_from(["", "https://news.example.org/a", "https://news.example.org/b?utm_source=x"]),  # link
)


@given(st.lists(_story, min_size=1, max_size=8), st.randoms())
def test_ids_never_collapse_distinct_stories_and_ignore_order(
    stories: list[tuple[str, str]], rnd: random.Random
) -> None:
    """Guids and links are drawn from tiny pools so documents reuse them; every story still keeps its own id."""
    entries = [
        ParsedEntry(guid=guid, link=link, title=f"Story number {n}", summary=f"Text {n}")
        for n, (guid, link) in enumerate(stories)
    ]
    items, empty = normalize_entries(doc(entries), FEED, fetched_at=NOW, backfill_before=None)
    assert empty == 0 and len(items) == len(entries)
    ids = {i.title: i.id for i in items}
    assert len(set(ids.values())) == len(entries) and all(len(v) == 32 for v in ids.values())
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    again, _ = normalize_entries(doc(shuffled), FEED, fetched_at=NOW, backfill_before=None)
    assert {i.title: i.id for i in again} == ids


@given(st.sampled_from(["https://news.example.org/x", "tag:example.org,2024:x", "12345"]), st.text(max_size=20))
def test_id_of_unique_guid_survives_edits_and_new_neighbours(guid: str, new_title: str) -> None:
    one = [ParsedEntry(guid=guid, link="https://news.example.org/x?utm_source=a", title="Original", summary="s")]
    edited = [
        ParsedEntry(guid="other", link="https://news.example.org/y", title="Neighbour"),
        ParsedEntry(guid=guid, link="https://news.example.org/x", title=new_title or "t", summary="changed"),
    ]
    a, _ = normalize_entries(doc(one), FEED, fetched_at=NOW, backfill_before=None)
    b, _ = normalize_entries(doc(edited), FEED, fetched_at=NOW, backfill_before=None)
    assert a[0].id == b[1].id and a[0].content_hash != b[1].content_hash


def test_id_falls_back_from_permalink_guid_to_link_to_content() -> None:
    def ids(**fields: str) -> list[str]:
        entries = [ParsedEntry(**fields)]
        return [i.id for i in normalize_entries(doc(entries), FEED, fetched_at=NOW, backfill_before=None)[0]]

    # A permalink guid and the same URL as a link give the same story id.
    assert ids(guid="https://news.example.org/p", title="T") == ids(
        link="https://NEWS.example.org/p?utm_medium=rss", title="Other"
    )
    # Without guid and link, only the content identifies the story: same text, same id; new text, new id.
    assert ids(title="Only text", summary="x") == ids(title="ONLY TEXT", summary="X")
    assert ids(title="Only text") != ids(title="Other text")


def test_duplicate_guid_without_links_keeps_both_and_exact_repeat_once() -> None:
    entries = [ParsedEntry(guid="dup", title=t) for t in ("First", "Second", "First")]
    items, empty = normalize_entries(doc(entries), FEED, fetched_at=NOW, backfill_before=None)
    assert sorted(i.title for i in items) == ["First", "Second"] and empty == 0


def test_entries_without_anything_are_counted_not_produced() -> None:
    entries = [ParsedEntry(title="  ", summary="<p> </p>", summary_html=True), ParsedEntry(guid="only-guid"),
               ParsedEntry(title="Real")]  # fmt: skip
    items, empty = normalize_entries(doc(entries), FEED, fetched_at=NOW, backfill_before=None)
    assert [i.title for i in items] == ["Real"] and empty == 2


def test_a_title_taken_from_the_summary_or_link_is_flagged_and_scored_once() -> None:
    summary = ("The national sports federation re-elected its president for a fourth term on Saturday, with 41 of "
               "the 52 regional delegates backing him at the congress in the capital.")  # fmt: skip
    feed = [ParsedEntry(summary=summary, guid="a"), ParsedEntry(link="https://news.example.org/b"),
            ParsedEntry(title="Own title", summary=summary, guid="c")]  # fmt: skip
    derived, linked, titled = normalize_entries(doc(feed), FEED, fetched_at=NOW, backfill_before=None)[0]
    assert derived.title_derived and derived.title.endswith("…") and summary.startswith(derived.title[:-1])
    assert linked.title_derived and linked.title == "https://news.example.org/b"
    assert not titled.title_derived
    # The model reads the derived title's words once, as it does for the entry without any title.
    assert model_text(derived.title, derived.summary, derived.title_derived) == model_text("", summary) == summary
    assert model_text(linked.title, linked.summary, linked.title_derived) == "https://news.example.org/b."
    assert model_text(titled.title, titled.summary) == f"Own title. {summary}"
    # Messages written before the flag existed still read, as not derived.
    legacy = derived.model_dump(mode="json")
    del legacy["title_derived"]
    assert RawItem.model_validate(legacy).title_derived is False


# --- text -----------------------------------------------------------------------------------------------------


def test_html_inline_tags_do_not_split_words_and_blocks_do_not_glue() -> None:
    assert html_to_text("<p>Kyi<b>v</b> and Khar<i>kiv</i></p><p>Next</p><ul><li>a</li><li>b</li></ul>") == (
        "Kyiv and Kharkiv Next a b"
    )
    assert html_to_text("one<br>two<br/>three") == "one two three"
    assert html_to_text("&lt;b&gt; is &#8220;quoted&#8221; &amp;amp; &eacute;") == "<b> is “quoted” &amp; é"
    assert html_to_text("<title>Only a title</title>") == "Only a title"
    assert html_to_text("see<noscript>x</noscript><template>y</template> ok") == "see ok"


def test_plain_text_fields_are_not_parsed_as_html() -> None:
    body = rss([("g", "Why x <y and y> z matter", "a &lt;b&gt; c")])
    [item], _ = normalize_entries(doc(entries(body)), FEED, fetched_at=NOW, backfill_before=None)
    assert item.title == "Why x <y and y> z matter" and item.summary == "a <b> c"


@given(st.text(max_size=400), st.integers(min_value=20, max_value=200))
def test_text_is_bounded(text: str, limit: int) -> None:
    out = html_to_text(text, limit)
    assert len(out) <= limit and out == out.strip() and "  " not in out


def test_titles_and_summaries_respect_limits() -> None:
    body = rss([("g", "word " * 400, "long " * 2000)])
    [item], _ = normalize_entries(doc(entries(body)), FEED, fetched_at=NOW, backfill_before=None,
                                  title_max=80, summary_max=300)  # fmt: skip
    assert len(item.title) <= 80 and item.title.endswith("…") and len(item.summary) <= 300


# --- dates and source metadata --------------------------------------------------------------------------------


def test_dates_in_other_zones_become_utc_and_future_modified_is_dropped() -> None:
    e = ParsedEntry(title="T", link="https://x.example/1", published=datetime(2024, 3, 15, 8, 0, tzinfo=UTC),
                    updated=NOW + timedelta(days=1))  # fmt: skip
    [item], _ = normalize_entries(doc([e]), FEED, fetched_at=NOW, backfill_before=None)
    assert item.published == datetime(2024, 3, 15, 8, 0, tzinfo=UTC) and item.modified is None
    body = b"""<rss version="2.0"><channel><title>t</title><item><title>T</title><link>https://x.example/2</link>
        <pubDate>Fri, 15 Mar 2024 14:30:00 +0530</pubDate></item></channel></rss>"""
    [item], _ = normalize_entries(doc(entries(body)), FEED, fetched_at=NOW, backfill_before=None)
    assert item.published == datetime(2024, 3, 15, 9, 0, tzinfo=UTC) and item.published.tzinfo is UTC


def test_source_metadata_is_on_every_item() -> None:
    feed = FeedConfig(id="src", url="https://news.example.org/rss", name="Example News", lang="pt-BR",
                      region="latam", categories=("politics",))  # fmt: skip
    es = [
        ParsedEntry(title="A", link="https://x.example/a"),
        ParsedEntry(title="B", link="https://x.example/b", language="es_AR", tags=("votes", "")),
    ]
    parsed = ParsedFeed(title="<b>Example</b> Daily", lang="en", entries=tuple(es), format="rss20")
    a, b = normalize_entries(parsed, feed, fetched_at=NOW, backfill_before=None)[0]
    assert (a.feed_id, a.source, a.feed_url, a.region) == ("src", "Example News", feed.url, "latam")
    assert (a.feed_title, a.feed_format, a.feed_lang, a.lang) == ("Example Daily", "rss20", "pt", "pt")
    assert (b.lang, b.feed_lang, b.categories) == ("es", "pt", ["politics", "votes"])


def _hostile_entry(n: int) -> ParsedEntry:
    """An entry whose every field is enormous and laced with terminal escape sequences."""
    esc = "\x1b]8;;https://evil.example\x07\x1b[2J\x1b[31m\x9b1m\x00\x7f"
    big = (esc + "word ") * (n // 40)
    link = "https://news.example.org/" + "a" * n
    return ParsedEntry(
        title=big, title_html=True, summary=big, summary_html=True, link=link, guid=link, author=big, language=big,
        tags=(big,) * 500, places=(big,) * 500, subjects=(big,) * 500,
        published=datetime(2024, 3, 15, 11, 0, tzinfo=UTC),
    )  # fmt: skip


def test_every_field_of_a_hostile_entry_is_bounded_and_free_of_control_characters() -> None:
    feed = FeedConfig(id="t", url="https://news.example.org/rss", name="Example", categories=("a" * 100,) * 20)
    hostile = _hostile_entry(200_000)
    parsed = ParsedFeed(title=hostile.title, lang="", entries=(hostile,), format=hostile.title)
    [item], _ = normalize_entries(parsed, feed, fetched_at=NOW, backfill_before=None)
    encoded = item.model_dump_json()
    assert len(encoded.encode()) < 32 * 1024  # with the default limits; 2 MB went in
    texts = [v for v in item.model_dump(mode="json").values() if isinstance(v, str)]
    texts += [*item.categories, *item.places, *item.subjects]
    assert not [t for t in texts if re.search(r"[\x00-\x1f\x7f-\x9f]", t)]
    assert item.url == "" and item.id  # a link too long to keep whole is dropped, not cut into a wrong one
    assert "evil.example" in item.title and "word" in item.title and len(item.title) <= 500
    assert len(item.summary) <= 2000 and len(item.categories) <= 20 and len(item.places) <= 20


def test_a_link_without_title_or_summary_is_a_bounded_title() -> None:
    entry = ParsedEntry(link="https://news.example.org/" + "a" * 100_000)
    [item], _ = normalize_entries(doc([entry]), FEED, fetched_at=NOW, backfill_before=None)
    assert len(item.title) <= 500 and item.url == ""


def test_a_feed_config_field_cannot_be_unbounded() -> None:
    for bad in ({"name": "n" * 5000}, {"region": "r" * 5000}, {"url": "https://x.example/" + "a" * 5000},
                {"categories": ["c"] * 100}, {"categories": ["c" * 5000]}):  # fmt: skip
        with pytest.raises(ValidationError):
            FeedConfig.model_validate({"url": "https://x.example/rss", **bad})


def test_tail_prints_no_escape_sequence_even_for_records_normalization_never_saw() -> None:
    from monitor.settings import Settings
    from monitor.shell.tail import describe

    s = Settings()
    esc = "\x1b]8;;https://evil.example\x07click\x1b[2J\nnext line\x9b"
    item = RawItem(id="i", feed_id="f", feed_url="https://f.example/", source=esc, title=esc, published=NOW,
                   fetched_at=NOW, content_hash="h")  # fmt: skip
    for topic in (s.topics.raw, s.topics.alerts):
        line = describe(topic, encode(item), s)
        assert "click" in line and not re.search(r"[\x00-\x1f\x7f-\x9f]", line), line


def test_the_feed_tier_travels_on_each_item() -> None:
    wire = FEED.model_copy(update={"tier": "wire"})
    items, _ = normalize_entries(doc(entries(rss([("g", "One", "x")]))), wire, fetched_at=NOW, backfill_before=None)
    assert [i.tier for i in items] == ["wire"]
    plain, _ = normalize_entries(doc(entries(rss([("g", "One", "x")]))), FEED, fetched_at=NOW, backfill_before=None)
    assert [i.tier for i in plain] == ["outlet"]


# --- normalizing only what changed ----------------------------------------------------------------------------


def _story(n: int, text: str = "") -> ParsedEntry:
    return ParsedEntry(guid=f"https://news.example.org/p/{n}", title=f"Story {n}", summary=f"<p>Text {n} {text}</p>",
                       summary_html=True, published=NOW - timedelta(hours=n))  # fmt: skip


def test_only_new_and_changed_entries_are_normalized_and_they_are_the_same_items() -> None:
    first = doc([_story(n) for n in range(1, 6)])
    before = normalize_changes(first, FEED, Known({}), fetched_at=NOW, backfill_before=None)
    assert [i.id for i in before.new] == [i for i, _ in before.listed] and not before.changed
    known = Known(dict(before.listed), frozenset(before.prints))
    edited = [_story(0), _story(1), _story(2, "corrected"), *(_story(n) for n in range(3, 6))]
    later = normalize_changes(doc(edited), FEED, known, fetched_at=NOW, backfill_before=None)
    every, _ = normalize_entries(doc(edited), FEED, fetched_at=NOW, backfill_before=None)
    assert later.listed == [(i.id, i.content_hash) for i in every]
    assert later.new == [every[0]]
    assert later.changed == [every[2].model_copy(update={"update": True})]
    # A story known by its id, but from an entry this process has not read, is read to compare its content.
    unread = normalize_changes(doc(edited), FEED, Known(dict(before.listed)), fetched_at=NOW, backfill_before=None)
    assert (unread.listed, unread.new, unread.changed) == (later.listed, later.new, later.changed)


def test_an_entry_that_reads_as_its_print_says_is_not_read_again() -> None:
    entry = _story(1)
    [item], _ = normalize_entries(doc([entry]), FEED, fetched_at=NOW, backfill_before=None)
    claimed = "0" * 16  # not its content hash, but its print vouches for it, so the entry is not cleaned again
    known = Known({item.id: claimed}, frozenset({entry_print(entry, claimed)}))
    listing = normalize_changes(doc([entry]), FEED, known, fetched_at=NOW, backfill_before=None)
    assert listing.listed == [(item.id, claimed)] and not listing.new and not listing.changed
    assert listing.prints == [entry_print(entry, claimed)]
