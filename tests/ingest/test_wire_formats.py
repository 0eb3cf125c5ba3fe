"""Every supported format, from bytes to normalized items: RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.0/1.1,
IPTC ninjs 1.x/2.x and IPTC NewsML-G2; plus one run through real HTTP and the real broker."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest

from monitor.ingest import parser
from monitor.ingest.errors import ErrorKind, FeedError
from monitor.ingest.feeds import FeedConfig
from monitor.ingest.normalize import normalize_entries
from monitor.ingest.parser import parse_feed
from monitor.messages import RawItem, decode
from monitor.settings import Settings
from tests.support.feeds import FeedServer
from tests.support.kafka import read_topic

NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)
URL = "https://wire.example.net/feed"


def items_of(
    body: bytes, content_type: str = "application/xml", feed: FeedConfig | None = None
) -> tuple[str, list[RawItem]]:
    feed = feed or FeedConfig(id="w", url=URL, name="Wire", region="eu", categories=("world",))
    parsed = parse_feed(body, {"Content-Type": content_type}, URL)
    items, empty = normalize_entries(
        parsed,
        feed,
        fetched_at=NOW,
        backfill_before=None,
    )
    assert empty == 0
    return parsed.format, items


# --- feedparser formats ---------------------------------------------------------------------------------------

RSS_091 = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<rss version="0.91"><channel><title>Harbour Gazette</title><link>https://gazette.example/</link>
<description>Local news</description><language>en-gb</language>
<item><title>Ferry service resumes after storm</title>
<link>https://Gazette.example/ferry?utm_source=rss&amp;id=4#top</link>
<description>Crossings restart &lt;b&gt;today&lt;/b&gt; at 9.</description></item>
</channel></rss>"""

RSS_092 = b"""<?xml version="1.0"?>
<rss version="0.92"><channel><title>Quay Notes</title><link>https://quay.example/</link><description>d</description>
<item><description>Harbour master &lt;i&gt;closes&lt;/i&gt; the north quay for repairs until Friday.</description>
<link>https://quay.example/n/17</link><category>port</category></item>
</channel></rss>"""

RSS_10 = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://tal.example/rdf"><title>Talbote</title><link>https://tal.example/</link>
<description>d</description><dc:language>de</dc:language>
<items><rdf:Seq><rdf:li rdf:resource="https://tal.example/a/1"/></rdf:Seq></items></channel>
<item rdf:about="https://tal.example/a/1"><title>Brücke gesperrt</title><link>https://tal.example/a/1</link>
<description>Die Talbrücke bleibt bis Montag gesperrt.</description><dc:date>2024-03-14T08:30:00+01:00</dc:date>
<dc:subject>Verkehr</dc:subject></item>
</rdf:RDF>""".encode()

RSS_20 = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Border Desk</title>
<link>https://desk.example/</link><description>d</description><language>uk</language>
<item><title>Drone debris found near the &lt;border&gt; post</title>
<link>https://desk.example/a/9?fbclid=abc</link><guid isPermaLink="true">https://desk.example/a/9</guid>
<description><![CDATA[<p>Guards found<br>debris.</p><script>track()</script>]]></description>
<pubDate>Thu, 14 Mar 2024 07:05:00 +0200</pubDate><dc:language>ru</dc:language>
<category>security</category><author>desk@desk.example (Desk)</author></item>
</channel></rss>"""

ATOM_03 = """<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#" xml:lang="fr">
<title>Le Veilleur</title><link rel="alternate" type="text/html" href="https://veilleur.example/"/>
<modified>2024-03-14T10:00:00Z</modified>
<entry><title>Grève des contrôleurs</title>
<link rel="alternate" type="text/html" href="https://veilleur.example/greve"/>
<id>tag:veilleur.example,2024:greve</id><issued>2024-03-14T09:00:00+01:00</issued>
<modified>2024-03-14T11:00:00Z</modified><summary>Trafic perturbé toute la journée.</summary></entry>
</feed>""".encode()

ATOM_10 = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="es"><title type="text">El Vigia</title>
<id>urn:uuid:5a1d</id><updated>2024-03-14T12:00:00Z</updated>
<entry><title type="html">Elecciones &lt;em&gt;regionales&lt;/em&gt;</title><id>urn:uuid:5a1d-1</id>
<link rel="alternate" href="/2024/elecciones"/><published>2024-03-14T06:00:00-03:00</published>
<updated>2024-03-14T10:30:00Z</updated><category term="politica"/>
<content type="html">&lt;p&gt;La participaci&amp;oacute;n fue alta.&lt;/p&gt;</content></entry>
</feed>"""


def test_rss_091_and_092() -> None:
    fmt, [item] = items_of(RSS_091)
    assert fmt.startswith("rss091")
    assert item.title == "Ferry service resumes after storm"
    assert item.url == "https://gazette.example/ferry?id=4"
    assert item.summary == "Crossings restart today at 9."
    assert item.lang == "en" and item.feed_lang == "en" and item.feed_title == "Harbour Gazette"
    assert item.published_estimated and item.published == NOW
    fmt, [item] = items_of(RSS_092)
    assert fmt == "rss092"
    # 0.92 items may lack a title: it is taken from the text.
    assert item.title.startswith("Harbour master closes the north quay")
    assert item.categories == ["world", "port"] and item.region == "eu"


def test_rss_10_rdf() -> None:
    fmt, [item] = items_of(RSS_10)
    assert fmt == "rss10" and item.feed_format == "rss10"
    assert item.title == "Brücke gesperrt" and item.lang == "de"
    assert item.published == datetime(2024, 3, 14, 7, 30, tzinfo=UTC) and not item.published_estimated
    assert "Verkehr" in item.categories


def test_rss_20_text_is_cleaned_and_item_language_wins() -> None:
    fmt, [item] = items_of(RSS_20)
    assert fmt == "rss20"
    # The title was escaped text with angle brackets, not markup: nothing is lost.
    assert item.title == "Drone debris found near the <border> post"
    assert item.summary == "Guards found debris."
    assert item.url == "https://desk.example/a/9"
    assert item.lang == "ru" and item.feed_lang == "uk"
    assert item.published == datetime(2024, 3, 14, 5, 5, tzinfo=UTC)
    assert item.modified is None


def test_atom_03_and_10() -> None:
    fmt, [item] = items_of(ATOM_03)
    assert fmt == "atom03"
    assert item.title == "Grève des contrôleurs" and item.guid == "tag:veilleur.example,2024:greve"
    assert item.published == datetime(2024, 3, 14, 8, 0, tzinfo=UTC)
    assert item.modified == datetime(2024, 3, 14, 11, 0, tzinfo=UTC)
    fmt, [item] = items_of(ATOM_10)
    assert fmt == "atom10"
    assert item.title == "Elecciones regionales" and item.summary == "La participación fue alta."
    assert item.url == "https://wire.example.net/2024/elecciones"  # relative link resolved against the feed URL
    assert item.published == datetime(2024, 3, 14, 9, 0, tzinfo=UTC)
    assert item.modified == datetime(2024, 3, 14, 10, 30, tzinfo=UTC)
    assert item.feed_title == "El Vigia" and "politica" in item.categories


# --- JSON Feed ------------------------------------------------------------------------------------------------

JSONFEED_10 = {
    "version": "https://jsonfeed.org/version/1",
    "title": "Ridge Post",
    "home_page_url": "https://ridge.example/",
    "items": [
        {"id": "rp-1", "url": "/news/landslide", "title": "Landslide blocks pass",
         "content_html": "<p>Road <b>closed</b> until spring.</p>", "date_published": "2024-03-14T09:00:00+01:00",
         "author": {"name": "Ana Ruiz"}, "tags": ["roads", "weather"]},
        {"id": 2, "content_text": "Power restored to 300 homes in the upper valley.",
         "url": "https://ridge.example/news/power"},
    ],
}  # fmt: skip

JSONFEED_11 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Kanal Dnia",
    "language": "pl-PL",
    "items": [
        {"id": "https://kanal.example/w/1", "title": "Wybory samorządowe", "summary": "Frekwencja rekordowa.",
         "content_text": "Long text.", "date_published": "2024-03-14T20:00:00Z",
         "date_modified": "2024-03-14T21:15:00Z", "authors": [{"name": "Jan"}], "language": "pl"},
        {"id": "k2", "title": "Wiadomości po angielsku", "url": "https://kanal.example/w/2", "language": "en-US"},
    ],
}  # fmt: skip


def test_json_feed_10() -> None:
    fmt, items = items_of(json.dumps(JSONFEED_10).encode(), "application/json")
    assert fmt == "jsonfeed10"
    a, b = items
    assert a.title == "Landslide blocks pass" and a.summary == "Road closed until spring."
    assert a.url == "https://ridge.example/news/landslide" and a.author == "Ana Ruiz"
    assert a.published == datetime(2024, 3, 14, 8, 0, tzinfo=UTC)
    assert a.categories == ["world", "roads", "weather"] and a.guid == "rp-1"
    assert b.title.startswith("Power restored") and b.guid == "2" and b.published_estimated


def test_json_feed_11_languages_and_dates() -> None:
    fmt, items = items_of(json.dumps(JSONFEED_11).encode(), "application/feed+json")
    assert fmt == "jsonfeed11"
    a, b = items
    assert a.summary == "Frekwencja rekordowa." and a.url == "https://kanal.example/w/1"
    assert a.modified == datetime(2024, 3, 14, 21, 15, tzinfo=UTC) and a.author == "Jan"
    assert (a.lang, b.lang, a.feed_lang) == ("pl", "en", "pl")


# --- IPTC ninjs -----------------------------------------------------------------------------------------------

NINJS_2 = {
    "uri": "urn:example:wire:2024:0314:77",
    "standard": {"name": "ninjs", "version": "2.0", "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_2.0.json"},
    "type": "text",
    "version": "3",
    "firstcreated": "2024-03-14T06:10:00Z",
    "versioncreated": "2024-03-14T07:40:00+02:00",
    "language": "en-GB",
    "headlines": [{"role": "short", "value": "Shelling near border"},
                  {"role": "main", "value": "Shelling reported near the northern border crossing"}],
    "descriptions": [{"role": "ednote", "value": "Update with casualty figures"},
                     {"role": "summary", "value": "Two villages were hit overnight, officials said."}],
    "bodies": [{"contenttype": "text/html", "value": "<p>Officials said two villages were hit.</p><p>More later.</p>"}],
    "located": "Kharkiv",
    "places": [{"name": "Belgorod Oblast", "uri": "http://www.geonames.org/578071"}],
    "subjects": [{"name": "armed conflict", "uri": "http://cv.iptc.org/newscodes/mediatopic/16000000"},
                 {"name": "border incident", "literal": "border-incident"}],
    "by": "Staff reporter",
}  # fmt: skip

NINJS_1 = {
    "uri": "http://wire.example.net/1.x/5501",
    "type": "text",
    "versioncreated": "2024-03-13T18:00:00Z",
    "language": "es",
    "headline": "Cierre de frontera por <protestas>",
    "description_text": "Los camioneros bloquean el paso.",
    "body_text": "Texto completo.",
    "located": "Cúcuta",
    "place": [{"name": "Norte de Santander", "scheme": "http://geo.example/", "code": "NS"}],
    "subject": [{"name": "protesta", "scheme": "http://cv.iptc.org/newscodes/subjectcode/", "code": "11000000"}],
    "byline": "Corresponsal",
    "associations": {
        "featureimage": {"uri": "http://wire.example.net/pic/1", "type": "picture", "headline": "A photo"},
        "sidebar": {"uri": "http://wire.example.net/1.x/5502", "type": "text", "headline": "Colas de camiones",
                    "body_html": "<p>Filas de <b>diez</b> kilómetros.</p>"},
    },
}  # fmt: skip


def test_ninjs_2_maps_headline_summary_dates_places_subjects() -> None:
    fmt, [item] = items_of(json.dumps(NINJS_2).encode(), "application/json")
    assert fmt == "ninjs2" and item.feed_format == "ninjs2"
    assert item.title == "Shelling reported near the northern border crossing"
    assert item.summary == "Two villages were hit overnight, officials said."
    assert item.published == datetime(2024, 3, 14, 6, 10, tzinfo=UTC)
    assert item.modified == datetime(2024, 3, 14, 5, 40, tzinfo=UTC)
    assert item.lang == "en" and item.author == "Staff reporter"
    assert item.places == ["Kharkiv", "Belgorod Oblast"]
    assert item.subjects == ["medtop:16000000", "border-incident"]
    assert "armed conflict" in item.categories
    assert item.guid == NINJS_2["uri"] and item.url == ""


def test_ninjs_1_with_associations_keeps_text_stories_only() -> None:
    fmt, items = items_of(json.dumps(NINJS_1).encode(), "application/json")
    assert fmt == "ninjs1"
    assert [i.title for i in items] == ["Cierre de frontera por <protestas>", "Colas de camiones"]
    main, side = items
    assert main.summary == "Los camioneros bloquean el paso." and main.lang == "es"
    assert main.places == ["Cúcuta", "Norte de Santander"] and main.subjects == ["subj:11000000"]
    assert main.url == "http://wire.example.net/1.x/5501" and main.author == "Corresponsal"
    assert main.published == datetime(2024, 3, 13, 18, 0, tzinfo=UTC)
    assert side.summary == "Filas de diez kilómetros."  # the body stands in for a missing description


def test_ninjs_list_and_2x_package() -> None:
    second = {**NINJS_2, "uri": "urn:example:wire:2024:0314:78", "headlines": [{"value": "Second story"}]}
    fmt, items = items_of(json.dumps([NINJS_2, second]).encode(), "application/json")
    assert fmt == "ninjs2" and len(items) == 2 and items[1].title == "Second story"
    logo = {"name": "logo", "uri": "urn:x:logo", "type": "picture"}
    package = {"uri": "urn:example:pkg:1", "type": "composite", "headlines": [{"value": "Top stories"}],
               "associations": [{**NINJS_2, "name": "lead"}, logo]}  # fmt: skip
    fmt, items = items_of(json.dumps(package).encode(), "application/vnd.iptc.ninjs+json")
    assert [i.guid for i in items] == [NINJS_2["uri"]]


# --- IPTC NewsML-G2 -------------------------------------------------------------------------------------------

NEWS_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="urn:newsml:wire.example.net:20240314:shell-01"
    version="2" standard="NewsML-G2" standardversion="2.33" conformance="power" xml:lang="uk">
  <catalogRef href="http://www.iptc.org/std/catalog/catalog.IPTC-G2-Standards_38.xml"/>
  <itemMeta>
    <itemClass qcode="ninat:text"/><provider qcode="nprov:WIRE"/>
    <versionCreated>2024-03-14T08:20:00+02:00</versionCreated>
    <firstCreated>2024-03-14T07:55:00+02:00</firstCreated>
    <pubStatus qcode="stat:usable"/>
  </itemMeta>
  <contentMeta>
    <contentCreated>2024-03-14T07:50:00+02:00</contentCreated>
    <located qcode="geo:706483" type="loctype:City"><name>Харків</name></located>
    <language tag="uk-UA"/>
    <subject type="cpnat:abstract" qcode="medtop:16000000"><name xml:lang="en">conflict, war and peace</name></subject>
    <subject type="cpnat:geoArea" qcode="iso3166-1a2:RU"><name>Росія</name></subject>
    <subject type="cpnat:abstract" uri="http://cv.iptc.org/newscodes/mediatopic/16009000"/>
    <keyword>обстріл</keyword>
    <headline role="hlrole:short">Обстріл</headline>
    <headline>Обстріл прикордонних сіл на Харківщині</headline>
    <description role="drol:summary">Двоє поранених, повідомили у військовій адміністрації.</description>
    <by>Кореспондент</by>
  </contentMeta>
  <contentSet>
    <inlineXML contenttype="application/nitf+xml">
      <nitf xmlns="http://iptc.org/std/NITF/2006-10-18/"><body><body.head><hedline><hl1>Обстріл</hl1></hedline>
      </body.head><body.content><p>Перший абзац.</p><p>Другий <em>абзац</em>.</p></body.content></body></nitf>
    </inlineXML>
  </contentSet>
</newsItem>""".encode()


def news_message(*items: bytes) -> bytes:
    inner = b"".join(i.split(b"?>", 1)[1] for i in items)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><newsMessage xmlns="http://iptc.org/std/nar/2006-10-01/">'
        b"<header><sent>2024-03-14T09:00:00Z</sent><sender>wire.example.net</sender></header>"
        b"<itemSet>" + inner + b"</itemSet></newsMessage>"
    )


def test_newsml_g2_news_item() -> None:
    fmt, [item] = items_of(NEWS_ITEM, "application/vnd.iptc.g2.newsitem+xml")
    assert fmt == "newsml-g2"
    assert item.title == "Обстріл прикордонних сіл на Харківщині"
    assert item.summary == "Двоє поранених, повідомили у військовій адміністрації."
    assert item.published == datetime(2024, 3, 14, 5, 55, tzinfo=UTC)
    assert item.modified == datetime(2024, 3, 14, 6, 20, tzinfo=UTC)
    assert item.lang == "uk" and item.author == "Кореспондент"
    assert item.places == ["Харків", "Росія"]
    assert item.subjects == ["medtop:16000000", "medtop:16009000"]
    assert {"обстріл", "conflict, war and peace"} <= set(item.categories)
    assert item.guid == "urn:newsml:wire.example.net:20240314:shell-01"


def test_newsml_g2_body_is_used_when_description_is_missing() -> None:
    body = NEWS_ITEM.replace("<description role=\"drol:summary\">Двоє поранених, повідомили у військовій адміністрації."
                             "</description>".encode(), b"")  # fmt: skip
    _, [item] = items_of(body, "text/xml")
    assert item.summary == "Перший абзац. Другий абзац."


def test_newsml_g2_news_message_wraps_many_items() -> None:
    second = NEWS_ITEM.replace(b"shell-01", b"shell-02").replace("Обстріл прикордонних".encode(), b"Second:")
    fmt, items = items_of(news_message(NEWS_ITEM, second), "application/vnd.iptc.g2.newsmessage+xml")
    assert fmt == "newsml-g2" and len(items) == 2
    assert items[1].title.startswith("Second:") and items[0].id != items[1].id
    assert items[0].feed_title == "wire.example.net"


@pytest.mark.parametrize(
    "doctype",
    [
        # Entity expansion (a small "billion laughs").
        b'<!DOCTYPE newsItem [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        # An external entity that would read a local file.
        b'<!DOCTYPE newsItem [<!ENTITY x SYSTEM "file:///etc/hostname">]>',
    ],
)
def test_newsml_entities_are_refused(doctype: bytes) -> None:
    body = NEWS_ITEM.replace(b"<newsItem ", doctype + b"<newsItem ", 1).replace(b"<by>", b"<by>&b;&x;", 1)
    with pytest.raises(FeedError) as err:
        parse_feed(body, {"Content-Type": "application/xml"}, URL)
    assert err.value.kind is ErrorKind.PARSE and "refused" in str(err.value)


# --- detection and bad input ----------------------------------------------------------------------------------


def test_format_is_sniffed_from_content_not_only_the_header() -> None:
    # Served with the wrong or a generic content type, and with a BOM and leading whitespace.
    fmt, _ = items_of(b"\xef\xbb\xbf\n  " + json.dumps(NINJS_2).encode(), "text/plain")
    assert fmt == "ninjs2"
    fmt, _ = items_of(b"<!-- feed -->\n" + NEWS_ITEM.split(b"?>", 1)[1], "text/html")
    assert fmt == "newsml-g2"
    fmt, _ = items_of(RSS_20, "application/json")
    assert fmt == "rss20"
    # UTF-16 JSON is only recognizable from its content type.
    fmt, _ = items_of(json.dumps(JSONFEED_11).encode("utf-16"), "application/feed+json")
    assert fmt == "jsonfeed11"


def test_the_root_element_is_found_past_any_prolog() -> None:
    g2 = NEWS_ITEM.split(b"?>", 1)[1]
    prolog = b'<?xml version="1.0"?>\n<?xml-stylesheet href="a.xsl"?><!-- <rss> --><!DOCTYPE newsItem [\n'
    prolog += b'<!ENTITY end "]>"><!-- ]> --><?pi ]>?>\n]>\n'
    assert parser.sniff(prolog + g2, "application/xml") == "newsml"
    assert parser.sniff(b"<!-- a comment that never ends <newsItem>", "application/xml") == "feed"


@pytest.mark.parametrize(
    "prefix",
    [
        b"<?" * 32_768,
        b"<!--" * 16_384,
        b"<!DOCTYPE x [" * 5_000,
        b"<!DOCTYPE x [<!--" * 3_700,
        b"<?xml " + b'"' * 65_000,
    ],
)
def test_sniffing_an_unterminated_prolog_takes_linear_time(prefix: bytes) -> None:
    body = prefix[:65_536] + b"<newsItem/>"
    started = time.process_time()
    kind = parser.sniff(body, "application/xml")
    spent = time.process_time() - started
    print(f"{prefix[:12]!r}: sniffed in {spent * 1000:.1f} ms")
    assert spent < 0.5
    assert kind == "feed"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"name": "not news", "values": [1, 2]}', ErrorKind.NOT_A_FEED),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', ErrorKind.PARSE),
        (b"[" * 100_000 + b"]" * 100_000, ErrorKind.PARSE),
        (b'{"version": "https://jsonfeed.org/version/1", "items": {"a": 1}}', ErrorKind.PARSE),
        (b'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/"><itemMeta>', ErrorKind.PARSE),
        (b"<!doctype html><html><body>Hello</body></html>", ErrorKind.NOT_A_FEED),
    ],
)
def test_bad_documents_are_classified(body: bytes, kind: ErrorKind) -> None:
    with pytest.raises(FeedError) as err:
        parse_feed(body, {"Content-Type": "application/json"}, URL)
    assert err.value.kind is kind


# --- end to end -----------------------------------------------------------------------------------------------


async def test_wire_formats_flow_into_news_raw(settings: Settings, feed_server: FeedServer) -> None:
    from monitor.ingest.stage import run_ingestion  # here, so the pure tests above do not need the whole service

    ninjs_url = feed_server.set(
        "/wire.json", json.dumps(NINJS_2).encode(), headers={"Content-Type": "application/json"}
    )
    g2_url = feed_server.set("/wire.xml", news_message(NEWS_ITEM), headers={"Content-Type": "application/xml"})
    feeds = [
        FeedConfig(id="ninjs", url=ninjs_url, name="Ninjs Wire", region="ua", interval_s=0.3),
        FeedConfig(id="g2", url=g2_url, name="G2 Wire", lang="uk", categories=("wire",), interval_s=0.3),
    ]
    stop = asyncio.Event()
    task = asyncio.create_task(run_ingestion(settings, feeds, stop))
    try:
        recs = await read_topic(settings.kafka.bootstrap_servers, settings.topics.raw, expect=2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    got = {i.feed_id: i for i in (decode(RawItem, r.value) for r in recs)}
    assert set(got) == {"ninjs", "g2"}
    n, g = got["ninjs"], got["g2"]
    assert (n.source, n.region, n.feed_format, n.lang) == ("Ninjs Wire", "ua", "ninjs2", "en")
    assert n.places == ["Kharkiv", "Belgorod Oblast"] and n.subjects[0] == "medtop:16000000"
    assert (g.source, g.feed_format, g.feed_title, g.feed_lang) == ("G2 Wire", "newsml-g2", "wire.example.net", "uk")
    assert g.categories[0] == "wire" and g.subjects == ["medtop:16000000", "medtop:16009000"]
    assert g.modified == datetime(2024, 3, 14, 6, 20, tzinfo=UTC)
