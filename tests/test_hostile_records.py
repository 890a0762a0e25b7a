"""Hostile records: every one is stored or refused with a reason, and nothing stops ingest or the projections.

Records as the events topic carries them (valid simulated events, with fields replaced by adversarial strings,
numbers and JSON texts: NUL characters, 100K-character texts, ``1E+10000000``, 5,000-digit numbers, integers
beyond 64 bits, NaN, deep nesting) go through what ingest runs on each message (Avro encode, decode, the checked
store row) into a real PostgreSQL store, then the lineage and recall projections run over them. A record may be
refused, but only with the errors ingest dead-letters (``CodecError``, ``EPCISError``); anything else raised, a
failed append or a failed projection is a record that would stop ingest or the lineage at every restart. The
real path (broker, ingest worker, dead-letter topic) is in ``test_ingest.py``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from lotline.wiring import Runtime
from projections.framework import Projector, Target
from projections.lineage.projection import LIVE_SCHEMA, LineageProjection
from projections.recall.projection import RecallTarget
from schemas.avro.codec import EventCodec, event_to_record
from schemas.epcis.errors import CodecError, EPCISError
from store.port import NewEvent
from store.postgres import PostgresEventStore
from store.records import checked_row
from tests.factories import shipment
from tests.lineage_builders import transform

HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\x00", "lot\x00", "\\u0000", "x" * 100_000, "L" * 600, "\u2028\u00e9\U0001f600", "'\"<>&",
                     "\t\n\r\x7f\x01", " ", ""]),
    st.text(max_size=12))
HOSTILE_NUMBER = st.one_of(
    st.sampled_from(["1E+10000000", "9" * 5000, "1E-400", "NaN", "Infinity", "-0", "1" * 60, "0.000",
                     "12345678901234567890.5", "+5", " 5", "5 ", "0x10", "1_000", "\x005"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str))
HOSTILE_JSON = st.one_of(
    st.sampled_from([
        '{"a": 1E+10000000}', '{"a": ' + "9" * 5000 + "}", '{"a": 100000000000000000000000}', '{"a": NaN}',
        '{"a": -Infinity}', '{"cbvmda:lotNumber": "' + "L" * 1000 + '"}', '{"cbvmda:lotNumber": "L\\u0000"}',
        '{"a\\u0000": 1}', '{"a": "\\ud800"}', '{"a": ' * 5000 + "1" + "}" * 5000, '{"a": ' * 300 + "1" + "}" * 300,
        "[", "{}", "[]", "null", '"text"', "1", '{"a": 1e-400}']),
    st.text(max_size=12))

_TEXT_FIELDS = ("eventID", "parentID", "transformationID", "bizStep", "disposition", "readPoint", "bizLocation",
                "eventTimeZoneOffset")
_LIST_FIELDS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_JSON_FIELDS = ("ilmdJson", "extensionsJson", "sensorElementListJson", "certificationInfoJson",
                "readPointExtensionsJson")
_QUANTITY_LISTS = ("quantityList", "inputQuantityList", "outputQuantityList")


@st.composite
def hostile_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event's record (a shipment, or a transformation with ILMD) with one to three fields made hostile."""
    base = draw(st.sampled_from(["shipment", "transformation"]))
    n = draw(st.integers(0, 10_000))
    event = shipment(n) if base == "shipment" else transform(f"t{n}", [(f"IN{n}", 5, "KGM")], [(f"OUT{n}", 5, "KGM")],
                                                             minute=n % 60)
    record = event_to_record(event)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["text", "list", "json", "quantity", "party", "namespace"]))
        if kind == "text":
            record[draw(st.sampled_from(_TEXT_FIELDS))] = draw(HOSTILE_TEXT)
        elif kind == "list":
            record[draw(st.sampled_from(_LIST_FIELDS))] = draw(st.lists(HOSTILE_TEXT, min_size=1, max_size=3))
        elif kind == "json":
            record[draw(st.sampled_from(_JSON_FIELDS))] = draw(HOSTILE_JSON)
        elif kind == "quantity":
            record[draw(st.sampled_from(_QUANTITY_LISTS))] = [{
                "epcClass": draw(st.one_of(st.just("urn:epc:class:lgtin:0614141.107346.L1"), HOSTILE_TEXT)),
                "quantity": draw(HOSTILE_NUMBER), "uom": draw(st.one_of(st.just("KGM"), HOSTILE_TEXT))}]
        elif kind == "party":
            record["bizTransactionList"] = [{"type": draw(HOSTILE_TEXT), "bizTransaction": draw(HOSTILE_TEXT)}]
            record["destinationList"] = [{"type": "owning_party", "destination": draw(HOSTILE_TEXT)}]
        else:
            record["namespaces"] = {draw(HOSTILE_TEXT): draw(HOSTILE_TEXT)}
    return record


def _ingest_one(codec: EventCodec, record: dict[str, Any]) -> NewEvent | str:
    """What ingest does with one message: its store row, or the reason it is dead-lettered."""
    message = codec.encode_record(record)
    try:
        return checked_row(codec.decode_record(message))
    except (CodecError, EPCISError) as exc:
        return f"{type(exc).__name__}: {exc}"


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(st.lists(hostile_records(), min_size=1, max_size=4))
def test_every_hostile_record_is_stored_or_refused_and_nothing_stops(runtime: Runtime,
                                                                      records: list[dict[str, Any]]) -> None:
    codec = EventCodec()
    outcomes = [_ingest_one(codec, r) for r in records]
    rows = [o for o in outcomes if isinstance(o, NewEvent)]
    for reason in outcomes:
        if isinstance(reason, str):
            assert len(reason) < 3000, "a reason names the problem, not the whole value"
    store = PostgresEventStore(runtime.engine)
    result = store.append(rows)
    assert result.stored + result.duplicates + len(result.rejected) == len(rows)
    _project(runtime.engine, runtime)
    assert store.verify().ok


def _project(engine: Engine, rt: Runtime) -> None:
    Projector(engine, [Target(LineageProjection(), LIVE_SCHEMA), RecallTarget(LIVE_SCHEMA)],
              batch_size=500).run(until_idle=True)


def test_the_bounds_name_what_is_wrong() -> None:
    """A few refusals, word for word enough that an operator knows what to fix and where."""
    codec = EventCodec()
    record = event_to_record(shipment(1))
    cases = {
        "eventID": ("urn:uuid:a\x00b", "eventID: holds a NUL character"),
        "ilmdJson": ('{"x": 1E+10000000}', "ilmd: is not valid JSON text: the number 1E+10000000 is beyond 10^±100"),
        "quantityList": ([{"epcClass": "urn:epc:class:lgtin:0614141.107346.L1", "quantity": "1" * 60,
                           "uom": "KGM"}], "quantityList/0/quantity: 111111111111111111111111111111... (60 "
                                           "characters) has more than 50 significant digits"),
        "inputQuantityList": ([{"epcClass": "urn:epc:class:lgtin:0614141.107346.L1", "quantity": "9" * 5000,
                                "uom": "KGM"}], "(5000 characters) is beyond 10^±100"),
        "transformationID": ("t" * 600, "transformationID: is 600 characters long (at most 512)"),
    }
    for field, (value, expected) in cases.items():
        outcome = _ingest_one(codec, {**record, field: value})
        assert isinstance(outcome, str) and expected in outcome, (field, outcome)
