"""Lexicon matching across scripts and the context features that separate hard negatives from incidents."""

from __future__ import annotations

import pytest

from classifiers.features import DomainFeatures
from classifiers.lexicon import LANGS, Lexicon

NEW_LANGS = ("it", "pt", "tr", "pl", "nl", "ja", "zh", "ko", "hi", "id", "fa", "cs", "ro", "sv")


def _hits(lexicon: Lexicon, text: str) -> set[tuple[str, str]]:
    return {(h.category, h.term) for h in lexicon.hits(text)}


@pytest.fixture(scope="module")
def features() -> DomainFeatures:
    return DomainFeatures()


def test_twenty_one_languages_have_hostile_border_and_electoral_terms() -> None:
    lexicon = Lexicon()
    assert set(NEW_LANGS) <= set(LANGS) and len(LANGS) == 21
    for category in ("hostile", "border", "election", "office", "orgvote", "civil", "drill", "internal"):
        missing = [lang for lang in LANGS if not lexicon.terms[category].get(lang)]
        assert not missing, (category, missing)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("中国海警局の船が尖閣諸島周辺の領海に侵入した", {("border", "領海"), ("hostile", "侵入")}),
        ("中国海警船驶入金门限制水域", {("border", "海警")}),
        ("북한무인기가영공을침범했다", {("hostile", "무인기"), ("border", "영공"), ("hostile", "침범")}),
        ("Drohnenangriff über der Landesgrenze", {("hostile", "angriff"), ("border", "grenz")}),
    ],
)
def test_scripts_without_spaces_and_compounds_match_inside_words(text: str, expected: set[tuple[str, str]]) -> None:
    assert expected <= _hits(Lexicon(), text)


def test_a_vowel_sign_is_part_of_the_word_it_follows() -> None:
    """Devanagari vowel signs are not alphanumeric to Python; a whole-word term must not end before one."""
    lexicon = Lexicon({"civil": {"hi": ("राख$", "पुल$")}})
    assert _hits(lexicon, "ज्वालामुखी की राख उड़ी") == {("civil", "राख")}
    assert _hits(lexicon, "राखी का त्योहार") == set()
    assert _hits(lexicon, "पुलिस ने जांच शुरू की") == set()


def test_a_stem_after_a_vowel_sign_is_inside_a_word() -> None:
    lexicon = Lexicon({"civil": {"hi": ("रेल",)}})
    assert _hits(lexicon, "नई रेल लाइन") == {("civil", "रेल")}
    assert _hits(lexicon, "कारेल") == set()


@pytest.mark.parametrize(
    "text",
    [
        "Junta air strike on village in Sagaing kills 17. Jets bombed a school in Myanmar's civil war.",
        "Армия Судана заявила о продвижении на линии фронта, в сёлах гибнут мирные жители.",
        "Sudan'da iç savaş: ordu cephe hattında ilerlediğini açıkladı, köylerde çatışma sürüyor.",
    ],
)
def test_a_war_inside_one_country_is_marked_internal(features: DomainFeatures, text: str) -> None:
    values = features.analyze(text).values
    assert values["x:hostile*internal"] == 1.0


def test_fighting_with_one_country_and_no_border_word_is_inland(features: DomainFeatures) -> None:
    inland = features.analyze("Rebels capture two villages in South Sudan after heavy fighting.").values
    crossing = features.analyze("Troops from Sudan crossed the border and attacked a village in Chad.").values
    assert inland["geo:inland"] == 1.0 and inland["x:hostile*inland"] == 1.0
    assert crossing["geo:inland"] == 0.0 and crossing["x:hostile*inland"] == 0.0


@pytest.mark.parametrize(
    ("text", "context"),
    [
        ("New road bridge across the border with China opens to lorries after a ribbon-cutting.", "x:border*civil"),
        ("Nowy most graniczny otwarty; kolejka ciężarówek na przejściu granicznym maleje.", "x:border*civil"),
        ("Indian and Kazakh troops begin a joint border defence drill.", "x:border*drill"),
        ("Tatbikat sınır yakınında başladı; askerler iki hafta manevra yapacak.", "x:border*drill"),
        ("The Russian jet escorted the plane over neutral waters; no violation occurred.", "x:hostile*lawful"),
        ("Ruská stíhačka doprovodila letoun nad mezinárodními vodami, nedošlo k narušení.", "x:hostile*lawful"),
        ("Nowy most graniczny na Odrze otwarty dla ruchu; wstęgę przecięli burmistrzowie.", "x:border*works"),
        ("Bundespolizei: Zahl unerlaubter Einreisen an der Grenze sinkt um 40 Prozent.", "x:border*figures"),
        ("Varg från Norge korsade gränsen till Värmland.", "x:border*nature"),
        ("دبیرکل جدید حزب با اکثریت آرای شورای مرکزی انتخاب شد", "x:election*post"),
        ("立憲民主党の代表選、党員票で再選", "x:election*post"),
        ("Wahl zum Studierendenparlament: Beteiligung bei neun Prozent.", "x:election*campus"),
        ("서울대 총학생회 선거, 투표율 미달로 무산", "x:election*campus"),
        ("Wyniki głosowania widzów: para z najmniejszą liczbą głosów odpadła.", "x:election_weak*audience"),
        ("Final do reality teve 12 milhões de votos do público.", "x:election_weak*audience"),
        ("Rosyjskie wojska zajęły wieś, trwają walki na kierunku pokrowskim.", "x:hostile*internal"),
        ("ФСБ: за девять месяцев границу пересекли 38 млн человек.", "x:border*figures"),
        ("Armáda cvičí obranu hranice, vojáci použijí cvičnou munici.", "x:border*drill"),
    ],
)
def test_border_and_hostile_words_come_with_their_context(features: DomainFeatures, text: str, context: str) -> None:
    assert features.analyze(text).values[context] == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "Students' union election: record turnout as sabbatical officers elected.",
        "Elecciones de la federación de estudiantes: votó el 41% de los alumnos.",
        "総学生会の選挙、投票率が低迷",
        "Konklave: Die Kardinäle stimmen weiter ab, noch kein Papst gewählt.",
    ],
)
def test_votes_in_organisations_are_marked(features: DomainFeatures, text: str) -> None:
    assert features.analyze(text).values["lex:orgvote"] > 0


def test_armed_does_not_match_inside_demilitarized_in_korean() -> None:
    assert ("hostile", "무장") not in _hits(Lexicon(), "비무장지대 평화의 길이 다시 열렸다")
    assert ("hostile", "무장") in _hits(Lexicon(), "무장 괴한들이 초소를 공격했다")


def test_new_terms_do_not_fire_on_common_english_words() -> None:
    """Stems from other languages are matched in every text, so they must not hide inside everyday English."""
    hits = _hits(Lexicon(), "Most participants said the important code was in the personal file of the mortgage.")
    assert not {c for c, _ in hits} & {"hostile", "border", "civil", "office", "internal"}, hits
