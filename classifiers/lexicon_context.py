"""Context lexicons that separate hard negatives from incidents and elections, in the seven original languages.

`civil` is cooperation, infrastructure, statistics, staffing, refugees and nature at a border; `drill` is exercises;
`internal` marks a war inside one country; `lawful` is a text saying no border was crossed or violated. Matching
rules are those of `classifiers.lexicon`.
"""

from __future__ import annotations

# category -> language -> stems
CONTEXT_TERMS: dict[str, dict[str, tuple[str, ...]]] = {
    "civil": {
        "en": ("bridge", "highway", "motorway", "road link", "rail link", "railway line", "opens$",
               "opened to traffic", "opening ceremony", "reopen", "inaugurat", "ribbon", "demarcation",
               "delimitation", "boundary commission", "joint commission", "statistic", "figures", "data show",
               "monthly", "year-on-year", "per cent", "percent", "apprehension", "encounters", "queue",
               "waiting time", "wait times", "staffing", "staff shortage", "understaffed", "on strike", "walkout",
               "walk out", "industrial action", "go-slow", "work-to-rule", "refugee", "asylum", "humanitarian",
               "unhcr", "visit", "cooperation", "co-operation", "memorandum", "wildlife", "wolves", "wolf$",
               "elephants", "migratory", "ash cloud", "volcanic", "volcano", "eruption"),
        "ru": ("мост", "трасс", "автодорог", "железнодорож", "открыли движение", "открытие моста", "открытие пункта",
               "возобнов", "делимитац", "демаркац", "статистик", "ежемесячн", "процент", "очереди$", "очередь$",
               "очередях", "ожидани", "персонал", "забастов", "беженц", "убежищ", "гуманитарн", "визит", "посетил",
               "сотрудничеств", "совместная комиссия", "волк", "медвед", "вулкан", "пепел", "перелётн", "перелетн"),
        "uk": ("міст$", "мосту", "мостом", "траса", "трасу", "автошлях", "залізнич", "відкрили рух", "відкриття",
               "відновлен", "делімітац", "демаркац", "статистик", "щомісячн", "відсот", "черги$", "черга$", "черзі$",
               "очікуван", "персонал", "страйк", "біженц", "притулок", "гуманітарн", "візит", "відвідав", "співпрац",
               "спільна комісія", "вовк", "ведмед", "вулкан", "попіл", "перелітн"),
        "es": ("puente", "autopista", "carretera", "ferrocarril", "inaugur", "reabr", "apertura", "demarcaci",
               "delimitaci", "estadístic", "mensual", "por ciento", "cola$", "colas$", "tiempo de espera",
               "horas de espera", "falta de personal", "huelga", "paro$", "refugiad", "asilo", "humanitari", "visita",
               "cooperaci", "comisión mixta", "lobos", "osos", "jaguar", "ceniza", "volcán", "volcan", "migratori"),
        "fr": ("pont$", "ponts$", "autoroute", "ferroviaire", "inaugur", "rouvert", "réouverture", "démarcation",
               "délimitation", "bornage", "statistique", "chiffres", "données", "mensuel", "pour cent",
               "file d'attente", "files d'attente", "temps d'attente", "heures d'attente", "effectifs",
               "manque de personnel", "grève", "réfugié", "asile", "humanitaire", "visite", "coopération",
               "commission mixte", "loups", "ours$", "cendres", "volcan", "migrateurs"),
        "de": ("brücke", "autobahn", "straße", "bahnstrecke", "eröffnung", "freigegeben", "einweihung", "eingeweiht",
               "grenzziehung", "demarkation", "delimitation", "statistik", "^zahlen", "monatlich", "prozent",
               "warteschlang", "^stau", "wartezeit", "personalmangel", "streik", "flüchtling", "asyl", "humanitär",
               "besuch", "kooperation", "zusammenarbeit", "gemeinsame kommission", "wölfe", "^wolf", "bären",
               "aschewolke", "vulkan", "zugvögel"),
        "ar": ("جسر", "طريق سريع", "سكة حديد", "افتتاح", "إعادة فتح", "فتح المعبر", "ترسيم", "إحصاء", "إحصائيات",
               "أرقام", "بيانات", "شهري", "بالمئة", "في المئة", "طوابير", "انتظار", "موظفي", "إضراب", "لاجئ",
               "اللاجئين", "لجوء", "إنساني", "زيارة", "تعاون", "لجنة مشتركة", "ذئاب", "رماد", "بركان",
               "الطيور المهاجرة"),
    },
    "drill": {
        "en": ("exercise", "drill", "manoeuvre", "maneuver", "war games", "wargame", "simulation", "simulated",
               "rehearsal", "live-fire", "live fire", "training$"),
        "ru": ("учени", "манёвр", "маневр", "тренировк", "отработ"),
        "uk": ("навчання", "навчань", "маневр", "тренуван"),
        "es": ("ejercicio", "maniobra", "simulacro", "entrenamiento"),
        "fr": ("exercice", "manœuvre", "manoeuvre", "simulation", "entraînement"),
        "de": ("übung", "manöver", "simulation"),
        "ar": ("مناورة", "مناورات", "تمرين", "تدريب"),
    },
    "internal": {
        "en": ("civil war", "junta", "front line", "frontline", "front-line", "deep inside", "own villages",
               "own citizens", "own people", "occupied areas", "occupied territor", "occupied part", "coup$",
               "coup attempt", "militia", "insurgency", "internal conflict", "separatist", "regime forces",
               "government forces", "in the capital"),
        "ru": ("гражданская война", "гражданской войн", "хунт", "линии фронта", "линия фронта", "на фронте",
               "оккупированн", "переворот", "ополчен", "своих сёл", "своих сел", "вглубь", "внутри страны",
               "в столице"),
        "uk": ("громадянська війна", "громадянської війни", "громадянській війні", "хунт", "лінії фронту",
               "лінія фронту", "на фронті", "окупован", "переворот", "своїх сіл", "вглиб", "всередині країни",
               "у столиці"),
        "es": ("guerra civil", "junta militar", "línea del frente", "frente de batalla", "territorios ocupados",
               "golpe de estado", "milicia", "paramilitar", "sus propias aldeas", "su propia población",
               "interior del país", "disidencias"),
        "fr": ("guerre civile", "junte", "ligne de front", "territoires occupés", "zones occupées", "coup d'état",
               "putsch", "milice", "ses propres villages", "sa propre population", "à l'intérieur du pays"),
        "de": ("bürgerkrieg", "junta", "frontlinie", "besetzten gebiet", "putsch", "staatsstreich", "miliz",
               "eigene dörfer", "eigenen dörfer", "eigene bevölkerung", "im landesinneren"),
        "ar": ("حرب أهلية", "الحرب الأهلية", "المجلس العسكري", "خط المواجهة", "خطوط المواجهة", "الأراضي المحتلة",
               "انقلاب", "ميليشيا", "داخل البلاد"),
    },
    "lawful": {
        "en": ("international waters", "international airspace", "neutral waters", "without violating",
               "no violation", "did not violate", "did not cross", "never crossed",
               "in accordance with international", "no breach"),
        "ru": ("нейтральн", "международных вод", "без нарушения", "нарушения не было", "не нарушал",
               "в строгом соответствии"),
        "uk": ("нейтральн", "міжнародних вод", "без порушення", "порушення не було", "не порушував"),
        "es": ("aguas internacionales", "espacio aéreo internacional", "sin violar", "ninguna violación",
               "no hubo violación", "aguas neutrales"),
        "fr": ("eaux internationales", "espace aérien international", "sans violer", "aucune violation",
               "pas de violation", "eaux neutres"),
        "de": ("internationalen gewässern", "internationale gewässer", "internationalen luftraum",
               "neutralen gewässern", "keine verletzung", "nicht verletzt"),
        "ar": ("المياه الدولية", "الأجواء الدولية", "دون انتهاك", "دون خرق", "لا خرق", "المياه المحايدة"),
    },
}  # fmt: skip

# Votes that are not for public office, added to the original languages' `orgvote` terms.
ORGVOTE_EXTRA: dict[str, tuple[str, ...]] = {
    "en": ("student union", "students' union", "student council", "student government", "strike vote", "talent show",
           "viewers", "contestant", "cardinals", "sistine", "guild"),
    "ru": ("студенч", "студсовет", "конклав", "кардинал", "папа римск", "шоу$", "телешоу", "забастов", "зрител"),
    "uk": ("студент", "конклав", "кардинал", "папа римськ", "шоу$", "страйк", "глядач"),
    "es": ("estudiant", "cónclave", "cardenales", "papa$", "reality", "concursant", "huelga", "televidentes"),
    "fr": ("étudiant", "conclave", "cardinaux", "pape$", "télé-crochet", "grève", "téléspectateurs"),
    "de": ("studierend", "studentenparlament", "konklave", "kardinäle", "^papst", "castingshow", "^streik",
           "urabstimmung", "zuschauer"),
    "ar": ("طلاب", "الطلابي", "الطلبة", "الكرادلة", "البابا", "برنامج المواهب", "إضراب", "المشاهدين"),
}  # fmt: skip

# Procedural and confirmation votes in legislatures, added to the original languages' `lawmaking` terms.
LAWMAKING_EXTRA: dict[str, tuple[str, ...]] = {
    "en": ("cloture", "procedural", "to confirm", "confirmed as", "confirmation vote", "confirmation hearing",
           "nomination of"),
    "es": ("ratificación del nombramiento", "votación procedimental"),
    "fr": ("vote de procédure", "audition de confirmation"),
    "de": ("verfahrensabstimmung",),
}  # fmt: skip
