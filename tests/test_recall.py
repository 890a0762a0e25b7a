"""Recall alerts over the real path: publish → ingest → project (lineage + recalls) → relay → Kafka."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from lotline.settings import Settings
from lotline.wiring import Runtime
from projections.framework import Projector, Target, wait_for
from projections.lineage.projection import LIVE_SCHEMA, LineageProjection
from projections.lineage.replay import rebuild
from projections.lineage.trace import trace
from projections.recall.relay import ALERT_ID, OutboxRelay
from schemas.epcis.identifiers import LotKey
from schemas.recall import AlertCodec, recall_event
from tests.cli import lotline_env, run_lotline
from tests.kafka_util import read_topic
from tests.lineage_builders import LivePipeline, declare, lgtin, receive, ship, transform

L1 = LotKey.parse(lgtin("L1"))


def project_all(engine: Engine) -> None:
    from projections.recall.projection import RecallTarget

    Projector(engine, [Target(LineageProjection(), LIVE_SCHEMA), RecallTarget()], batch_size=500).run(
        until_idle=True)


class Alerts:
    """Relay the outbox and read what reached the topic, decoded, in topic order."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.codec = AlertCodec()

    def relay(self) -> int:
        s = self.rt.settings
        return OutboxRelay(self.rt.engine, self.rt.kafka_config(), s.recall_alerts_topic).run(until_idle=True)

    def read(self, expect: int) -> list[dict[str, Any]]:
        s = self.rt.settings
        msgs = read_topic(s.kafka_bootstrap or "", s.recall_alerts_topic, expect=expect)
        out = []
        for m in sorted(msgs, key=lambda m: (m.partition() or 0, m.offset() or 0)):
            alert = self.codec.decode_record(m.value() or b"")
            assert dict(m.headers() or [])[ALERT_ID].decode() == alert["alertId"]
            out.append(alert)
        return out


@pytest.fixture
def alerts_runtime(settings: Settings) -> Runtime:
    rt = Runtime(settings.model_copy(update={"recall_alerts_topic": f"{settings.events_topic}.alerts"}))
    rt.ensure_topics()
    return rt


def _keys(items: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    return {(i["eventId"], i["gtin"], i["lotNumber"], i.get("pallet") or "") if "eventId" in i
            else (i["gtin"], i["lotNumber"], str(i["depth"])) for i in items}


def test_recall_alert_follow_ups_retraction_and_replay(alerts_runtime: Runtime) -> None:
    rt = alerts_runtime
    alerts = Alerts(rt)
    e1 = ship("E1", [("S101", 60, "CS")], customer=10, minute=30)
    with LivePipeline(rt) as line:
        line.send([receive("R1", [("L1", 100, "LBR")], supplier=50, minute=0),
                   transform("T1", [("L1", 100, "LBR")], [("S101", 100, "CS")], minute=10), e1])
        line.send([recall_event(L1, "Salmonella found in retained sample")])
        project_all(rt.engine)
        assert alerts.relay() == 1
        [first] = alerts.read(1)
        assert first["kind"] == "RECALL_DECLARED" and first["sequence"] == 1
        assert first["reason"] == "Salmonella found in retained sample"
        assert first["lot"] == {"gtin": L1.gtin, "lotNumber": "L1"}
        forward = trace(rt.engine, L1, "forward")
        assert {(x["gtin"], x["lotNumber"], x["depth"]) for x in first["lotsAdded"]} == \
            {(lot.gtin, lot.lot_number, lot.depth) for lot in forward.lots} == \
            {(L1.gtin, "L1", 0), (L1.gtin, "S101", 1)}
        [shipped] = forward.movements
        [alerted] = first["shipmentsAdded"]
        assert alerted == {
            "eventId": shipped.event_id, "date": shipped.date.isoformat(), "eventTime": shipped.event_time,
            "gtin": L1.gtin, "lotNumber": "S101", "customer": "urn:epc:id:pgln:0614141.00010",
            "customerLocation": shipped.party_location, "shipFrom": shipped.location, "quantity": "60",
            "uom": "CS", "pallet": None, "documents": [{"type": t, "id": v} for t, v in shipped.documents],
            "ambiguous": False}
        assert first["storePosition"] == forward.position

        # a late shipment of an affected lot: exactly one follow-up naming it
        line.send([ship("E2", [("S101", 40, "CS")], customer=11, minute=40)])
        project_all(rt.engine)
        assert alerts.relay() == 1
        second = alerts.read(2)[1]
        assert second["kind"] == "SCOPE_CHANGED" and second["sequence"] == 2
        assert [s["eventId"] for s in second["shipmentsAdded"]] == ["urn:lotline:test:E2"]
        assert second["lotsAdded"] == [] and second["shipmentsRemoved"] == []

        # an error declaration retracting the first shipment: a follow-up withdrawing it
        line.send([declare(e1, "did_not_occur")])
        project_all(rt.engine)
        assert alerts.relay() == 1
        third = alerts.read(3)[2]
        assert third["sequence"] == 3
        assert [s["eventId"] for s in third["shipmentsRemoved"]] == ["urn:lotline:test:E1"]
        assert third["shipmentsAdded"] == []

        # a late transformation of an affected lot: a follow-up adding the new lot at its depth
        line.send([transform("T2", [("S101", 10, "CS")], [("K55", 10, "CS")], minute=45)])
        project_all(rt.engine)
        assert alerts.relay() == 1
        fourth = alerts.read(4)[3]
        assert fourth["sequence"] == 4
        assert [(x["lotNumber"], x["depth"]) for x in fourth["lotsAdded"]] == [("K55", 2)]
        assert fourth["shipmentsAdded"] == [] and fourth["shipmentsRemoved"] == []

        # a shipment of the recalled lots' GTIN that names no lot: it may hold them, so it is in scope, ambiguous
        line.send([ship("E3", [("urn:epc:idpat:sgtin:0614141.107346.*", 5, "CS")], customer=12, minute=50)])
        project_all(rt.engine)
        assert alerts.relay() == 1
        [lotless] = alerts.read(5)[4]["shipmentsAdded"]
        assert (lotless["eventId"], lotless["gtin"], lotless["lotNumber"], lotless["quantity"],
                lotless["ambiguous"]) == ("urn:lotline:test:E3", L1.gtin, None, "5", True)

        # an event that does not touch the scope: no alert
        line.send([receive("R9", [("L9", 5, "LBR")], supplier=51, minute=50)])
        project_all(rt.engine)
        assert alerts.relay() == 0

    # rebuilding the lineage from zero re-publishes nothing
    rebuild(rt.engine)
    project_all(rt.engine)
    assert alerts.relay() == 0
    assert len(alerts.read(5)) == 5


def test_lifting_a_recall_through_the_cli(alerts_runtime: Runtime) -> None:
    rt = alerts_runtime
    env = lotline_env(rt.settings, LOTLINE_RECALL_ALERTS_TOPIC=rt.settings.recall_alerts_topic)
    with LivePipeline(rt) as line:
        line.send([receive("R1", [("L1", 100, "LBR")], supplier=50, minute=0)])
        declared = run_lotline(["recall", "urn:epc:class:lgtin:0614141.107346.L1", "--reason", "foreign matter"],
                               env)
        assert declared.returncode == 0, declared.stderr
        assert "recall of lot 10614141073464/L1 published" in declared.stdout
        lifted = run_lotline(["recall", "lift", "10614141073464/L1", "--reason", "retest negative"], env)
        assert lifted.returncode == 0, lifted.stderr
        assert wait_for(lambda: rt.store.count() == 3, timeout_s=30)
    projected = run_lotline(["project", "--until-idle"], env)
    assert projected.returncode == 0, projected.stderr
    relayed = run_lotline(["alerts", "relay", "--until-idle"], env)
    assert relayed.returncode == 0, relayed.stderr
    tail = run_lotline(["alerts", "tail", "--from-beginning", "--max", "2", "--idle-timeout", "20"], env)
    lines = [json.loads(x) for x in tail.stdout.splitlines()]
    assert [a["kind"] for a in lines] == ["RECALL_DECLARED", "RECALL_LIFTED"]
    assert [a["sequence"] for a in lines] == [1, 2]
    bad = run_lotline(["recall", "https://id.gs1.org/01/10614141073465/10/L1", "--reason", "x"], env)
    assert bad.returncode == 2 and "check digit" in bad.stderr


def test_relay_killed_between_publish_and_bookkeeping_loses_nothing(alerts_runtime: Runtime) -> None:
    rt = alerts_runtime
    s = rt.settings
    events = [receive(f"R{i}", [(f"K{i}", 10, "LBR")], supplier=50, minute=i) for i in range(24)]
    events += [recall_event(LotKey.parse(lgtin(f"K{i}")), f"kill test {i}") for i in range(24)]
    from store.records import to_new_event

    rt.store.append([to_new_event(e) for e in events])
    project_all(rt.engine)
    with rt.engine.connect() as conn:
        from sqlalchemy import text

        outbox = {r[0] for r in conn.execute(text("SELECT alert_id FROM recalls.outbox"))}
    assert len(outbox) == 24
    env = lotline_env(s, LOTLINE_RECALL_ALERTS_TOPIC=s.recall_alerts_topic, LOTLINE_RELAY_PAUSE_AFTER_PUBLISH_S="1")
    kills = 0
    for _ in range(4):
        before = len(read_topic(s.kafka_bootstrap or "", s.recall_alerts_topic, timeout=5))
        proc = subprocess.Popen([sys.executable, "-m", "lotline", "alerts", "relay", "--batch-size", "4"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until a batch reached the topic: we are inside the pause
            if len(read_topic(s.kafka_bootstrap or "", s.recall_alerts_topic, timeout=2)) > before:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    done = run_lotline(["alerts", "relay", "--until-idle"], lotline_env(s, LOTLINE_RECALL_ALERTS_TOPIC=
                                                                         s.recall_alerts_topic))
    assert done.returncode == 0, done.stderr
    msgs = read_topic(s.kafka_bootstrap or "", s.recall_alerts_topic)
    codec = AlertCodec()
    ids = [dict(m.headers() or [])[ALERT_ID].decode() for m in msgs]
    assert set(ids) == outbox  # nothing lost
    assert len(ids) > len(set(ids))  # the kills did land between publishing and bookkeeping
    for m, aid in zip(msgs, ids, strict=True):
        assert codec.decode_record(m.value() or b"")["alertId"] == aid  # a duplicate is the same alert
    assert kills == 4


def test_a_scope_keeps_each_lotless_line_of_a_shipment_apart() -> None:
    """Content of the GTIN with no lot, shipped loose and on two pallets by one event: three scope items, each
    ambiguous; a lot's own line beside them keeps the payload it had before lot-less lines existed."""
    from projections.lineage.trace import TraceRows
    from projections.recall.scope import scope_items

    gtin = "20614141000009"
    base = {"event_key": "k1", "event_id": "urn:lotline:test:k1", "event_time": "2026-06-01T08:00:00+00:00",
            "tz_offset": "-06:00", "gtin": gtin, "party": "urn:epc:id:pgln:0614141.00010", "party_location": None,
            "location": None, "documents": [], "retracted": False, "uom": "CS"}
    moves = [{**base, "lot": None, "quantity": "3", "pallet": pallet, "ambiguous": True}
             for pallet in ("006141410000000706", "006141410000000713", None)]
    moves.append({**base, "lot": "C1", "quantity": "5", "pallet": None, "ambiguous": False})
    items = scope_items(TraceRows([(gtin, "C1", 0, [], None, None)], 7, moves))
    shipments = [v for k, v in items.items() if k.startswith("ship:")]
    assert sorted((s["lotNumber"] or "", s["pallet"] or "", s.get("ambiguous", False)) for s in shipments) == [
        ("", "", True), ("", "006141410000000706", True), ("", "006141410000000713", True), ("C1", "", False)]
    assert "ambiguous" not in next(s for s in shipments if s["lotNumber"] == "C1")
