"""Items whose feed names no language get one detected from their text, flagged, and only when the detector is sure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.ingest.language import LanguageDetector, with_languages
from monitor.messages import RawItem
from monitor.settings import IngestSettings
from tests.classifiers.test_languages import HEADLINES

NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC)


def item(title: str, summary: str = "", lang: str = "", title_derived: bool = False) -> RawItem:
    return RawItem(id=title[:20] or "x", feed_id="f", feed_url="https://f.example/rss", source="F", title=title,
                   summary=summary, title_derived=title_derived, lang=lang, published=NOW, fetched_at=NOW,
                   content_hash="h")  # fmt: skip


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(IngestSettings().language_min_confidence)  # as shipped


@pytest.mark.parametrize(("lang", "headline"), [(lang, text) for lang, text, _ in HEADLINES])
def test_headlines_in_many_languages_are_recognised(detector: LanguageDetector, lang: str, headline: str) -> None:
    assert detector.detect(headline) == lang.split("-")[0]


def test_items_without_a_language_get_one_and_a_flag(detector: LanguageDetector) -> None:
    given = item("Border guards detain two fishermen", "The coast guard said the boat strayed.", lang="en")
    missing = item("Pemilu legislatif digelar serentak di seluruh provinsi",
                   "Komisi pemilihan umum mencatat partisipasi pemilih yang tinggi.")  # fmt: skip
    derived = item("Полиция задержала…", "Полиция задержала троих человек у пограничного перехода.", title_derived=True)
    out = with_languages([given, missing, derived, item("2024 — 07:45", "")], detector)
    assert out[0] is given
    assert (out[1].lang, out[1].lang_detected) == ("id", True)
    assert (out[2].lang, out[2].lang_detected) == ("ru", True)
    assert (out[3].lang, out[3].lang_detected) == ("", False)  # nothing to tell a language from


def test_an_unsure_guess_leaves_the_language_empty() -> None:
    sure_only = LanguageDetector(min_confidence=0.99)
    assert sure_only.detect("Taxi OK") == ""
    assert sure_only.detect("") == "" and sure_only.detect("12:30 — 4-2") == ""
