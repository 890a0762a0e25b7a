"""GS1 identifiers (domain.md §3) and lot identity (scenario 13)."""

from __future__ import annotations

import random

import pytest

from schemas.epcis.errors import IdentifierError
from schemas.epcis.identifiers import (
    _LOT_REFS,
    IdKind,
    LotKey,
    gs1_check_digit,
    lot_ref,
    normalise_gtin,
    parse_identifier,
    quick_parse,
)
from schemas.epcis.model import Action, EPCISEvent, EventType
from schemas.epcis.timefmt import parse_timestamp


@pytest.mark.parametrize("urn,canonical", [
    ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
    ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"),
    ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
    ("urn:epc:id:sgln:0614141.07346.1234", "https://id.gs1.org/414/0614141073467/254/1234"),
    ("urn:epc:id:sgln:0614141.07346.0", "https://id.gs1.org/414/0614141073467"),
    ("urn:epc:id:pgln:0614141.00777", "https://id.gs1.org/417/0614141007776"),
    ("urn:epc:idpat:sgtin:4012345.066666.*", "https://id.gs1.org/01/04012345666663"),
    # a 12-digit company prefix leaves the location / party reference empty (GS1 TDS)
    ("urn:epc:id:sgln:061414112345..0", "https://id.gs1.org/414/0614141123452"),
    ("urn:epc:id:sgln:061414112345..7", "https://id.gs1.org/414/0614141123452/254/7"),
    ("urn:epc:id:pgln:061414112345.", "https://id.gs1.org/417/0614141123452"),
])
def test_epc_urns_map_to_gs1_keys(urn: str, canonical: str) -> None:
    assert parse_identifier(urn).canonical == canonical


def test_check_digits() -> None:
    assert gs1_check_digit("061414107346") == 7
    assert normalise_gtin("4012345123456") == "04012345123456"
    assert normalise_gtin("96385074") == "00000096385074"


def test_one_lot_three_spellings_scenario_13() -> None:
    a = LotKey.parse("urn:epc:class:lgtin:0614141.107346.ABC")
    b = LotKey.parse("https://id.gs1.org/01/10614141073464/10/ABC")
    c = LotKey.parse("https://brand.example/01/10614141073464/10/ABC?17=261231")
    d = LotKey.parse("10614141073464/ABC")
    assert a == b == c == d == LotKey("10614141073464", "ABC")
    assert LotKey.parse("https://id.gs1.org/01/10614141073464/10/abc") != a  # lots are case-sensitive
    assert LotKey.parse("https://id.gs1.org/01/4012345123456/10/X").gtin == "04012345123456"


def test_sgtin_takes_its_lot_from_commissioning_ilmd() -> None:
    event = EPCISEvent(type=EventType.OBJECT, event_time=parse_timestamp("2025-01-01T00:00:00Z", "t"),
                       event_time_zone_offset="+00:00", action=Action.ADD,
                       epc_list=("urn:epc:id:sgtin:0614141.107346.2017",), ilmd={"cbvmda:lotNumber": "ABC"})
    assert event.lot_keys() == {LotKey("10614141073464", "ABC")}


@pytest.mark.parametrize("bad,message", [
    ("https://id.gs1.org/01/10614141073465/10/ABC", "check digit 5, expected 4"),
    ("https://id.gs1.org/00/106141412345678907", "check digit 7, expected 8"),
    ("urn:epc:class:lgtin:0614141.10734.ABC", "13 digits"),
    ("urn:epc:id:sgtin:0614141.107346", "3 dot-separated fields"),
    ("urn:epc:id:sgln:0614141123456..0", "must be 12 digits"),  # a 13-digit prefix
    ("urn:epc:id:pgln:.061414112345", "must be 12 digits"),  # the prefix empty instead
])
def test_bad_identifiers_are_named(bad: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message) as info:
        parse_identifier(bad)
    assert bad in str(info.value)


def test_other_uris_are_opaque() -> None:
    assert parse_identifier("urn:uuid:1234").kind is IdKind.OTHER
    assert parse_identifier("https://example.com/docs/1").kind is IdKind.OTHER


def _slow(text: str) -> tuple[IdKind, str, str | None] | None:
    """What quick_parse must answer, from the full parse."""
    try:
        ident = parse_identifier(text)
    except IdentifierError:
        return None
    if ident.kind is IdKind.LGTIN and ident.key is not None and ident.lot is not None:
        return IdKind.LGTIN, ident.key, ident.lot
    if ident.kind is IdKind.SSCC and ident.key is not None:
        return IdKind.SSCC, ident.key, None
    return None


def _identifiers(rng: random.Random, n: int) -> list[str]:
    lot_chars = "ABCxyz019_-.% /\n\u00e9\u0663"
    digits = "0123456789"
    out = []
    for _ in range(n):
        cp = "".join(rng.choice(digits) for _ in range(rng.choice((5, 6, 7, 9, 12, 13))))
        ref = "".join(rng.choice(digits + ("\u0663" if rng.random() < 0.05 else "")) for _ in
                      range(max(0, 13 - len(cp) + rng.choice((0, 0, 0, 1, -1)))))
        lot = "".join(rng.choice(lot_chars) for _ in range(rng.choice((0, 1, 3, 8))))
        if rng.random() < 0.5:
            lot = "".join(rng.choice("ABC123") for _ in range(rng.randint(1, 10)))
        ser = "".join(rng.choice(digits) for _ in range(17 - len(cp) + rng.choice((0, 0, 1, -1))))
        prefix = rng.choice(("urn:epc:class:lgtin:", "urn:epc:class:lgtin:", "URN:epc:class:lgtin:",
                             "urn:epc:id:sscc:", "urn:epc:id:sscc:", "urn:epc:id:sgtin:"))
        body = f"{cp}.{ser}" if "sscc" in prefix else f"{cp}.{ref}.{lot}"
        out.append(prefix + body)
    gtin = "0614141" + "07346"
    out += [f"urn:epc:class:lgtin:0614141.107346.{lot}" for lot in ("A", "a-b_C", "1", "%41", "x y", "")]
    out += ["urn:epc:id:sscc:0614141.1234567890", "urn:epc:id:sscc:0614141.123456789",
            f"https://id.gs1.org/01/1{gtin}{gs1_check_digit('1' + gtin)}/10/L1", "urn:epc:idpat:sgtin:0614141.107346.*"]
    return out


def test_quick_parse_agrees_with_parse_identifier() -> None:
    texts = _identifiers(random.Random(3), 4000)
    answered = 0
    for text in texts:
        fast = quick_parse(text)
        if fast is None:
            continue  # left to parse_identifier
        answered += 1
        assert _slow(text) == fast, text
    plain = [t for t in texts if _slow(t) is not None and t.islower() and "%" not in t and "\n" not in t
             and t.isascii() and t.count(".") == (2 if "lgtin" in t else 1) and not t.endswith(".")]
    assert answered >= len(plain) > 500  # every plain LGTIN/SSCC URN takes the fast path


def test_lot_ref_answers_as_the_full_parse_does() -> None:
    """lot_ref takes quick_parse's answer where there is one: the same lot references either way."""
    for text in _identifiers(random.Random(4), 2000):
        _LOT_REFS.clear()
        try:
            ident = parse_identifier(text)
        except IdentifierError:
            with pytest.raises(IdentifierError):
                lot_ref(text)
            continue
        expected = ident.lot_key or (ident.key if ident.kind is IdKind.SGTIN else None)
        assert lot_ref(text) == expected, text
