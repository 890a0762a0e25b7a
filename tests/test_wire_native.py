"""The C fast path of ingest's row (``schemas/formats/_wire_native.c``) against its definition in Python.

It may decline any record, but whatever it accepts the Python path must accept too, with the same body text and
lot keys: on every simulated event (which it must all serve), on generated events of every type, and on
records with one field broken in the ways plant systems and fuzzers break them.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producers.simulate import config_for_events, simulate
from schemas.avro.codec import EventCodec
from schemas.epcis.errors import EPCISError
from schemas.epcis.model import EPCISEvent
from schemas.formats import wire_native
from schemas.formats.wire import check
from store.records import checked_row, row_from_record
from tests.test_identifiers import _identifiers
from tests.test_properties import PROPERTY_SETTINGS, _clean, events

assert wire_native.AVAILABLE, "the C fast path is built by every installation (pyproject.toml: optional = false)"

CODEC = EventCodec()


def _record(event: EPCISEvent) -> dict[str, Any]:
    return CODEC.decode_record(CODEC.encode(event))  # type: ignore[return-value]


def _python(record: dict[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    """What the Python definition makes of the record, None where it refuses it."""
    try:
        check(record)
        row = row_from_record(record)
    except EPCISError:
        return None
    return row.body, row.lot_keys


def _agrees(record: dict[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    fast = wire_native.fast_row(record)
    if fast is not None:
        assert _python(record) == fast
    return fast


def _plain(event: EPCISEvent) -> EPCISEvent:
    """The event without what the fast path leaves to Python (JSON text beyond ILMD, namespaces)."""
    decl = event.error_declaration
    return replace(_clean(event), namespaces={}, extensions={}, read_point_extensions={},
                   biz_location_extensions={}, certification_info=None, sensor_element_list=None,
                   error_declaration=None if decl is None else replace(decl, extensions={}))


def test_every_simulated_event_takes_the_fast_path_and_gets_the_same_row() -> None:
    served = 0
    for event in simulate(config_for_events(3000, seed=7), limit=3000):
        record = _record(event)
        assert _agrees(record) is not None, record
        assert checked_row(record) == row_from_record(record)
        served += 1
    assert served == 3000


@PROPERTY_SETTINGS
@given(events())
def test_generated_events_without_extensions_take_the_fast_path(event: EPCISEvent) -> None:
    assert _agrees(_record(_plain(event))) is not None


@PROPERTY_SETTINGS
@given(events())
def test_events_with_extensions_or_namespaces_are_left_to_python(event: EPCISEvent) -> None:
    record = _record(_clean(event))  # the generator always sets namespaces
    assert record["namespaces"]
    assert wire_native.fast_row(record) is None
    check(record)
    assert checked_row(record) == row_from_record(record)


weird_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8) | st.sampled_from([
    "", " ", "\"", "\\", "\x00", "\x1f", "é", "\u2028", "+15:00", "+05:60", "-14:01", " +01:00", "+01:00 ", "Z",
    "+1:00", "+٠١:٠٠", "14:00", "-00:00", "-1", "NaN", "Infinity", "1e3", "0.10", "abc", "kgm", "KG", "KGMS",
    "K1", "１２", "12", "null", "[1]", "{", "{}", '{"cbvmda:lotNumber":"X"}', '{"lotNumber":7}',
    "urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107347.2017",
    "urn:epc:class:lgtin:0614141.107346.L1", "urn:epc:class:lgtin:0614141.10734.L1",
    "urn:epc:class:lgtin:0614141.107346.", "urn:epc:id:sscc:0614141.1234567890", "urn:epc:id:sscc:0614141.123",
    "https://id.gs1.org/01/10614141073464/10/ABC", "https://id.gs1.org/01/10614141073465/10/ABC",
    "ObjectEvent", "TransformationEvent", "AggregationEvent", "ADD", "OBSERVE", "DELETE"])
odd_value = st.none() | weird_text | st.integers() | st.just([]) | st.just(["x"]) | st.just({})
STRING_FIELDS = ["type", "eventID", "eventTimeZoneOffset", "action", "bizStep", "disposition", "readPoint",
                 "bizLocation", "parentID", "transformationID", "ilmdJson", "extensionsJson",
                 "certificationInfoJson", "sensorElementListJson", "readPointExtensionsJson"]
LIST_FIELDS = ["epcList", "childEPCs", "inputEPCList", "outputEPCList"]
QUANTITY_FIELDS = ["quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"]


@st.composite
def broken(draw: st.DrawFn) -> dict[str, Any]:
    record = _record(_plain(draw(events())))
    where = draw(st.sampled_from(["string", "list", "quantity", "time", "parties", "declaration", "missing"]))
    if where == "string":
        record[draw(st.sampled_from(STRING_FIELDS))] = draw(odd_value)
    elif where == "list":
        record[draw(st.sampled_from(LIST_FIELDS))] = draw(st.lists(weird_text, max_size=3) | odd_value)
    elif where == "quantity":
        item = {"epcClass": draw(weird_text), "quantity": draw(st.none() | weird_text),
                "uom": draw(st.none() | weird_text)}
        record[draw(st.sampled_from(QUANTITY_FIELDS))] = [item]
    elif where == "time":
        offset = draw(st.integers(-14 * 60, 14 * 60))
        record[draw(st.sampled_from(["eventTime", "recordTime"]))] = draw(st.none() | st.just(
            datetime(2021, 5, 6, 7, 8, 9, draw(st.integers(0, 999_999)), timezone(timedelta(minutes=offset)))))
    elif where == "parties":
        record[draw(st.sampled_from(["sourceList", "destinationList", "bizTransactionList"]))] = [
            {"type": draw(st.none() | weird_text), "source": draw(weird_text), "destination": draw(weird_text),
             "bizTransaction": draw(weird_text)}]
    elif where == "declaration":
        record["errorDeclaration"] = {"declarationTime": datetime(2021, 1, 1, tzinfo=UTC),
                                      "reason": draw(st.none() | weird_text),
                                      "correctiveEventIDs": draw(st.lists(weird_text, max_size=2)),
                                      "extensionsJson": draw(st.none() | weird_text)}
    else:
        del record[draw(st.sampled_from(sorted(record)))]
    return record


@PROPERTY_SETTINGS
@given(broken())
def test_what_the_fast_path_accepts_python_accepts_alike(record: dict[str, Any]) -> None:
    """On records with one field broken, the fast path may decline, but it never accepts what Python refuses
    and never writes a different row (a record Python cannot read at all must be declined too)."""
    try:
        _agrees(record)
    except (KeyError, TypeError, AttributeError, ValueError):
        pytest.fail("the fast path accepted a record the Python path cannot read")


def test_identifiers_read_in_c_name_the_lots_python_names() -> None:
    """The fast path reads plain LGTIN and SSCC URNs itself (identifiers.quick_parse in C) and asks lot_ref for
    the rest: either way the lot keys are Python's, on generated identifiers good and bad."""
    base = _record(_plain(next(e for e in simulate(config_for_events(50, seed=3), limit=50)
                               if e.type == "ObjectEvent")))
    accepted = 0
    for text in _identifiers(random.Random(5), 3000):
        record = {**base, "epcList": [text], "quantityList": [], "ilmdJson": None}
        accepted += _agrees(record) is not None
    assert accepted > 1000


def test_checked_row_names_what_is_wrong_where_the_fast_path_declines() -> None:
    event = next(iter(simulate(config_for_events(50, seed=3), limit=50)))
    record = _record(event)
    record["eventTimeZoneOffset"] = "+15:00"
    assert wire_native.fast_row(record) is None
    with pytest.raises(EPCISError, match="eventTimeZoneOffset"):
        checked_row(record)


def test_microseconds_quotes_and_control_characters_are_written_as_the_python_path_writes_them() -> None:
    record = _record(_plain(next(iter(simulate(config_for_events(50, seed=3), limit=50)))))
    record["eventTime"] = datetime(999, 12, 31, 23, 59, 59, 123456, UTC)
    record["recordTime"] = datetime(2025, 1, 1, 0, 0, 0, 5000, UTC)
    record["bizStep"] = 'a"b\\c\n\t\x01\x7f é \u2028'
    fast = _agrees(record)
    assert fast is not None
    assert '"eventTime":"0999-12-31T23:59:59.123456Z"' in fast[0]
    assert '"recordTime":"2025-01-01T00:00:00.005Z"' in fast[0]
