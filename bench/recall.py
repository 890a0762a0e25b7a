"""How fast a recall with a 10K-lot scope reaches the recall-alerts topic, from the moment it is stored.

    python -m bench.recall --runs 10

Builds a lineage in which one ingredient lot feeds ``--fanout`` intermediate lots, each feeding ``--fanout``
product lots (100 × 100 = 10,100 lots reached), every product lot shipped once; projects it; then, with a
projector (lineage + recalls, polling every ``--poll`` s) and the outbox relay (woken by NOTIFY) running,
repeatedly appends a recall of the ingredient lot (and its lift) to the store and measures the time from the
recall row's record time to the alert's timestamp on the topic. Prints p50/p95 over the runs. ``--packed``
ships the product lots in case SSCCs on pallet SSCCs instead, so the scope's shipments are all resolved through
nested containment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from bench.common import broker, machine, scratch_database
from lotline.logconfig import configure_logging
from lotline.settings import Settings
from lotline.wiring import Runtime
from projections.framework import Projector, Target
from projections.lineage.projection import LIVE_SCHEMA, LineageProjection
from projections.recall.projection import RecallTarget
from projections.recall.relay import OutboxRelay
from schemas.epcis.identifiers import LotKey
from schemas.epcis.model import Action, BizTransaction, EPCISEvent, EventType, PartyRef, QuantityElement
from schemas.recall import AlertCodec, recall_event
from store.records import to_new_event

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def lgtin(item: str, lot: str) -> str:
    return f"urn:epc:class:lgtin:0614141.{item}.{lot}"


def sscc(n: int) -> str:
    return f"urn:epc:id:sscc:0614141.{n:010d}"


def lineage_events(fanout: int, packed: bool = False) -> list[EPCISEvent]:
    """One root lot → ``fanout`` intermediates → ``fanout``² products, each product shipped once: loose, or
    (``packed``) in a case SSCC of its own, ten cases to a pallet SSCC, each pallet shipped."""
    def q(epc: str, n: int, uom: str) -> QuantityElement:
        return QuantityElement(epc, Decimal(n), uom)

    events: list[EPCISEvent] = []
    minute = 0

    def ev(**fields: object) -> None:
        nonlocal minute
        minute += 1
        events.append(EPCISEvent(event_id=f"urn:uuid:{uuid.uuid4()}", event_time=T0 + timedelta(minutes=minute),
                                 event_time_zone_offset="-06:00", **fields))  # type: ignore[arg-type]

    root = lgtin("100000", "ROOT")
    for i in range(fanout):
        mid = lgtin("200000", f"M{i}")
        ev(type=EventType.TRANSFORMATION, biz_step="creating_class_instance",
           input_quantity_list=(q(root, 10, "KGM"),), output_quantity_list=(q(mid, 10, "KGM"),))
        outs = tuple(q(lgtin("300000", f"P{i}-{j}"), 20, "CS") for j in range(fanout))
        ev(type=EventType.TRANSFORMATION, biz_step="creating_class_instance",
           input_quantity_list=(q(mid, 10, "KGM"),), output_quantity_list=outs)
        for j in range(fanout):
            lot = q(lgtin("300000", f"P{i}-{j}"), 20, "CS")
            if packed:
                ev(type=EventType.AGGREGATION, action=Action.ADD, biz_step="packing", parent_id=sscc(i * fanout + j),
                   child_quantity_list=(lot,))
                if j % 10 < 9 and j < fanout - 1:
                    continue
                pallet = sscc(10**8 + i * fanout + j)
                ev(type=EventType.AGGREGATION, action=Action.ADD, biz_step="packing", parent_id=pallet,
                   child_epcs=tuple(sscc(i * fanout + k) for k in range(j - j % 10, j + 1)))
            ev(type=EventType.OBJECT, action=Action.OBSERVE, biz_step="shipping", disposition="in_transit",
               quantity_list=() if packed else (lot,), epc_list=(pallet,) if packed else (),
               biz_transaction_list=(BizTransaction(f"urn:epcglobal:cbv:bt:0614141000012:BOL{i}-{j}", "bol"),),
               destination_list=(PartyRef("owning_party", f"urn:epc:id:pgln:0614141.{j % 50:05d}"),))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--fanout", type=int, default=100)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--packed", action="store_true",
                        help="ship every product lot in a case SSCC, ten cases to a shipped pallet SSCC")
    args = parser.parse_args()
    configure_logging("console", os.environ.get("LOTLINE_LOG_LEVEL", "WARNING"))
    with broker() as bootstrap, scratch_database() as url:
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        rt = Runtime(Settings(kafka_bootstrap=bootstrap, database_url=url, events_topic=topic,
                              recall_alerts_topic=f"{topic}.alerts"))
        rt.ensure_topics()
        events = lineage_events(args.fanout, args.packed)
        for i in range(0, len(events), 2000):
            rt.store.append([to_new_event(e) for e in events[i:i + 2000]])
        Projector(rt.engine, [Target(LineageProjection(), LIVE_SCHEMA), RecallTarget()],
                  batch_size=2000).run(until_idle=True)
        with rt.engine.connect() as conn:
            lots = conn.execute(sa.text("SELECT count(*) FROM lineage.lots")).scalar_one()

        projector = Projector(rt.engine, [Target(LineageProjection(), LIVE_SCHEMA), RecallTarget()],
                              batch_size=2000, poll_interval_s=args.poll)
        relay = OutboxRelay(rt.engine, rt.kafka_config(), rt.settings.recall_alerts_topic)
        threads = [threading.Thread(target=projector.run, daemon=True),
                   threading.Thread(target=relay.run, daemon=True)]
        for t in threads:
            t.start()
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"b-{topic}", "enable.auto.commit": False})
        parts = consumer.list_topics(rt.settings.recall_alerts_topic, timeout=10).topics[
            rt.settings.recall_alerts_topic].partitions
        consumer.assign([TopicPartition(rt.settings.recall_alerts_topic, p, OFFSET_END) for p in parts])
        codec = AlertCodec()
        root = LotKey.parse(lgtin("100000", "ROOT"))
        latencies: list[float] = []
        scope_lots = scope_shipments = 0
        for run in range(args.runs):
            stored = rt.store.append([to_new_event(recall_event(root, f"bench run {run}"))])
            recorded = rt.store.read(stored.last_position - 1, 1)[0].recorded_at
            while True:
                msg = consumer.poll(60)
                if msg is None:
                    raise SystemExit("no alert within 60 s")
                if msg.error():
                    continue
                alert = codec.decode_record(msg.value() or b"")
                if alert["kind"] == "RECALL_DECLARED":
                    break
            _, ts = msg.timestamp()
            latencies.append(ts / 1000 - recorded.timestamp())
            scope_lots, scope_shipments = len(alert["lotsAdded"]), len(alert["shipmentsAdded"])
            rt.store.append([to_new_event(recall_event(root, "", lift=True))])
            time.sleep(0.5)
        projector.stop()
        relay.stop()
        consumer.close()
        rt.engine.dispose()
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"machine: {machine()}")
    print(f"lineage: {lots:,} lots; recall scope: {scope_lots:,} lots, {scope_shipments:,} shipment lines"
          + (" (cases on pallets)" if args.packed else ""))
    p50 = statistics.median(latencies)
    print(f"recall stored → alert on topic over {len(latencies)} runs: p50 {p50 * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms (projector poll {args.poll}s)")


if __name__ == "__main__":
    main()
