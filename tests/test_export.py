"""``lotline export``: stored events back out as one EPCIS 2.0 JSON-LD document, filtered on indexed columns."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from lotline.settings import Settings
from producers.capture import parse_document
from projections.export import export_document, export_filter
from schemas.epcis.event_hash import event_hash_id
from schemas.epcis.model import EPCISEvent, EventType, QuantityElement
from schemas.formats.jsonld import event_to_json
from store.port import EventFilter
from store.postgres import PostgresEventStore
from store.records import to_new_event
from tests.cli import lotline_env, run_lotline
from tests.factories import T0, declared, shipment


def transformation(n: int) -> EPCISEvent:
    return EPCISEvent(
        type=EventType.TRANSFORMATION, event_id=f"urn:uuid:00000000-0000-4000-9000-{n:012d}",
        event_time=T0 + timedelta(minutes=n), event_time_zone_offset="+01:00", biz_step="creating_class_instance",
        input_quantity_list=(QuantityElement("urn:epc:class:lgtin:0614141.107346.L1", Decimal("12.5"), "KGM"),),
        output_quantity_list=(QuantityElement("https://id.gs1.org/01/10614141073464/10/S9", Decimal(100)),),
        extensions={"ex:line": "2"}, namespaces={"ex": "https://ns.example.com/a/"})


def stored_events() -> list[EPCISEvent]:
    clash = replace(shipment(9, "L3"), extensions={"ex:carrier": "Truck 7"},
                    namespaces={"ex": "https://ns.other.example/"})  # same prefix, another namespace
    acme = replace(shipment(2, "L2"), extensions={"acme:dock": 4}, namespaces={"acme": "https://acme.example/"})
    return [shipment(1, "L1"), acme, transformation(3), declared(shipment(1, "L1")),
            replace(shipment(4, "L2"), biz_step="receiving"), clash]


@pytest.fixture
def store(pg_store: PostgresEventStore) -> PostgresEventStore:
    pg_store.append([to_new_event(e) for e in stored_events()])
    return pg_store


def export(engine: Engine, flt: EventFilter | None = None) -> tuple[dict[str, object], list[EPCISEvent]]:
    out = io.StringIO()
    export_document(engine, out, flt, batch=2)
    text = out.getvalue()
    return json.loads(text), parse_document(text.encode(), "export.jsonld")


def test_export_everything_in_store_order_without_loss(store: PostgresEventStore, engine: Engine) -> None:
    doc, events = export(engine)
    assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
    assert [event_hash_id(e) for e in events] == [event_hash_id(e) for e in stored_events()]
    # the model, extensions included (a reader gives every event the document's prefixes too, so compare the
    # JSON-LD form and each event's own prefixes rather than the namespace maps)
    assert [event_to_json(e) for e in events] == [event_to_json(e) for e in stored_events()]
    assert all(e.namespaces.items() >= o.namespaces.items() for e, o in zip(events, stored_events(), strict=True))
    # prefixes with one namespace go to the document's @context; "ex" means two things, so the two events
    # using it keep their own event-level @context
    assert doc["@context"] == ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                               {"acme": "https://acme.example/"}]
    body = doc["epcisBody"]
    assert isinstance(body, dict)
    assert [e["@context"] for e in body["eventList"] if "@context" in e] == [
        [{"ex": "https://ns.example.com/a/"}], [{"ex": "https://ns.other.example/"}]]


def test_filters(store: PostgresEventStore, engine: Engine) -> None:
    def ids(flt: EventFilter) -> list[str | None]:
        return [e.event_id for e in export(engine, flt)[1]]

    s1, s2, t3, s4 = (shipment(1).event_id, shipment(2).event_id, transformation(3).event_id,
                      shipment(4).event_id)
    assert ids(export_filter(lots=["urn:epc:class:lgtin:0614141.107346.L1"])) == [s1, t3, s1]
    assert ids(export_filter(lots=["10614141073464/L2", "https://id.gs1.org/01/10614141073464/10/S9"])) == [
        s2, t3, s4]
    assert ids(export_filter(types=["TransformationEvent"])) == [t3]
    assert ids(export_filter(biz_steps=["urn:epcglobal:cbv:bizstep:receiving"])) == [s4]
    assert ids(export_filter(time_from=T0 + timedelta(minutes=2), time_to=T0 + timedelta(minutes=4))) == [s2, t3]
    assert ids(export_filter(lots=["10614141073464/L1"], include_declarations=False)) == [s1, t3]
    assert ids(export_filter(types=["AggregationEvent"])) == []
    empty, events = export(engine, export_filter(types=["AggregationEvent"]))
    assert events == [] and empty["epcisBody"] == {"eventList": []}


def test_export_cli_to_a_file(settings: Settings, store: PostgresEventStore, tmp_path: Path) -> None:
    target = tmp_path / "recall.jsonld"
    env = lotline_env(settings)
    proc = run_lotline(["export", "--lot", "https://id.gs1.org/01/10614141073464/10/L1", "--from",
                        "2026-06-01T08:00:00Z", "--to", "2026-06-02", "-o", str(target)], env)
    assert proc.returncode == 0, proc.stderr
    assert f"exported 3 event(s) (1 error declaration(s)) to {target}" in proc.stderr
    events = parse_document(target.read_bytes(), str(target))
    assert [e.event_id for e in events] == [shipment(1).event_id, transformation(3).event_id, shipment(1).event_id]
    to_stdout = run_lotline(["export", "--type", "TransformationEvent"], env)
    assert to_stdout.returncode == 0
    assert [e.event_id for e in parse_document(to_stdout.stdout.encode(), "-")] == [transformation(3).event_id]
    bad = run_lotline(["export", "--lot", "urn:epc:class:lgtin:0614141.107346"], env)
    assert bad.returncode == 2 and "--lot" in bad.stderr
