"""GS1 identifiers (domain.md §3) and lot identity (scenario 13)."""

from __future__ import annotations

import pytest

from schemas.errors import IdentifierError
from schemas.identifiers import IdKind, LotKey, gs1_check_digit, normalise_gtin, parse_identifier
from schemas.model import Action, EPCISEvent, EventType
from schemas.timefmt import parse_timestamp


@pytest.mark.parametrize("urn,canonical", [
    ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
    ("urn:epc:class:lgtin:4012345.012345.998877", "https://id.gs1.org/01/04012345123456/10/998877"),
    ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
    ("urn:epc:id:sgln:0614141.07346.1234", "https://id.gs1.org/414/0614141073467/254/1234"),
    ("urn:epc:id:sgln:0614141.07346.0", "https://id.gs1.org/414/0614141073467"),
    ("urn:epc:id:pgln:0614141.00777", "https://id.gs1.org/417/0614141007776"),
    ("urn:epc:idpat:sgtin:4012345.066666.*", "https://id.gs1.org/01/04012345666663"),
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
])
def test_bad_identifiers_are_named(bad: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message) as info:
        parse_identifier(bad)
    assert bad in str(info.value)


def test_other_uris_are_opaque() -> None:
    assert parse_identifier("urn:uuid:1234").kind is IdKind.OTHER
    assert parse_identifier("https://example.com/docs/1").kind is IdKind.OTHER
