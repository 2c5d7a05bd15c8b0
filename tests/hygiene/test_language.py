"""Language ID on real text: Wikipedia summaries in English, French and Spanish (from
the built-in corpus package) and Chinese written here."""

import itertools

import pytest

from maga.config import LanguageCheckConfig
from maga.corpus.builtin import wiki_records
from maga.hygiene.language import UNDETERMINED, LanguageId, normalize

pytestmark = pytest.mark.timeout(60)

CHINESE = [
    "北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心，有三千多年的建城史。",
    "长江是亚洲第一长河，全长约六千三百公里，流经青海、西藏、四川、湖北等十一个省级行政区。",
    "光合作用是植物利用阳光把二氧化碳和水转化为有机物并释放氧气的过程，是地球生命的基础。",
]


def _wiki(lang: str, n: int) -> list[str]:
    texts = (r["text"] for r in wiki_records([lang]) if len(r["text"]) >= 200)
    return list(itertools.islice(texts, n))


@pytest.mark.parametrize("lang", ["en", "fr", "es"])
def test_wikipedia_summaries_identified(lang):
    ident = LanguageId(LanguageCheckConfig())
    texts = _wiki(lang, 40)
    got = [ident.detect(t).lang for t in texts]
    assert len(texts) == 40
    assert sum(g == lang for g in got) >= 38, got  # short proper-noun-heavy summaries may slip


def test_chinese_identified():
    ident = LanguageId(LanguageCheckConfig())
    assert [ident.detect(t).lang for t in CHINESE] == ["zh"] * 3


def test_mismatch_rules():
    ident = LanguageId(LanguageCheckConfig())
    en, fr = _wiki("en", 1)[0], _wiki("fr", 1)[0]
    _, detail = ident.mismatch("en", fr)
    assert detail and detail.startswith("fr (") and detail.endswith("source en")
    assert ident.mismatch("en", en)[1] is None
    assert ident.mismatch("zh", CHINESE[0])[1] is None
    assert ident.mismatch("fr", CHINESE[1])[1].startswith("zh")
    # too short to judge: never a mismatch, and a source too short is undetermined
    assert ident.mismatch("fr", "Hello there.")[1] is None
    assert ident.source_lang("Hi.", None) == UNDETERMINED
    assert ident.source_lang(fr, "EN-us") == "en"  # the record's field wins
    assert ident.source_lang(fr, "") == "fr"


def test_normalize_and_restricted_languages():
    assert normalize("en_GB") == "en" and normalize(" ") is None and normalize(None) is None
    ident = LanguageId(LanguageCheckConfig(languages=["en", "fr"]))
    assert ident.detect(_wiki("es", 1)[0]).lang in {"en", "fr"}
    with pytest.raises(ValueError, match="unknown codes"):
        LanguageId(LanguageCheckConfig(languages=["xx"]))
