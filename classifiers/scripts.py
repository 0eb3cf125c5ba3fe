"""Character classes the tokenizers share: combining marks, and the scripts written without spaces between words."""

from __future__ import annotations

import unicodedata


def _mark_ranges() -> str:
    """Every combining mark of the Basic Multilingual Plane, as ranges for a regex character class."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x0300, 0x10000):
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


# Vowel signs and viramas are not word characters to `re` (`\w`), yet they sit inside Devanagari, Bengali or Thai
# words; a tokenizer must keep them or it cuts "यूक्रेन" into single consonants.
MARKS = _mark_ranges()

# Han, kana, Thai, Lao, Tibetan, Myanmar and Khmer are written without spaces between words, so a "word" of `\w`
# characters is a whole phrase. Ideographic punctuation (U+3000-U+3004, U+3008-U+3020) stays outside: it separates.
UNSPACED = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c\u3040-\u309f\u30a0-\u30ff\u3100-\u312f"
    "\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
    "\u0e00-\u0e7f\u0e80-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff"
)

# Korean separates words with spaces but glues particles to nouns ("러시아군이"), so names are found inside words.
HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"

# Arabic short vowels and Hebrew points are optional in writing: "مسيّرة" and "مسيرة" are one word.
OPTIONAL_MARKS = "\u0591-\u05c7\u064b-\u065f\u0670"
