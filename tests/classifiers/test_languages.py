"""Text in scripts without spaces and in languages beyond the trained seven: tokens and places come out right."""

from __future__ import annotations

import pickle
import re

import pytest

from classifiers.gazetteer import Gazetteer
from classifiers.vectorize import WORD_FEATURES, HashedNgrams

# Headlines written for this test, one or two per language, with the countries each names.
HEADLINES = [
    ("ja", "ロシア軍の無人機がウクライナ国境を越え、スムイ州の村を攻撃", {"RU", "UA"}),
    ("ja", "北朝鮮の弾道ミサイル、韓国の排他的経済水域の外に落下", {"KP", "KR"}),
    ("zh", "俄军无人机越过边境袭击乌克兰苏梅州村庄", {"RU", "UA"}),
    ("zh", "泰柬边境再次交火，泰国关闭口岸", {"TH", "KH"}),
    ("zh-Hant", "烏克蘭指控俄羅斯軍機侵犯領空", {"UA", "RU"}),
    ("ko", "러시아군 드론이 우크라이나 국경을 넘어 마을을 공격했다", {"RU", "UA"}),
    ("ko", "북한군, 군사분계선 넘었다가 경고사격에 되돌아가", {"KP"}),
    ("hi", "पाकिस्तान की ओर से नियंत्रण रेखा पर गोलीबारी, भारत ने विरोध जताया", {"PK", "IN"}),
    ("hi", "यूक्रेन ने रूस पर सीमा पार हमले का आरोप लगाया", {"UA", "RU"}),
    ("fa", "درگیری مرزی میان افغانستان و پاکستان در نزدیکی گذرگاه تورخم", {"AF", "PK"}),
    ("fa", "اوکراین و روسیه اسیران جنگی را مبادله کردند", {"UA", "RU"}),
    ("tr", "Suriye'den atılan roketler Türkiye sınırındaki köye düştü", {"SY", "TR"}),
    ("tr", "Ukrayna'ya Rusya'dan yeni insansız hava aracı saldırısı", {"UA", "RU"}),
    ("pl", "Białoruś oskarża Polskę o naruszenie granicy przez śmigłowiec", {"BY", "PL"}),
    ("pl", "Rosja ostrzelała przygraniczne wsie Ukrainy", {"RU", "UA"}),
    ("it", "Colpi di artiglieria dalla Serbia verso il Kosovo, tensione al confine", {"RS", "XK"}),
    ("it", "L'esercito russo attacca l'Ucraina dal confine di Belgorod", {"RU", "UA"}),
    ("pt", "Venezuela e Guiana trocam acusações na fronteira", {"VE", "GY"}),
    ("pt", "Rússia ataca a Ucrânia perto da fronteira", {"RU", "UA"}),
    ("nl", "Rusland en Oekraïne wisselen krijgsgevangenen uit", {"RU", "UA"}),
    ("id", "Kapal penjaga pantai Tiongkok mengusir nelayan Filipina", {"CN", "PH"}),
    ("cs", "Rusko obvinilo Ukrajinu z útoku přes hranici", {"RU", "UA"}),
    ("ro", "Drone rusești au căzut în România, lângă granița cu Ucraina", {"RO", "UA"}),
    ("sv", "Ryssland anklagas för att ha kränkt Finlands luftrum", {"RU", "FI"}),
    ("th", "ทหารไทยและกัมพูชาปะทะกันที่ชายแดน", {"TH", "KH"}),
]


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer()


@pytest.mark.parametrize(("lang", "headline", "codes"), HEADLINES)
def test_countries_and_neighbours_are_found_in_many_languages(
    gazetteer: Gazetteer, lang: str, headline: str, codes: set[str]
) -> None:
    found = {p.code for p in gazetteer.find(headline)}
    assert found == codes, lang
    if len(codes) == 2:
        assert gazetteer.neighbour_pairs(found) == [tuple(sorted(codes))]


@pytest.mark.parametrize(
    "text",
    [
        "发展中国家呼吁加强合作",  # "developing countries" holds 中国 (China) but names no country
        "選挙とは何か、中国地方の有権者に聞く",  # Chūgoku is a region of Japan
        "선거이란 무엇인가",  # 이란 (Iran) is also a particle
        "인도적 지원 물품 도착",  # 인도 (India) inside "humanitarian"
        "Columbia University students vote on a new union",  # Italian and Dutch for Colombia
        "The State Security Service said two men were held",  # "Service" is not Serbia's Dutch name inflected
    ],
)
def test_words_holding_a_foreign_name_are_no_place(gazetteer: Gazetteer, text: str) -> None:
    assert gazetteer.find(text) == []


def test_places_keep_the_order_of_mention_across_scripts(gazetteer: Gazetteer) -> None:
    text = "Kyiv says ロシア軍 crossed near 北朝鮮 and Poland"
    assert [p.code for p in gazetteer.find(text)] == ["UA", "RU", "KP", "PL"]


def test_elided_and_suffixed_names_are_found(gazetteer: Gazetteer) -> None:
    assert {p.code for p in gazetteer.find("Frappes de drones sur l'Ukraine depuis d'Israël")} == {"UA", "IL"}
    assert {p.code for p in gazetteer.find("السّويد تستدعي سفير السعودية")} == {"SE", "SA"}  # with and without a shadda


def test_a_pickled_gazetteer_finds_the_same_places(gazetteer: Gazetteer) -> None:
    gazetteer.find("乌克兰")  # builds the in-word index, which is not pickled but rebuilt
    copy = pickle.loads(pickle.dumps(gazetteer))
    for _, headline, _ in HEADLINES:
        assert copy.find(headline) == gazetteer.find(headline)


# --- tokens -----------------------------------------------------------------------------------------------------

_OLD_TOKEN = re.compile(r"(?u)\b\w[\w'’-]*\b")


def test_unspaced_scripts_give_character_bigrams_and_unigrams() -> None:
    toks, chars = HashedNgrams().segment("NATO：ロシア軍が越境")
    assert toks == ["nato", "ロシ", "シア", "ア軍", "軍が", "が越", "越境"]
    assert chars == "ロシア軍が越境"
    # Two stories sharing the word 国境 ("border") share its column; without spaces they used to share nothing.
    counts = HashedNgrams().transform(["ロシア軍が国境を越えた", "国境で銃撃戦"])
    first = set(counts.indices[counts.indptr[0] : counts.indptr[1]].tolist())
    second = set(counts.indices[counts.indptr[1] : counts.indptr[2]].tolist())
    assert any(c < WORD_FEATURES for c in first & second)
    assert any(c >= WORD_FEATURES for c in first & second)


def test_words_with_vowel_signs_stay_whole() -> None:
    assert HashedNgrams().tokens("यूक्रेन की सेना में") == ["यूक्रेन", "की", "सेना", "में"]
    assert HashedNgrams().tokens("طائرة مسيّرة") == HashedNgrams().tokens("طائرة مسيرة")


@pytest.mark.parametrize(
    "text",
    [
        "Anti-Putin rebels claim control of Russian border village — it's 'well-known' rock'n'roll",
        "Вооружённые люди пересекли границу в Белгородской области",
        "Les électeurs de l'Ain votent dimanche ; taux de participation à 61 %",
        "قصف مدفعي على قرى حدودية في جنوب لبنان",
    ],
)
def test_spaced_scripts_tokenize_as_before(text: str) -> None:
    assert HashedNgrams().tokens(text) == _OLD_TOKEN.findall(text.lower())
