"""Hand-written lexicons of hostile actions, border terms and electoral terms in the supported languages.

Terms are stems matched at the start of a word (so "shelling" covers "shellings", "обстрел" covers "обстрелял"),
except in German, Dutch, Swedish and Arabic, where compounds and attached particles put the stem inside a word, and
in Japanese, Chinese and Korean, written without spaces between words or with particles attached. A term ending in
"$" must also end a word ("count$" is not "country"); a term starting with "^" must start one in every language
("^stimmen" is not "bestimmen"). Combining marks (Devanagari vowel signs) count as part of a word.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

import ahocorasick

from classifiers.lexicon_context import (
    AUDIENCE_TERMS,
    CAMPUS_TERMS,
    CONTEXT_TERMS,
    DRILL_EXTRA,
    FIGURES_EXTRA,
    INTERNAL_EXTRA,
    LAWMAKING_EXTRA,
    ORGVOTE_EXTRA,
    ORGVOTE_WORLD_EXTRA,
    SETTING_TERMS,
)
from classifiers.lexicon_world import WORLD_TERMS

LANGS = ("en", "ru", "uk", "es", "fr", "de", "ar", "it", "pt", "tr", "pl", "nl", "ja", "zh", "ko", "hi", "id", "fa",
         "cs", "ro", "sv")  # fmt: skip
_ANYWHERE = {"de", "ar", "nl", "sv", "ja", "zh", "ko"}

# category -> language -> stems
_BASE_TERMS: dict[str, dict[str, tuple[str, ...]]] = {
    "hostile": {
        "en": ("shell$", "shells$", "shelled", "shelling", "artillery", "mortar", "rocket", "missile", "drone",
               "airstrike", "air strike", "strike", "raid", "incursion", "infiltrat", "invade", "invasion", "attack",
               "clash", "skirmish", "firefight", "gunfire", "gunmen", "shot", "shoot", "fired", "opened fire", "killed",
               "wounded", "sabotage", "seize", "seizure", "captur", "overran", "occup", "ambush", "violat", "intrud",
               "intrusion", "rammed", "ramming", "water cannon", "detain", "abduct", "troops", "soldier", "militant",
               "fighters", "rebels", "guerrilla", "insurgent", "shot down", "intercept", "scrambl", "warplane",
               "bomber", "fighter jet", "warship", "gunboat", "stray", "debris", "explosion", "blast", "casualt",
               "crossed into", "armed group", "hostile", "firing"),
        "ru": ("обстрел", "удар", "атак", "беспилотник", "бпла", "дрон", "ракет", "вторжен", "вторгл", "диверс", "дрг",
               "столкновен", "бой", "боев", "погиб", "ранен", "захват", "нарушен", "нарушил", "перестрелк", "артиллер",
               "миномет", "миномёт", "сбит", "сбил", "перехват", "прорыв", "прорвал", "задерж", "обстреля", "снаряд",
               "боевик", "военн", "взрыв", "проник", "таран", "обстреливают", "гибел", "гибн", "поразил", "поражен"),
        "uk": ("обстріл", "удар", "атак", "безпілотник", "бпла", "дрон", "ракет", "вторгнен", "вторгл", "диверс", "дрг",
               "зіткнен", "бій", "бої", "бойов", "загин", "поранен", "захоп", "порушен", "порушив", "перестрілк",
               "артилер", "міномет", "збит", "збил", "перехоп", "прорив", "затрима", "снаряд", "бойовик", "вибух",
               "проник", "таран", "військов", "вразил", "уразил", "ураже"),
        "es": ("bombarde", "ataque", "atac", "dron", "misil", "cohete", "incursi", "enfrentamiento", "choque",
               "disparo", "dispar", "muert", "herid", "captur", "tomaron", "toma de", "violaci", "viol", "sabotaje",
               "emboscada", "guerriller", "tropas", "soldado", "artiller", "mortero", "derrib", "intercept", "invasi",
               "invadi", "armados", "ataques", "balacera", "tiroteo", "explosi", "embist", "cañón de agua", "detenid",
               "retenid", "secuestr", "militar", "balazo"),
        "fr": ("bombard", "frappe", "attaque", "drone", "missile", "roquette", "incursion", "affrontement",
               "accrochage", "tir", "tué", "bless", "captur", "prise", "violation", "viol", "sabotage", "embuscade",
               "djihadist", "jihadist", "troupes", "soldat", "artiller", "obus", "abattu", "intercept", "invasion",
               "envahi", "armés", "explosion", "canon à eau", "éperonn", "arrêté", "interpell", "enlev", "militaire",
               "assaut"),
        "de": ("beschuss", "beschoss", "angriff", "angegriffen", "drohne", "rakete", "marschflugkörper", "einmarsch",
               "eingedrungen", "eindring", "gefecht", "zusammenstoß", "zusammenstöße", "schüsse", "geschossen",
               "^schoss", "getötet", "tote", "verletzt", "erober", "besetz", "verletzung", "sabotage", "hinterhalt",
               "truppen", "soldat", "artillerie", "mörser", "abgeschossen", "abgefangen", "invasion", "bewaffnet",
               "explosion", "wasserwerfer", "gerammt", "festgenommen", "verschlepp", "militär", "kämpfer",
               "luftangriff", "granat", "überfall"),
        "ar": ("قصف", "غارة", "غارات", "هجوم", "هجمات", "مسيرة", "مسيّرة", "مسيرات", "صاروخ", "صواريخ", "توغل",
               "اشتباك", "إطلاق نار", "اطلاق نار", "النار", "مقتل", "قتلى", "قتيل", "جرحى", "إصابة", "استهداف",
               "اختراق", "خرق", "تسلل", "مسلح", "قذائف", "قذيفة", "مدفعي", "هاون", "أسقط", "اسقاط", "إسقاط", "اعتراض",
               "احتجاز", "اعتقال", "خطف", "انفجار", "القوات", "جنود", "عسكري", "اقتحام", "سيطر"),
    },
    "border": {
        "en": ("border", "frontier", "boundary", "cross-border", "line of control", "line of actual control", "dmz",
               "demilitari", "checkpoint", "crossing", "territorial waters", "airspace", "air space", "maritime",
               "exclusive economic zone", "eez$", "neighbouring", "neighboring", "across the", "frontline village",
               "border guard", "coast guard", "coastguard", "disputed", "shoal", "strait$", "straits$", "enclave",
               "no man's land", "buffer zone", "adiz", "air defence identification zone", "from across",
               "into its territory", "sovereign territory", "national territory", "median line"),
        "ru": ("границ", "пограничн", "приграничн", "погранзастав", "погранич", "воздушн", "пространств",
               "территориальн", "кпп", "кордон", "сопредельн", "соседн", "со стороны", "пересекл", "пересек",
               "береговой охран", "акватори", "территори", "линии разделения", "линия разграничения",
               "линии разграничения", "переправил"),
        "uk": ("кордон", "прикордон", "державн кордон", "повітрян", "простір", "простору", "територіальн",
               "пункт пропуску", "сусідн", "з боку", "перетнул", "перетин", "берегов", "акваторі", "територі"),
        "es": ("fronter", "fronteriz", "limítrof", "límite", "espacio aéreo", "aguas territoriales", "paso fronterizo",
               "guardia costera", "guardacostas", "vecin", "territorio", "soberan", "cruzaron", "cruzó", "disputad",
               "zona económica exclusiva", "línea de control", "estrecho", "orilla"),
        "fr": ("frontière", "frontali", "transfrontal", "espace aérien", "eaux territoriales", "poste-frontière",
               "poste frontière", "garde-côte", "garde côte", "garde-frontière", "voisin", "territoire", "souverain",
               "franchi", "disputé", "zone économique exclusive", "ligne de contrôle", "détroit"),
        "de": ("grenz", "luftraum", "hoheitsgewässer", "hoheitsgebiet", "küstenwache", "nachbar", "territori",
               "grenzübergang", "grenzschutz", "überquert", "umstritten", "wirtschaftszone", "kontrolllinie",
               "meerenge", "mittellinie", "jenseits"),
        "ar": ("حدود", "حدودي", "الحدودية", "الحدودي", "المجال الجوي", "مجالها الجوي", "المياه الإقليمية", "معبر",
               "خفر السواحل", "الجار", "المجاورة", "أراضي", "السيادة", "عبر الحدود", "خط التماس", "المتنازع", "مضيق",
               "الأجواء", "أجواء"),
    },
    "election": {
        "en": ("election", "electoral", "elector", "voter", "polling", "turnout", "candidacy", "referendum",
               "plebiscite", "primaries", "constituenc", "exit poll", "by-election", "re-elect", "reelect", "elect$",
               "elected", "elects$", "electing", "electorate", "precinct", "vote count", "vote tally", "recall vote",
               "recall election", "suffrage", "hustings", "ballot box", "ballot paper", "polling station",
               "returning officer", "voter list", "voters' list", "electoral roll", "running for office",
               "run for office", "presidential bid", "hopefuls", "nomination papers", "vote-rigging", "voted in",
               "votes cast"),
        "ru": ("выбор", "голосован", "голосова", "избира", "избран", "бюллетен", "явк", "цик", "референдум",
               "второй тур", "втором туре", "предвыборн", "избиркома", "избирком", "агитац", "инаугурац", "электорат",
               "праймериз", "фальсификац", "вброс"),
        "uk": ("вибор", "голосуван", "голосува", "виборч", "обран", "бюлетен", "явк", "цвк", "референдум", "другий тур",
               "другому турі", "передвиборч", "агітац", "інавгурац", "електорат", "праймеріз", "фальсифікац"),
        "es": ("eleccion", "elección", "electoral", "elector", "votant", "urnas", "comicios", "segunda vuelta",
               "balotaje", "referéndum", "referendo", "plebiscito", "escrutinio", "sufragio", "abstención",
               "boca de urna", "primarias", "reelección", "cne$", "ine$", "jurado electoral", "registraduría"),
        "fr": ("élection", "electi", "électoral", "electoral", "scrutin", "vote", "votant", "électeur", "urnes",
               "second tour", "premier tour", "référendum", "abstention", "législatives", "présidentielle",
               "municipales", "régionales", "européennes", "réélu", "ceni$", "dépouillement", "primaire"),
        "de": ("wahl", "wähler", "stimmzettel", "abstimmung", "volksabstimmung", "volksentscheid", "wahlbeteiligung",
               "stichwahl", "urnengang", "referendum", "wahlkampf", "hochrechnung", "gewählt", "wiederwahl",
               "briefwahl", "wahllokal"),
        "ar": ("انتخاب", "الانتخابات", "انتخابات", "الانتخابي", "انتخابية", "اقتراع", "الاقتراع", "تصويت", "التصويت",
               "ناخب", "الناخبين", "استفتاء", "نسبة المشاركة", "صناديق", "جولة الإعادة", "جولة ثانية",
               "مفوضية الانتخابات", "الهيئة العليا المستقلة للانتخابات", "الدعاية الانتخابية", "الرئاسية",
               "التشريعية", "البلدية"),
    },
    # Electoral words with everyday senses too ("campaign", "poll", "landslide", "candidate"): on their own
    # they say little; with an office or a strong electoral term they say a lot.
    "election_weak": {
        "en": ("polls$", "poll$", "polled$", "candidate", "campaign", "run-off", "runoff", "primary$", "concede",
               "concession", "landslide", "incumbent", "seats$", "majority$", "coalition", "count$", "counting of",
               "manifesto", "caucus", "nominee", "mandate", "inaugurat", "recount", "vote", "voting", "ballot"),
        "ru": ("кандидат", "мандат", "наблюдател", "подсчет", "подсчёт", "депутат"),
        "uk": ("кандидат", "мандат", "спостерігач", "підрахун", "депутат"),
        "es": ("candidat", "participación", "encuesta", "sondeo", "campaña", "escaños", "investidura", "fraude", "voto",
               "votación", "votacion", "votar"),
        "fr": ("candidat", "participation", "sondage", "campagne", "sièges", "investiture", "bulletin", "fraude"),
        "de": ("kandidat", "^stimmen", "^sitze", "umfrage", "prognose", "koalition", "mandat", "vereidig"),
        # "المفوضية" is an electoral commission as often as the refugee agency: a weak term.
        "ar": ("مرشح", "المرشح", "مرشحين", "مقاعد", "حملة", "فرز", "تزوير", "المفوضية"),
    },
    "office": {
        "en": ("president", "parliament", "governor", "senate", "senator", "congress", "national assembly", "duma$",
               "rada$", "knesset", "bundestag", "prime minister", "municipal", "legislat", "lawmaker", "mp$", "mps$",
               "assembly", "council", "regional", "local$", "general$", "state$", "provincial", "federal",
               "european parliament", "premier", "chancellor", "opposition", "ruling party", "party", "mayor$",
               "mayors$", "mayoral"),
        "ru": ("президент", "парламент", "госдум", "дума$", "думы$", "думе$", "губернатор", "мэр", "муниципальн",
               "законодательн", "партия", "партии", "оппозиц", "рада"),
        "uk": ("президент", "парламент", "верховн", "рада$", "ради$", "раді$", "губернатор", "мер$", "мера$", "місцев",
               "партія", "партії", "опозиц"),
        "es": ("presidente", "presidencial", "parlament", "congreso", "senado", "alcald", "gobernador", "municipal",
               "legislativ", "asamblea", "diputad", "partido", "oposición", "concejal"),
        "fr": ("président", "parlement", "assemblée", "sénat", "maire", "gouverneur", "municipal", "législati",
               "député", "parti$", "partis$", "opposition", "premier ministre"),
        "de": ("präsident", "parlament", "bundestag", "landtag", "bürgermeister", "gouverneur", "kommunal", "kanzler",
               "partei", "opposition", "abgeordnet", "senat"),
        "ar": ("رئيس", "الرئاسة", "البرلمان", "برلمان", "مجلس النواب", "النواب", "الكنيست", "محافظ", "بلدي", "حزب",
               "المعارضة", "مجلس الشعب", "التشريعي"),
    },
    "orgvote": {
        "en": ("board", "shareholder", "stockholder", "union", "hall of fame", "club", "captain", "award", "chairman",
               "chairwoman", "ceo", "company", "pope", "conclave", "ballon d'or", "fans", "reality", "contest", "jury",
               "academy", "federation", "fifa", "uefa", "ioc", "committee", "strike ballot", "members",
               "annual general meeting", "agm", "proxy", "investor", "vaccine", "drug$", "efficacy", "clinical",
               "shortlist", "novel$", "consumer", "employees", "office workers", "survey of", "index$",
               "customers", "brand", "televote", "eurovision", "fan favourite", "dance-off", "marathon", "readers'",
               "of the year", "pay offer"),
        "ru": ("совет директоров", "акционер", "профсоюз", "клуб", "капитан", "компани", "премия", "зал славы"),
        "uk": ("рада директорів", "акціонер", "профспілк", "клуб", "капітан", "компані", "премі"),
        "es": ("junta directiva", "accionista", "sindicato", "club", "capitán", "empresa", "premio", "salón de la fama",
               "federación", "consejo de administración", "trabajadores", "empleados", "consumidores", "turistas",
               "población activa", "futbolista", "jugador", "capitanes", "vacunación", "vacuna", "consumidor", "índice",
               "hogares"),
        "fr": ("conseil d'administration", "actionnaire", "syndicat", "club", "capitaine", "entreprise", "prix",
               "académie", "fédération", "bureau", "joueur", "vaccination", "vaccin", "consommateur", "ménages"),
        "de": ("aufsichtsrat", "betriebsrat", "aktionär", "gewerkschaft", "verein", "kapitän", "unternehmen", "konzern",
               "preis", "verband", "vorstand", "hauptversammlung", "spieler", "impfung", "impfstoff", "verbraucher",
               "haushalte"),
        "ar": ("مجلس إدارة", "مجلس الإدارة", "الجمعية العمومية", "نادي", "النادي", "نقابة", "النقابة", "شركة", "الشركة",
               "جائزة", "اتحاد", "المساهمين"),
    },
    # Votes that are not elections: lawmaking, confidence votes and party congresses share the electoral words.
    "lawmaking": {
        "en": ("bill", "law", "legislation", "budget", "amendment", "decree", "motion", "no-confidence",
               "confidence vote", "vote of confidence", "impeach", "passes", "passed", "approves", "approved",
               "first reading", "second reading", "final reading", "votes to", "voted to", "veto", "ratif",
               "article 49.3", "filibuster", "party congress", "party conference", "leadership contest", "party leader",
               "chairmanship", "confirms", "confirmation", "tie-breaking", "cabinet pick", "reshuffle"),
        "ru": ("законопроект", "закон", "бюджет", "поправк", "чтени", "указ$", "ратифи", "вотум", "импичмент",
               "одобрил", "принял", "приняла", "съезд партии", "съезд", "председател"),
        "uk": ("законопроєкт", "законопроект", "закон", "бюджет", "поправк", "читанн", "указ$", "ратифі", "вотум",
               "імпічмент", "ухвалил", "ухвалила", "з'їзд", "голова партії"),
        "es": ("proyecto de ley", "ley$", "leyes$", "presupuesto", "enmienda", "decreto", "moción", "censura",
               "aprueba", "aprobó", "aprobada", "ratifica", "reforma", "congreso del partido", "votos a favor", "veto",
               "nombramiento", "dictamen", "votos en contra", "trámite", "pleno$"),
        "fr": ("projet de loi", "loi$", "lois$", "budget", "amendement", "décret", "motion", "censure", "49.3",
               "adopte", "adopté", "ratifi", "réforme", "congrès du parti", "voix pour", "veto", "nomination",
               "votes contre", "navette"),
        "de": ("gesetz", "haushalt", "änderungsantrag", "verordnung", "misstrauensvotum", "vertrauensfrage",
               "beschlossen", "beschließt", "verabschiedet", "ratifi", "reform", "parteitag", "parteivorsitz",
               "vorsitzend", "veto", "ernennung", "gegenstimmen", "lesung"),
        "ar": ("مشروع قانون", "قانون", "الموازنة", "الميزانية", "تعديل", "مرسوم", "حجب الثقة", "الثقة", "أقر", "يقر",
               "صادق", "المصادقة", "مؤتمر الحزب", "رئاسة الحزب"),
    },
    "economy": {
        "en": ("trade", "tariff", "export", "import", "payment", "remittance", "e-commerce", "ecommerce", "merger",
               "acquisition", "takeover", "tax$", "taxes$", "tariffs", "customs", "invest", "deal$", "deals$", "market",
               "bank$", "banks$", "banking", "fintech", "logistic", "data", "shipping", "freight", "lorr", "truck",
               "parcel", "price", "stock", "share", "revenue", "profit", "economy", "economic", "business", "startup",
               "billion", "million", "supply", "railway", "pipeline", "tourism", "tourist", "migration", "migrant",
               "asylum", "summit", "talks", "agreement", "treaty", "cooperation", "without borders"),
        "ru": ("торгов", "пошлин", "экспорт", "импорт", "платеж", "платёж", "перевод", "слияни", "налог", "таможн",
               "инвест", "рынок", "рынк", "банк", "логист", "грузов", "цены$", "цен$", "цена$", "экономи", "бизнес",
               "соглашени", "переговор", "саммит", "мигра"),
        "uk": ("торгів", "торгов", "мито$", "мита$", "митн", "експорт", "імпорт", "платеж", "переказ", "злитт",
               "податк", "інвест", "ринок", "ринк", "банк", "логіст", "вантаж", "ціни$", "цін$", "ціна$", "економі",
               "бізнес", "угод", "переговор", "саміт", "мігра"),
        "es": ("comercio", "comercial", "arancel", "exportaci", "importaci", "pago", "remesa", "fusión", "adquisición",
               "impuesto", "aduana", "invers", "mercado", "banco", "logístic", "camion", "precio", "economía",
               "económic", "empresa", "acuerdo", "cumbre", "negociaci", "migra", "turis", "sin fronteras"),
        "fr": ("commerce", "commercial", "douane", "export", "import", "paiement", "transfert", "fusion", "acquisition",
               "impôt", "fiscal", "invest", "marché", "banque", "logistique", "camion", "prix", "économi", "entreprise",
               "accord", "sommet", "négociation", "migra", "touris", "sans frontières"),
        "de": ("handel", "zoll", "zölle", "export", "import", "zahlung", "überweisung", "fusion", "übernahme", "steuer",
               "invest", "markt", "bank", "logistik", "lkw", "preis", "wirtschaft", "unternehmen", "abkommen", "gipfel",
               "verhandlung", "migration", "touris", "pendler", "ohne grenzen"),
        "ar": ("تجارة", "التجارة", "التجاري", "رسوم", "جمرك", "صادرات", "واردات", "تحويلات", "اندماج", "استحواذ",
               "ضريبة", "الضرائب", "استثمار", "سوق", "بنك", "مصرف", "أسعار", "اقتصاد", "الاقتصادي", "شركة", "اتفاق",
               "قمة", "مفاوضات", "هجرة", "سياح"),
    },
}  # fmt: skip


def _merged(*parts: dict[str, dict[str, tuple[str, ...]]]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Joins category -> language -> stems tables, keeping every stem once and in order."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for part in parts:
        for cat, by_lang in part.items():
            langs = out.setdefault(cat, {})
            for lang, stems in by_lang.items():
                langs[lang] = tuple(dict.fromkeys((*langs.get(lang, ()), *stems)))
    return out


TERMS = _merged(
    _BASE_TERMS,
    {"orgvote": ORGVOTE_EXTRA, "lawmaking": LAWMAKING_EXTRA, "drill": DRILL_EXTRA},
    CONTEXT_TERMS,
    WORLD_TERMS,
    SETTING_TERMS,
    {"figures": FIGURES_EXTRA, "internal": INTERNAL_EXTRA, "orgvote": ORGVOTE_WORLD_EXTRA},
    {"campus": CAMPUS_TERMS, "audience": AUDIENCE_TERMS},
)
CATEGORIES = tuple(TERMS)


def _in_word(ch: str) -> bool:
    # Vowel signs and other combining marks are not alphanumeric to Python, but they are inside a word.
    return ch.isalnum() or (not ch.isascii() and unicodedata.category(ch).startswith("M"))


class LexiconHit(NamedTuple):
    """A lexicon term found in a text (a tuple: texts have many, and they are made by the thousand per second)."""

    category: str
    term: str


class Lexicon:
    """Finds lexicon terms of every category in text, in all supported languages at once, in one pass."""

    def __init__(self, terms: dict[str, dict[str, tuple[str, ...]]] | None = None) -> None:
        # Text is matched against every language: copy often mixes scripts, and `lang` metadata is unreliable.
        self.terms: dict[str, dict[str, tuple[str, ...]]] = terms if terms is not None else TERMS
        self._automaton = ahocorasick.Automaton()
        entries: dict[str, list[tuple[str, bool, bool]]] = {}
        for cat, by_lang in self.terms.items():
            for lang, stems in by_lang.items():
                for term in stems:
                    whole_end = term.endswith("$")
                    anywhere = lang in _ANYWHERE and not term.startswith("^")
                    stem = term.strip("^$")
                    entries.setdefault(stem, []).append((cat, anywhere, whole_end))
        # The automaton tries a node's children one by one, and its root has hundreds in every script: ASCII text,
        # which only ASCII stems can match, is searched with an automaton of those alone, twice as fast.
        self._ascii_automaton = ahocorasick.Automaton()
        for stem, values in entries.items():
            value = (stem, tuple(dict.fromkeys(values)))
            self._automaton.add_word(stem, value)
            if stem.isascii():
                self._ascii_automaton.add_word(stem, value)
        self._automaton.make_automaton()
        self._ascii_automaton.make_automaton()

    # A model keeps the terms it was trained with: a newer lexicon in the code must not change an old model's features.
    def __getstate__(self) -> dict[str, object]:
        return {"terms": self.terms}

    def __setstate__(self, state: dict[str, dict[str, dict[str, tuple[str, ...]]]]) -> None:
        self.__init__(state["terms"])  # type: ignore[misc]

    def hits(self, text: str) -> list[LexiconHit]:
        lowered = text.lower()
        ascii_only = lowered.isascii()
        automaton = self._ascii_automaton if ascii_only else self._automaton
        # ASCII has no combining marks: a character is inside a word when it is alphanumeric.
        in_word = str.isalnum if ascii_only else _in_word
        if not len(automaton):
            return []  # no stems: an automaton without words cannot search
        last = len(lowered) - 1
        out: list[LexiconHit] = []
        seen: set[tuple[str, int]] = set()
        for end, (stem, values) in automaton.iter(lowered):
            start = end - len(stem) + 1
            # Stems match at the start of a word, except where compounds or particles hide them inside one.
            inside = start > 0 and in_word(lowered[start - 1])
            cut = end < last and in_word(lowered[end + 1])
            for cat, anywhere, whole_end in values:
                if (inside and not anywhere) or (cut and whole_end) or (cat, start) in seen:
                    continue
                seen.add((cat, start))
                out.append(LexiconHit(cat, stem))
        return out
