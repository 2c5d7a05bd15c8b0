"""Language identification with py3langid (its model ships inside the wheel; nothing is
downloaded). A rewrite is a ``language_mismatch`` when the identifier is sure enough of
its language and that language is not its source's."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from maga.config import LanguageCheckConfig

UNDETERMINED = "und"  # too short to judge
# Classes of the identifier that are one language for this check: its Wu Chinese class
# takes much standard written Chinese; Norwegian comes as Bokmal and Nynorsk.
ALIASES = {"wuu": "zh", "nb": "no", "nn": "no"}


def normalize(code: str | None) -> str | None:
    """``en-US``, ``EN``, ``en_gb`` -> ``en``; empty -> None."""
    if not code or not str(code).strip():
        return None
    code = str(code).strip().lower().replace("_", "-").split("-")[0]
    return ALIASES.get(code, code)


@lru_cache(maxsize=4)
def _identifier(languages: tuple[str, ...]):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if languages:
        unknown = sorted(set(languages) - set(ident.nb_classes))
        if unknown:
            raise ValueError(f"refresh.hygiene.language.languages: unknown codes {unknown}")
        ident.set_languages(list(languages))
    return ident


@dataclass(frozen=True)
class Detected:
    lang: str
    confidence: float


class LanguageId:
    def __init__(self, cfg: LanguageCheckConfig):
        self.cfg = cfg
        self._ident = _identifier(tuple(sorted(cfg.languages)))

    def detect(self, text: str) -> Detected:
        if len(text.strip()) < self.cfg.min_chars:
            return Detected(UNDETERMINED, 0.0)
        lang, prob = self._ident.classify(text[: self.cfg.max_chars])
        return Detected(ALIASES.get(str(lang), str(lang)), round(float(prob), 4))

    def source_lang(self, text: str, field: str | None) -> str:
        """The language field when the record has one, else the detected language."""
        return normalize(field) or self.detect(text).lang

    def mismatch(self, source_lang: str, text: str) -> tuple[Detected, str | None]:
        """(the rewrite's language, a reject detail or None)."""
        got = self.detect(text)
        if (source_lang == UNDETERMINED or got.lang == UNDETERMINED
                or got.confidence < self.cfg.min_confidence or got.lang == source_lang):  # fmt: skip
            return got, None
        return got, f"{got.lang} ({got.confidence:.2f}), source {source_lang}"
