"""Golden cases for the PII rules: what must be replaced, and near-misses that must not."""

import pytest

from maga.hygiene.pii import isbn13_ok, luhn_ok, redact

pytestmark = pytest.mark.timeout(30)

REPLACED = [
    ("Write to jane.doe+news@example.co.uk today.", "Write to <EMAIL> today.", "email"),
    ("Contact: ops-team@mail.example.org.", "Contact: <EMAIL>.", "email"),
    ("The server at 192.168.10.254 answered.", "The server at <IP_ADDRESS> answered.", "ip"),
    ("Ping 8.8.8.8, then retry.", "Ping <IP_ADDRESS>, then retry.", "ip"),
    ("Its address is 2001:db8:85a3::8a2e:370:7334 now.", "Its address is <IP_ADDRESS> now.", "ip"),
    ("Link-local fe80::1ff:fe23:4567:890a works.", "Link-local <IP_ADDRESS> works.", "ip"),
    ("Call (415) 555-0132 after six.", "Call <PHONE_NUMBER> after six.", "phone"),
    ("Call 415-555-0132 after six.", "Call <PHONE_NUMBER> after six.", "phone"),
    ("Our London desk: +44 20 7946 0958.", "Our London desk: <PHONE_NUMBER>.", "phone"),
    ("Appelez le +33 1 42 68 53 00 demain.", "Appelez le <PHONE_NUMBER> demain.", "phone"),
    ("Card 4111 1111 1111 1111 was charged.", "Card <CARD_NUMBER> was charged.", "card"),
    ("Use 5500-0000-0000-0004 for the test.", "Use <CARD_NUMBER> for the test.", "card"),
    ("Amex 378282246310005 expired.", "Amex <CARD_NUMBER> expired.", "card"),
]

KEPT = [
    "Python 3.11.4 was released in June.",
    "Upgrade to version 10.0.19041.1 first.",
    "The build v1.2.3.4 fixed it.",
    "She was born on 1987-04-12 in Lyon.",
    "The treaty was signed on 12/04/1987.",
    "The meeting moved to 12.04.2023 at 14:30:15.",
    "ISBN 978-0-306-40615-7 is the first edition.",
    "Reprinted as 978-3-16-148410-0 in 2004.",  # valid ISBN-13, no context
    "ISBN-10: 0-306-40615-2.",
    "The city had 1,234,567,890 visitors.",
    "Games were held in 1996 2000 2004 2008 and 2012.",
    "The ratio is 3.14159 and the constant 2.71828.",
    "Order 4111 1111 1111 1112 failed.",  # 16 digits, Luhn fails
    "Room 555-0132 is on the left.",  # 7 digits: too short to be a phone number
    "The address 999.1.1.1 is not valid.",
    "In C++ write std::vector and a::b::c.",
    "Email me at name at example dot com.",
    "Temperatures of 12:30:45 were logged.",
]


@pytest.mark.parametrize("text,expected,kind", REPLACED)
def test_replaced(text, expected, kind):
    out, counts = redact(text)
    assert out == expected
    assert dict(counts) == {kind: 1}


@pytest.mark.parametrize("text", KEPT)
def test_near_misses_kept(text):
    out, counts = redact(text)
    assert out == text, out
    assert not counts


def test_several_kinds_counted_and_kinds_filter():
    text = "Mail a@b.io or b@c.io, call +1 415 555 0132, host 10.0.0.1."
    out, counts = redact(text)
    assert counts == {"email": 2, "phone": 1, "ip": 1}
    assert out == "Mail <EMAIL> or <EMAIL>, call <PHONE_NUMBER>, host <IP_ADDRESS>."
    out, counts = redact(text, ["ip"])
    assert counts == {"ip": 1} and "a@b.io" in out


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert isbn13_ok("9780306406157") and not isbn13_ok("9780306406158")
