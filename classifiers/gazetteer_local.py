"""Country names, adjectives and armies as the news of the larger non-English languages writes them, by hand.

The generated names (pycountry, CLDR) give each country's name in its dictionary form only; inflected languages
write it in a dozen forms ("России", "Росії", "Suriye'den") and name a country's forces by its adjective ("polnische",
"rwandais", "venezolanos") or an abbreviation ("РФ", "TSK"). Each key is a stem matched at the start of a word (at
least four letters) or, when shorter, a whole word; each value is the ISO 3166 code it stands for.
"""

from __future__ import annotations

# Stems and words, lowercased, by language. A stem is left out where it starts a common word ("грузи" begins
# "грузить", to load), and the forms are listed whole instead.
LOCAL_NAMES: dict[str, dict[str, str]] = {
    "ru": {"росси": "RU", "рф": "RU", "белорусси": "BY", "беларус": "BY", "польш": "PL", "литв": "LT",
           "латви": "LV", "эстони": "EE", "финлянди": "FI", "грузия": "GE", "грузии": "GE", "грузию": "GE",
           "армени": "AM", "азербайджан": "AZ", "казахстан": "KZ", "киргизи": "KG", "кыргызстан": "KG",
           "таджикистан": "TJ", "узбекистан": "UZ", "кндр": "KP", "цахал": "IL", "ирана": "IR", "ирану": "IR",
           "ираном": "IR", "иране": "IR", "ирака": "IQ", "ираке": "IQ", "сирии": "SY", "сирию": "SY", "сирия": "SY",
           "турци": "TR", "молдави": "MD", "румыни": "RO", "японии": "JP", "японию": "JP", "японск": "JP",
           "китая": "CN", "китаю": "CN", "китайск": "CN", "афганистан": "AF", "пакистан": "PK", "ливан": "LB",
           "израил": "IL", "израильск": "IL", "киргизск": "KG", "таджикск": "TJ", "эстонск": "EE", "латвийск": "LV",
           "литовск": "LT", "финск": "FI", "норвеги": "NO", "американск": "US", "сша": "US"},
    "uk": {"росі": "RU", "рф": "RU", "сили оборони": "UA", "білорус": "BY", "польщ": "PL", "молдов": "MD",
           "румуні": "RO", "угорщин": "HU", "словаччин": "SK", "литв": "LT", "латві": "LV", "естоні": "EE",
           "грузія": "GE", "грузії": "GE", "грузію": "GE",
           "вірмені": "AM", "азербайджан": "AZ", "ізраїл": "IL", "ліван": "LB", "сирія": "SY", "сирії": "SY",
           "сирію": "SY", "туреччин": "TR",
           "ірану": "IR", "іран": "IR", "китаю": "CN", "китайськ": "CN", "японі": "JP", "японськ": "JP",
           "кндр": "KP", "угорськ": "HU", "румунськ": "RO", "молдовськ": "MD", "литовськ": "LT", "сша": "US",
           "американськ": "US"},
    "ar": {"سوريا": "SY", "سورية": "SY", "السورية": "SY", "تركيا": "TR", "روسيا": "RU", "المصري": "EG",
           "المصرية": "EG", "الأردني": "JO", "الأردنية": "JO", "اللبنانية": "LB", "العراقية": "IQ",
           "الإيرانية": "IR", "الباكستاني": "PK", "الباكستانية": "PK", "الأفغاني": "AF", "الأفغانية": "AF",
           "الهندي": "IN", "الهندية": "IN", "الصيني": "CN", "الصينية": "CN", "الأمريكي": "US", "الأمريكية": "US",
           "الأميركي": "US", "الأميركية": "US", "الأوكرانية": "UA", "السوداني": "SD", "السودانية": "SD",
           "الإثيوبي": "ET", "الإثيوبية": "ET", "الليبي": "LY", "الليبية": "LY", "الجزائري": "DZ", "الجزائرية": "DZ",
           "المغربي": "MA", "المغربية": "MA", "التونسي": "TN", "التونسية": "TN", "اليمني": "YE", "اليمنية": "YE",
           "الكويتي": "KW", "الكويتية": "KW", "السعودي": "SA", "الإريتري": "ER", "الأذربيجاني": "AZ",
           "الأرمني": "AM", "الأرمنية": "AM", "إيران": "IR", "العراق": "IQ", "لبنان": "LB", "الأردن": "JO"},
    "tr": {"türk": "TR", "tsk": "TR", "mehmetçik": "TR", "yunan": "GR", "ermeni": "AM", "rus": "RU", "azeri": "AZ",
           "gürcü": "GE", "iranlı": "IR", "iraklı": "IQ", "suriyeli": "SY", "afgan": "AF", "israil": "IL"},
    "de": {"polnisch": "PL", "belarussisch": "BY", "weißrussisch": "BY", "israelisch": "IL", "libanesisch": "LB",
           "syrisch": "SY", "iranisch": "IR", "irakisch": "IQ", "pakistanisch": "PK", "afghanisch": "AF",
           "indisch": "IN", "chinesisch": "CN", "japanisch": "JP", "nordkoreanisch": "KP", "südkoreanisch": "KR",
           "venezolanisch": "VE", "kolumbianisch": "CO", "thailändisch": "TH", "kambodschanisch": "KH",
           "aserbaidschanisch": "AZ", "armenisch": "AM", "georgisch": "GE", "moldauisch": "MD", "rumänisch": "RO",
           "litauisch": "LT", "lettisch": "LV", "estnisch": "EE", "finnisch": "FI", "russisch": "RU",
           "ukrainisch": "UA", "türkisch": "TR", "griechisch": "GR", "zyprisch": "CY", "ägyptisch": "EG",
           "sudanesisch": "SD", "äthiopisch": "ET", "eritreisch": "ER", "somalisch": "SO", "kongolesisch": "CD",
           "ruandisch": "RW", "marokkanisch": "MA", "algerisch": "DZ", "libysch": "LY", "tschadisch": "TD",
           "philippinisch": "PH", "vietnamesisch": "VN", "taiwanisch": "TW", "tadschikisch": "TJ",
           "kirgisisch": "KG", "usbekisch": "UZ", "kasachisch": "KZ", "serbisch": "RS", "kosovarisch": "XK",
           "albanisch": "AL", "guyanisch": "GY", "ecuadorianisch": "EC", "peruanisch": "PE", "chilenisch": "CL",
           "bolivianisch": "BO", "argentinisch": "AR", "brasilianisch": "BR", "nicaraguanisch": "NI",
           "mexikanisch": "MX", "amerikanisch": "US", "saudisch": "SA", "jemenitisch": "YE", "jordanisch": "JO",
           "palästinensisch": "PS", "norwegisch": "NO", "schwedisch": "SE", "dänisch": "DK", "ungarisch": "HU",
           "slowakisch": "SK", "tschechisch": "CZ", "bulgarisch": "BG"},
    "fr": {"congolais": "CD", "turc": "TR", "turque": "TR", "turcs": "TR", "turques": "TR", "iranien": "IR",
           "irakien": "IQ", "philippin": "PH", "vénézuélien": "VE", "biélorusse": "BY", "rwandais": "RW",
           "algérien": "DZ", "marocain": "MA", "libanais": "LB", "syrien": "SY", "pakistanais": "PK",
           "chinois": "CN", "japonais": "JP", "colombien": "CO", "thaïlandais": "TH", "cambodgien": "KH",
           "arménien": "AM", "azerbaïdjanais": "AZ", "azerbaidjanais": "AZ", "polonais": "PL", "nord-coréen": "KP",
           "sud-coréen": "KR", "soudanais": "SD", "éthiopien": "ET", "érythréen": "ER", "tchadien": "TD",
           "libyen": "LY", "égyptien": "EG", "jordanien": "JO", "saoudien": "SA", "yéménite": "YE",
           "géorgien": "GE", "moldave": "MD", "roumain": "RO", "lituanien": "LT", "letton": "LV", "estonien": "EE",
           "finlandais": "FI", "tadjik": "TJ", "kirghiz": "KG", "ouzbek": "UZ", "serbe": "RS", "albanais": "AL",
           "grec": "GR", "grecque": "GR", "chypriote": "CY", "guyanien": "GY", "vietnamien": "VN",
           "taïwanais": "TW", "américain": "US", "nigérian": "NG", "camerounais": "CM", "béninois": "BJ",
           "togolais": "TG", "ivoirien": "CI", "ghanéen": "GH", "sénégalais": "SN", "mauritanien": "MR",
           "burundais": "BI", "ougandais": "UG", "kényan": "KE", "somalien": "SO", "tunisien": "TN",
           "palestinien": "PS", "ukrainien": "UA", "israélien": "IL"},
    "es": {"venezolan": "VE", "colombian": "CO", "ecuatorian": "EC", "peruan": "PE", "chilen": "CL",
           "bolivian": "BO", "nicaragüense": "NI", "costarricense": "CR", "hondureñ": "HN", "salvadoreñ": "SV",
           "guatemaltec": "GT", "mexican": "MX", "estadounidense": "US", "israelí": "IL", "libanés": "LB",
           "libanes": "LB", "sirio": "SY", "sirios": "SY", "siria": "SY", "turco": "TR", "turca": "TR",
           "turcos": "TR", "turcas": "TR", "iraní": "IR", "iraníes": "IR", "iraquí": "IQ", "pakistaní": "PK",
           "afgano": "AF", "afgana": "AF", "afganos": "AF", "filipin": "PH", "japonés": "JP", "japones": "JP",
           "tailandés": "TH", "tailandes": "TH", "camboyan": "KH", "armenio": "AM", "armenia": "AM",
           "azerbaiyan": "AZ", "ucranian": "UA", "bielorrus": "BY", "polac": "PL", "norcorean": "KP",
           "surcorean": "KR", "marroquí": "MA", "argelin": "DZ", "guyanés": "GY", "guyanes": "GY", "ruandés": "RW",
           "ruandes": "RW", "congoleñ": "CD", "sudanés": "SD", "sudanes": "SD", "etíope": "ET", "egipci": "EG",
           "saudí": "SA", "yemení": "YE", "palestin": "PS", "chino": "CN", "chinos": "CN", "china": "CN"},
    "pt": {"venezuelan": "VE", "guianense": "GY", "israelense": "IL", "ucranian": "UA", "colombian": "CO",
           "paraguai": "PY", "bolivian": "BO"},
    "cs": {"izraelsk": "IL", "rusk": "RU", "ukrajinsk": "UA", "polsk": "PL", "bělorusk": "BY",
           "libanonsk": "LB", "syrsk": "SY", "tureck": "TR", "čínsk": "CN", "arménsk": "AM", "ázerbájdžánsk": "AZ",
           "slovensk": "SK", "maďarsk": "HU", "rakousk": "AT"},
    "pl": {"rosyjsk": "RU", "białorusk": "BY", "ukraińsk": "UA", "izraelsk": "IL", "litewsk": "LT",
           "chińsk": "CN", "niemieck": "DE", "czesk": "CZ", "słowack": "SK"},
}  # fmt: skip

# Word beginnings that an inflected country name's stem would claim but that are common words: "самолёт"
# (aircraft, from "Самоа") and "даними" (data, from "Дания").
NOT_NAMES = ("самол", "даним", "даних", "данил", "даниил")

# Border areas named by the news of the region that the generated lists miss or give to a namesake elsewhere
# ("القنيطرة" is also Kenitra in Morocco).
LOCAL_HOTSPOTS: dict[str, tuple[str, ...]] = {
    "القنيطرة": ("SY",), "quneitra": ("SY",), "الفشقة": ("SD", "ET"), "fashaga": ("SD", "ET"), "كفرشوبا": ("LB",),
    "شبعا": ("LB",), "مزارع شبعا": ("LB", "IL"), "бєлгород": ("RU",), "курщин": ("RU",), "брянщин": ("RU",),
    "сумщин": ("UA",), "чернігівщин": ("UA",), "харківщин": ("UA",), "курськ": ("RU",), "брянськ": ("RU",),
    "sjunik": ("AM",), "сюнік": ("AM",), "сюник": ("AM",), "sünik": ("AM",), "vorukh": ("TJ",), "ворух": ("TJ",),
    # Turkish towns on the Syrian, Iraqi and Iranian borders, most too small for the city list.
    "kilis": ("TR",), "hakkari": ("TR",), "şırnak": ("TR",), "akçakale": ("TR",), "ceylanpınar": ("TR",),
    "nusaybin": ("TR",), "reyhanlı": ("TR",), "yüksekova": ("TR",), "özalp": ("TR",), "doğubayazıt": ("TR",),
    "çukurca": ("TR",),
}  # fmt: skip
