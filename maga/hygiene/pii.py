"""PII in rewrites: every replacement rule in one place.

A model can copy contact details from its source or invent plausible ones; either way
they do not belong in pretraining text. Each match is replaced by a placeholder and
counted by kind. The rules are written to leave look-alikes alone: version numbers
(``v1.2.3.4``, ``version 10.0.19041.1``), dates and times, ISBNs (by context and by
checksum), thousands-grouped figures and lists of years. ``tests/hygiene/test_pii.py``
holds the golden cases, near-misses included.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable

PLACEHOLDERS = {
    "email": "<EMAIL>",
    "ip": "<IP_ADDRESS>",
    "phone": "<PHONE_NUMBER>",
    "card": "<CARD_NUMBER>",
}
ORDER = ("email", "card", "ip", "phone")  # cards before phones: both are digit runs

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![\w@])"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
_CARD = re.compile(r"(?<![\w.,-])\d(?:[ -]?\d){12,18}(?![\w.,-]?\d)")
_PHONE = re.compile(
    r"(?<![\w+.,/(-])(?:\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?)?|\(\d{1,4}\)|\d{2,4})"
    r"(?:[ .-]\d{2,4}){1,5}(?![\w.,/-]?\d)"
)
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild)\s*$")
_ISBN_BEFORE = re.compile(r"(?i)\bISBN(?:-1[03])?:?\s*$")
_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def isbn13_ok(digits: str) -> bool:
    if len(digits) != 13 or digits[:3] not in ("978", "979"):
        return False
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(digits))
    return total % 10 == 0


def _before(text: str, start: int, pattern: re.Pattern) -> bool:
    return bool(pattern.search(text[max(0, start - 16) : start]))


def _years(cand: str) -> bool:
    groups = re.findall(r"\d+", cand)
    return len(groups) > 1 and all(len(g) == 4 and 1000 <= int(g) <= 2099 for g in groups)


def _email(m: re.Match, text: str) -> bool:
    return True


def _ip(m: re.Match, text: str) -> bool:
    cand = m.group(0)
    if _before(text, m.start(), _VERSION_BEFORE):
        return False
    try:
        ipaddress.ip_address(cand)
    except ValueError:
        return False
    return "." in cand or sum(c.isalnum() for c in cand.split(":")) >= 3


def _card(m: re.Match, text: str) -> bool:
    digits = re.sub(r"\D", "", m.group(0))
    if not 13 <= len(digits) <= 19 or _before(text, m.start(), _ISBN_BEFORE):
        return False
    if _years(m.group(0)):
        return False
    return luhn_ok(digits) and not isbn13_ok(digits)


def _phone(m: re.Match, text: str) -> bool:
    cand = m.group(0)
    digits = re.sub(r"\D", "", cand)
    if _before(text, m.start(), _ISBN_BEFORE) or _before(text, m.start(), _VERSION_BEFORE):
        return False
    if _DATE_LIKE.match(cand) or isbn13_ok(digits):
        return False
    if _years(cand):
        return False
    formatted = cand.startswith("+") or "(" in cand
    return (8 if formatted else 10) <= len(digits) <= 15


RULES: dict[str, list[tuple[re.Pattern, Callable[[re.Match, str], bool]]]] = {
    "email": [(_EMAIL, _email)],
    "card": [(_CARD, _card)],
    "ip": [(_IPV4, _ip), (_IPV6, _ip)],
    "phone": [(_PHONE, _phone)],
}


def redact(text: str, kinds: Iterable[str] = ORDER) -> tuple[str, Counter]:
    """``text`` with every match of ``kinds`` replaced by its placeholder; counts by kind."""
    wanted = set(kinds)
    counts: Counter = Counter()
    for kind in ORDER:
        if kind not in wanted:
            continue
        for pattern, accept in RULES[kind]:
            pieces, last = [], 0
            for m in pattern.finditer(text):
                if accept(m, text):
                    pieces += [text[last : m.start()], PLACEHOLDERS[kind]]
                    last = m.end()
                    counts[kind] += 1
            if last:
                text = "".join(pieces) + text[last:]
    return text, counts
