"""The text the model scores: a title that only repeats the summary's start is read once, in every path."""

from __future__ import annotations

import pytest

from classifiers.text import model_text, repeats_summary

SUMMARY = "Fighters who crossed from Ukraine say they have seized Gorkovsky in Russia's Belgorod region."


def test_an_own_title_leads_and_ends_with_a_full_stop() -> None:
    assert model_text("Rebels claim border village", SUMMARY) == f"Rebels claim border village. {SUMMARY}"
    assert model_text("Rebels claim border village?", "") == "Rebels claim border village?"
    assert model_text("", SUMMARY) == SUMMARY


@pytest.mark.parametrize(
    "title",
    [
        SUMMARY,  # the whole summary, as normalization copies a short one
        "Fighters who crossed from Ukraine say they have seized…",  # cut at a word with an ellipsis
        "Fighters who crossed from Ukraine say they have seiz…",  # cut inside a word
        "Fighters  who crossed\nfrom Ukraine",  # other whitespace, whole words
    ],
)
def test_a_title_that_is_the_start_of_the_summary_is_not_read_twice(title: str) -> None:
    assert repeats_summary(title, SUMMARY)
    assert model_text(title, SUMMARY) == SUMMARY


def test_the_flag_drops_a_derived_title_even_when_it_does_not_match() -> None:
    assert model_text("Fighters who crossed…", "  " + SUMMARY, title_derived=True) == SUMMARY
    # A title derived from the link, with no summary, is all there is to read.
    assert model_text("https://news.example.org/a", "", title_derived=True) == "https://news.example.org/a."


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        ("Russia", "Russian troops crossed the border at dawn."),  # a prefix, but not a whole word
        ("Border clash", "Soldiers of both armies exchanged fire."),
        ("Fighters who crossed from Belarus…", SUMMARY),
    ],
)
def test_an_own_title_is_kept(title: str, summary: str) -> None:
    assert not repeats_summary(title, summary)
    assert model_text(title, summary).startswith(title)
