"""Story clustering as pure functions: text similarity, the join rules, the sliding window and B-cubed scoring."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from datasketch import MinHash

from classifiers.model import NewsClassifier
from consumers.stories.cluster import Clusterer, story_id_for
from consumers.stories.decide import Evidence, gap_hours, gap_hours_us, micros, overlap, rule, unambiguous
from consumers.stories.domains import registered_domain
from consumers.stories.evaluate import LABELED, bcubed, classified_facts, evaluate, gold_facts, read_labeled
from consumers.stories.facts import Facts, from_classified
from consumers.stories.index import BandIndex
from consumers.stories.keeper import StoryKeeper, handle
from consumers.stories.params import Params
from consumers.stories.records import Joined, StoryRecord, by_story, merged, restore, signature_record
from consumers.stories.text import (
    SCHEME,
    decode_signature,
    encode_signature,
    normalize,
    shingle_hashes,
    shingles,
    signature,
    similarity,
)
from monitor.messages import ClassifiedItem, Place, RawItem, Story, decode, encode
from monitor.settings import Settings
from tests.support import story_golden

T0 = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)
WIRE = (
    "Armenia says Azerbaijani forces shelled border village of Sotk, one soldier wounded\n"
    "Armenia's defence ministry said Azerbaijani troops opened mortar fire on positions near the village of Sotk "
    "in Gegharkunik province early on Monday, wounding one conscript. Baku denied the claim."
)
REWRITE = "UPDATE 1-" + WIRE.replace("says", "said").replace("Baku denied the claim.", "Baku denied it.")
OTHER_CLASH = (
    "Armenia says Azerbaijani forces fired on border village of Tegh, two soldiers wounded\n"
    "Armenia's defence ministry said Azerbaijani troops opened small-arms fire on positions near Tegh in Syunik "
    "province on Tuesday morning, wounding two servicemen."
)
RUSSIAN = (
    "Минобороны Армении: ВС Азербайджана обстреляли позиции у села Сотк\n"
    "По данным армянского военного ведомства, ранним утром понедельника азербайджанские подразделения открыли "
    "минометный огонь в районе Сотка, ранен один военнослужащий."
)


def facts(item_id: str, text: str, at: datetime, *, countries: str = "AM AZ", spots: str = "AM:sotk",
          labels: str = "cross_border_incident", lang: str = "en") -> Facts:  # fmt: skip
    return Facts(item_id, text.split("\n")[0], text, lang, at, "Outlet", "outlet.example",
                 frozenset(countries.split()), frozenset(spots.split()), frozenset(labels.split()))  # fmt: skip


def evidence(**given: object) -> Evidence:
    base = Evidence(similarity=0.0, gap_h=1.0, shared_spots=0, country_overlap=1.0, countries_disjoint=False,
                    shares_country=True, labels_agree=True, shares_label=True)  # fmt: skip
    return replace(base, **given)  # type: ignore[arg-type]


def test_normalizing_folds_case_and_drops_punctuation() -> None:
    assert normalize("  Kyiv's  NEWS, today!  ") == "kyiv s news today"
    assert shingles("abc") == {b"abc"}
    assert shingles("") == set()


def test_a_rewrite_is_far_more_similar_than_another_event_or_a_translation() -> None:
    wire = signature(WIRE, 64)
    known = np.vstack([wire])
    assert similarity(wire, known) == 1.0
    rewrite = similarity(signature(REWRITE, 64), known)
    assert rewrite >= 0.6
    assert similarity(signature(OTHER_CLASH, 64), known) < rewrite
    assert similarity(signature(RUSSIAN, 64), known) < 0.1
    assert similarity(wire, np.empty((0, 64), dtype=np.uint32)) == 0.0


def test_gap_is_zero_inside_the_span_and_hours_outside() -> None:
    assert gap_hours(T0, T0 - timedelta(hours=1), T0 + timedelta(hours=1)) == 0.0
    assert gap_hours(T0 + timedelta(hours=5), T0, T0 + timedelta(hours=2)) == 3.0
    assert gap_hours(T0, T0 + timedelta(minutes=30), T0 + timedelta(hours=2)) == 0.5
    assert overlap(frozenset(), frozenset()) == 1.0
    assert overlap(frozenset({"AM", "AZ"}), frozenset({"AM", "TR"})) == pytest.approx(1 / 3)


def test_the_rules_join_copies_similar_text_places_and_countries() -> None:
    p = Params()
    assert rule(evidence(similarity=0.8, gap_h=20, countries_disjoint=True), p) == "copy"
    assert rule(evidence(similarity=0.55, gap_h=20), p) is None  # look-alike wording a day later
    assert rule(evidence(similarity=0.3, gap_h=5), p) == "similar"
    assert rule(evidence(similarity=0.18, gap_h=5), p) == "related"
    assert rule(evidence(shared_spots=1, gap_h=7), p) == "place"
    assert rule(evidence(gap_h=2, country_overlap=0.5), p) == "country"


def test_the_rules_keep_apart_what_time_places_or_labels_tell_apart() -> None:
    p = Params()
    assert rule(evidence(similarity=0.8, gap_h=30), p) is None  # a look-alike a day and more later
    assert rule(evidence(similarity=0.3, gap_h=20, shared_spots=1), p) is None
    assert rule(evidence(similarity=0.3, gap_h=1, countries_disjoint=True, shares_country=False), p) is None
    assert rule(evidence(shared_spots=1, gap_h=1, labels_agree=False, shares_label=False), p) is None
    assert rule(evidence(shared_spots=1, gap_h=1, country_overlap=0.3), p) is None
    assert rule(evidence(gap_h=2, shares_label=False), p) is None  # unlabelled: country alone says too little
    assert rule(evidence(gap_h=7), p) is None


def test_a_country_join_is_dropped_when_several_stories_qualify() -> None:
    e = evidence()
    assert unambiguous([("country", e)]) == [("country", e)]
    assert unambiguous([("country", e), ("country", e), ("place", e)]) == [("place", e)]


def test_rewrites_and_a_translation_join_one_story_and_a_look_alike_a_day_later_does_not() -> None:
    c = Clusterer()
    first = c.assign(facts("a", WIRE, T0))
    assert first.created and first.story_id == story_id_for("a")
    assert c.assign(facts("b", REWRITE, T0 + timedelta(minutes=20))).reason == "copy"
    assert c.assign(facts("c", RUSSIAN, T0 + timedelta(hours=3), lang="ru")).story_id == first.story_id
    other = c.assign(facts("d", OTHER_CLASH, T0 + timedelta(hours=25), spots="AM:tegh AM:syunik"))
    assert other.created
    assert c.assign(facts("b", REWRITE, T0)).reason == "known"
    assert len(c) == 2 and c.items == 4


def test_a_translation_without_shared_places_stays_apart() -> None:
    c = Clusterer()
    c.assign(facts("a", WIRE, T0))
    assert c.assign(facts("c", RUSSIAN, T0 + timedelta(hours=1), spots="", labels="", lang="ru")).created


def test_stories_idle_for_a_window_close_and_forget_their_items() -> None:
    c = Clusterer(Params(window_h=72))
    c.assign(facts("a", WIRE, T0))
    c.assign(facts("z", "Moldova votes in presidential runoff", T0 + timedelta(hours=73), countries="MD", spots="",
                   labels="election"))  # fmt: skip
    assert len(c) == 1 and c.story_of("a") is None
    assert c.assign(facts("b", REWRITE, T0 + timedelta(hours=74))).created


def test_a_restored_story_takes_the_items_it_would_have_taken() -> None:
    whole = Clusterer()
    a = whole.assign(facts("a", WIRE, T0))
    restored = Clusterer()
    restored.restore(a.story_id, T0, T0, ["a"], [a.signature], {"AM", "AZ"}, {"AM:sotk"},  # type: ignore[list-item]
                     frozenset({"cross_border_incident"}))  # fmt: skip
    later = facts("b", REWRITE, T0 + timedelta(hours=1))
    assert restored.assign(later).story_id == whole.assign(later).story_id == a.story_id
    assert restored.assign(facts("a", WIRE, T0)).reason == "known"


def test_registered_domains_count_an_outlet_once() -> None:
    assert registered_domain("https://world.dailyledger.com/2025/x") == "dailyledger.com"
    assert registered_domain("https://news.bbc.co.uk/a") == "bbc.co.uk"
    assert registered_domain("http://127.0.0.1:8080/feed") == "127.0.0.1"
    assert registered_domain("http://localhost/feed") == "localhost"
    assert registered_domain("https://news.one.example/a") == "one.example"
    assert registered_domain("") == ""


def test_bcubed_scores_perfect_merged_and_split_clusterings() -> None:
    gold = {"a": "x", "b": "x", "c": "y"}
    assert bcubed({"a": "1", "b": "1", "c": "2"}, gold).f1 == 1.0
    merged = bcubed({"a": "1", "b": "1", "c": "1"}, gold)
    assert merged.recall == 1.0 and merged.precision == pytest.approx((2 / 3 + 2 / 3 + 1 / 3) / 3)
    split = bcubed({"a": "1", "b": "2", "c": "3"}, gold)
    assert split.precision == 1.0 and split.recall == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)


def test_the_labeled_set_clusters_above_target_with_annotated_places() -> None:
    rows = read_labeled(LABELED)
    assert len(rows) >= 300 and len({r["event"] for r in rows}) >= 60
    report = evaluate(rows, gold_facts(rows))
    assert report.scores.f1 >= 0.97 and report.scores.precision >= 0.97


def test_the_labeled_set_clusters_above_target_with_the_classifiers_places(model: NewsClassifier) -> None:
    rows = read_labeled(LABELED)
    found = classified_facts(rows, lambda pairs: [(p.places, list(p.labels)) for p in model.predict(pairs)])
    # Measured 0.903 (precision 1.0, recall 0.82): the classifier finds no place in some languages.
    assert evaluate(rows, found).scores.f1 >= 0.88


def test_signatures_survive_the_stories_topic_and_bad_ones_are_refused() -> None:
    sig = signature(WIRE, 64)
    assert np.array_equal(decode_signature(encode_signature(sig)), sig)
    with pytest.raises(ValueError):
        decode_signature("AAA")


def _classified(item_id: str, title: str, at: datetime, url: str, places: list[Place]) -> ClassifiedItem:
    raw = RawItem(id=item_id, feed_id="f", feed_url="https://feeds.example/rss", source="Outlet", url=url,
                  title=title, published=at, fetched_at=at, lang="en", content_hash="h")  # fmt: skip
    return ClassifiedItem(item=raw, scores={}, labels=["cross_border_incident"], model="m", places=places)


def test_a_story_record_grows_with_its_members_and_restores_the_same_story() -> None:
    sotk = [Place(code="AM", name="Armenia"), Place(code="AM", name="Sotk", kind="city")]
    first = _classified("a", WIRE, T0 + timedelta(hours=1), "https://news.one.example/a", sotk)
    later = _classified("b", REWRITE, T0, "https://www.one.example/b", [Place(code="AZ", name="Azerbaijan")])
    c = Clusterer()
    fa, fb = from_classified(first), from_classified(later)
    assigned = [c.assign(fa), c.assign(fb)]
    opened = merged(None, assigned[0].story_id, [Joined(fa, first.places, first.labels)], max_listed=1)
    story = decode(Story, merged(opened, opened.story_id, [Joined(fb, later.places, later.labels)], 1).encode())
    assert story.member_count == 2 and len(story.members) == 1 and story.domains == ["one.example"]
    assert story.headline.startswith("UPDATE 1-") and story.first_seen == T0
    assert [p.name for p in story.places] == ["Armenia", "Sotk", "Azerbaijan"] and not story.signatures
    records = [r for r in map(signature_record, assigned) if r is not None]
    assert [(r.story_id, r.slot) for r in records] == [(story.story_id, 0), (story.story_id, 1)]
    third = facts("c", REWRITE + " More to follow.", T0 + timedelta(hours=2))
    again = Clusterer()
    assert restore(again, story, by_story(records[::-1])[story.story_id]) and len(again) == 1
    assert again.assign(third).story_id == story.story_id
    # A record of an earlier version carries its signatures itself.
    earlier = Clusterer()
    assert restore(earlier, story.model_copy(update={"signatures": [r.signature for r in records]}))
    assert earlier.assign(third).story_id == story.story_id
    assert not restore(Clusterer(), story, ["not base64!"])


def test_a_record_read_back_from_the_topic_grows_as_the_one_kept_did() -> None:
    sotk = [Place(code="AM", name="Armenia"), Place(code="AM", name="Sotk", kind="city")]
    items = [_classified(n, WIRE, T0 + timedelta(hours=h), f"https://{n}.example/{n}", sotk) for n, h in
             (("a", 1), ("b", 0), ("c", 2), ("d", 3))]  # fmt: skip
    joined = [Joined(from_classified(m), m.places, m.labels) for m in items]
    kept = merged(None, "s1", joined[:2], max_listed=3)
    back = StoryRecord(decode(Story, kept.encode()))
    for record in (kept, back):
        merged(record, "s1", joined[2:], max_listed=3)
    stories = [decode(Story, r.encode()).model_copy(update={"updated_at": T0}) for r in (kept, back)]
    assert stories[0] == stories[1]
    assert [m.item_id for m in stories[0].members] == ["a", "b", "c"] and stories[0].member_count == 4
    assert stories[0].domains == ["a.example", "b.example", "c.example", "d.example"]
    assert stories[0].first_seen == T0 and stories[0].last_seen == T0 + timedelta(hours=3)


def test_only_the_first_members_of_a_story_get_a_signature_record() -> None:
    c = Clusterer(Params(indexed_members=1))
    first, second = c.assign(facts("a", WIRE, T0)), c.assign(facts("b", REWRITE, T0 + timedelta(hours=1)))
    assert first.slot == 0 and signature_record(first) is not None
    assert second.story_id == first.story_id and second.slot is None and signature_record(second) is None


def test_clustering_decisions_match_the_golden_on_the_labeled_set_and_a_synthetic_stream() -> None:
    golden = json.loads(story_golden.FIXTURE.read_text(encoding="utf-8"))
    got = story_golden.labeled_decisions()
    wrong = [(g, w) for g, w in zip(got, golden["labeled"], strict=True) if g != w]
    assert not wrong, f"{len(wrong)} labeled items differ ({story_golden.REGENERATE}); first: {wrong[0]}"
    synthetic = story_golden.stream_decisions()
    assert len({r[1] for r in synthetic}) == golden["stream_stories"], story_golden.REGENERATE
    assert story_golden.digest(synthetic) == golden["stream_sha256"], story_golden.REGENERATE


@pytest.mark.parametrize("text", [WIRE, RUSSIAN, "Sotk", "", "!!!", WIRE * 3])
def test_signatures_are_those_datasketch_computes_so_stored_ones_stay_comparable(text: str) -> None:
    m = MinHash(num_perm=64, permutations=MinHash(num_perm=64, seed=1, scheme=SCHEME).permutations, scheme=SCHEME,
                hashfunc=int)  # fmt: skip
    m.update_batch(shingle_hashes(text).tolist())
    assert np.array_equal(signature(text, 64), m.hashvalues)


def test_members_older_than_the_window_are_forgotten_while_their_story_stays_open() -> None:
    c = Clusterer(Params(window_h=72))
    sid = c.assign(facts("a", WIRE, T0)).story_id
    for n, hours in enumerate((20, 40, 60, 80)):
        assert c.assign(facts(f"m{n}", REWRITE, T0 + timedelta(hours=hours))).story_id == sid
    assert len(c) == 1 and c.items == 4 and c.story_of("a") is None and c.story_of("m0") == sid
    assert c.take_closed() == []
    c.assign(facts("z", "Moldova votes in presidential runoff", T0 + timedelta(hours=200), countries="MD", spots="",
                   labels="election"))  # fmt: skip
    assert c.take_closed() == [sid] and c.items == 1


def test_the_keeper_lets_go_of_the_records_of_stories_the_window_closed() -> None:
    sotk = [Place(code="AM", name="Armenia"), Place(code="AM", name="Sotk", kind="city")]
    old = _classified("a", WIRE, T0, "https://one.example/a", sotk)
    new = _classified("z", OTHER_CLASH, T0 + timedelta(hours=100), "https://two.example/z", sotk)
    keeper = StoryKeeper(Settings().topics, Settings().stories)
    for msg in (old, new):
        b = handle(keeper, [encode(msg)])
        assert len(b.signatures) == 1
    assert list(keeper.stories) == [keeper.clusterer.story_of("z")] and len(keeper.clusterer) == 1
    assert (b.tombstones[0].topic, b.tombstones[0].value) == ("news.stories", None)


def test_gaps_over_microseconds_equal_gaps_over_datetimes_to_the_last_bit() -> None:
    rng = np.random.default_rng(14)
    for us in rng.integers(-(10**12), 10**12, size=2000).tolist():
        t, first, last = T0 + timedelta(microseconds=us), T0, T0 + timedelta(hours=3, microseconds=7)
        assert gap_hours_us(micros(t), micros(first), micros(last)) == gap_hours(t, first, last)


def test_the_band_index_finds_every_story_sharing_a_band_until_its_signatures_are_removed() -> None:
    index = BandIndex(0.2, 64)
    a, b = signature(WIRE, 64), signature(REWRITE, 64)
    index.insert("s1", a)
    index.insert("s2", a)
    index.insert("s2", b)
    assert index.query(a) == {"s1", "s2"} and index.query(b) >= {"s2"}
    index.remove("s1", a)
    assert index.query(a) == {"s2"}
    index.remove("s2", a)
    index.remove("s2", b)
    assert index.query(a) == set() and index.query(b) == set()


def test_a_story_whose_signatures_are_unreadable_is_not_kept_at_rebuild() -> None:
    sotk = [Place(code="AM", name="Armenia"), Place(code="AM", name="Sotk", kind="city")]
    m = _classified("a", WIRE, T0, "https://one.example/a", sotk)
    story = decode(Story, merged(None, "s1", [Joined(from_classified(m), m.places, m.labels)], 5).encode())
    keeper = StoryKeeper(Settings().topics, Settings().stories)
    assert keeper.rebuild({"s1": story, "s2": story.model_copy(update={"story_id": "s2"})},
                          {"s1": ["not base64!"], "s2": [encode_signature(signature(WIRE, 64))]}) == 1  # fmt: skip
    assert list(keeper.stories) == ["s2"]
