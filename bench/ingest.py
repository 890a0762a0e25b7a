"""Sustained ingest (Kafka → committed store rows) against raw COPY of the same rows, in one run.

    python -m bench.ingest --events 1000000

1. Publishes N simulated bakery events to a fresh 6-partition topic.
2. Runs one ingest worker until caught up, timing from its first committed batch to its last (the group
   join is reported apart), sampling the process RSS after every batch.
3. Copies the stored rows out and COPYs them into an identical table (``store.schema.create_like_events``):
   once as one stream, once in ingest-sized transactions. Prints both rates and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import psutil
import sqlalchemy as sa

from bench.common import CpuMeter, broker, by_tenth, machine, rss_mb, scratch_database
from consumers.ingest import IngestStats
from lotline.logconfig import configure_logging
from lotline.settings import Settings
from lotline.wiring import Runtime
from producers.simulate import config_for_events, simulate
from store import reads
from store.pgcopy import copy_from
from store.schema import create_like_events

COLUMNS = ("position, recorded_at, event_key, is_declaration, event_id, event_type, event_time, event_tz_offset, "
           "biz_step, lot_keys, source_topic, source_partition, source_offset, body, row_hash")


def publish(rt: Runtime, n: int, seed: int) -> float:
    started = time.perf_counter()
    with rt.publisher() as pub:
        for event in simulate(config_for_events(n, seed=seed), limit=n):
            pub.publish(event)
    return n / (time.perf_counter() - started)


def ingest(rt: Runtime) -> dict[str, Any]:
    marks: list[tuple[float, int, float]] = []  # (time, events consumed, rss MB) after each batch
    cpu: list[tuple[float, ...]] = []  # (worker, postgres, broker) CPU seconds after each batch
    meter: list[CpuMeter] = []

    def on_batch(stats: IngestStats) -> None:
        marks.append((time.perf_counter(), stats.consumed, rss_mb()))
        if not meter:  # the worker's PostgreSQL backends exist once it has written
            meter.append(_meter(rt))
        cpu[1:] = [meter[0].read()]  # keeps the first reading and the latest
        if len(marks) == 1:
            cpu.insert(0, cpu[0])

    started = time.perf_counter()
    worker = rt.ingest_worker(until_idle=True, idle_timeout_s=20, on_batch=on_batch)
    stats = worker.run()
    first_t, first_n, _ = marks[0]
    last_t, last_n, _ = marks[-1]
    per_k = [(b - a) / max(last_n - first_n, 1) * 1e6 for a, b in zip(cpu[0], cpu[1], strict=True)]
    rss = [m[2] for m in marks]
    tenth = max(1, len(rss) // 10)
    deciles = [(n, rate, marks[end][2]) for n, rate, end in by_tenth([(t, n) for t, n, _ in marks])]
    return {
        "deciles": deciles,
        "events": stats.consumed,
        "rate": (last_n - first_n) / (last_t - first_t),
        "join_s": first_t - started,
        "rss_at_10pct": rss[tenth],
        "rss_peak": max(rss),
        "rss_end": rss[-1],
        "batches": len(marks),
        "cpu_worker_ms": per_k[0], "cpu_postgres_ms": per_k[1], "cpu_broker_ms": per_k[2],
    }


def _meter(rt: Runtime) -> CpuMeter:
    database = rt.engine.url.database or ""
    broker_port = (rt.settings.kafka_bootstrap or "").rsplit(":", 1)[-1]
    return CpuMeter(("postgres", f" {database} "), ("tansu", f":{broker_port} "))


def ingest_processes(rt: Runtime, processes: int) -> dict[str, Any]:
    """Run ``processes`` ``lotline ingest --until-idle`` processes in one group; rate from the store's own
    record times (first to last committed row), peak RSS summed over the processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTLINE_")}
    s = rt.settings
    env.update({"LOTLINE_KAFKA_BOOTSTRAP": s.kafka_bootstrap or "", "LOTLINE_DATABASE_URL": s.database_url or "",
                "LOTLINE_EVENTS_TOPIC": s.events_topic, "LOTLINE_CONSUMER_GROUP": s.consumer_group,
                "LOTLINE_BATCH_SIZE": str(s.batch_size), "LOTLINE_LOG_LEVEL": "WARNING"})
    procs = [subprocess.Popen([sys.executable, "-m", "lotline", "ingest", "--until-idle", "--idle-timeout", "20"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(processes)]
    peak = 0.0
    while any(p.poll() is None for p in procs):
        rss = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                rss += psutil.Process(p.pid).memory_info().rss / 2**20
        peak = max(peak, rss)
        time.sleep(0.5)
    n = rt.store.head()  # positions are gapless, and record times never decrease along them
    first, last = rt.store.read(0, 1)[0].recorded_at, rt.store.read(n - 1, 1)[0].recorded_at
    # the first batch's rows share one record time: count the span from the end of the first batch
    return {"events": n, "rate": n / max((last - first).total_seconds(), 1e-9), "rss_peak": peak}


def copy_baseline(url: str, batch: int) -> dict[str, float]:
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    cur = raw.cursor()
    head = reads.head(cur)
    lines = b"".join(reads.copy_chunks(cur, COLUMNS, 0, head, max(head, 1))).splitlines(keepends=True)
    rates = {}
    for mode in ("stream", "batched"):
        cur.execute("DROP TABLE IF EXISTS events_copy_baseline")
        create_like_events(cur, "events_copy_baseline", including_all=True)
        raw.commit()
        step = len(lines) if mode == "stream" else batch
        chunks = [b"".join(lines[i:i + step]) for i in range(0, len(lines), step)]
        started = time.perf_counter()
        for chunk in chunks:
            copy_from(cur, f"COPY events_copy_baseline ({COLUMNS}) FROM STDIN", chunk)
            raw.commit()
        rates[mode] = len(lines) / (time.perf_counter() - started)
    raw.close()
    engine.dispose()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--processes", type=int, default=1,
                        help="ingest processes in the group (above 1: subprocesses, rate from record times; the "
                             "later ones' group join rebalances the first, so use 1M events to amortise it)")
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    with broker() as bootstrap, scratch_database() as url:
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        rt = Runtime(Settings(kafka_bootstrap=bootstrap, database_url=url, events_topic=topic,
                              consumer_group=f"bench-{topic}", batch_size=args.batch_size))
        rt.ensure_topics()
        pub_rate = publish(rt, args.events, args.seed)
        result = ingest(rt) if args.processes == 1 else ingest_processes(rt, args.processes)
        assert result["events"] == args.events, result
        assert rt.store.count() == args.events
        copy = copy_baseline(url, args.batch_size)
        rt.engine.dispose()
    print(f"machine: {machine()}")
    print(f"events: {args.events:,}  batch size: {args.batch_size}")
    print(f"publish (simulate + Avro + produce): {pub_rate:,.0f} events/s")
    if args.processes == 1:
        print(f"ingest sustained: {result['rate']:,.0f} events/s over {result['batches']:.0f} batches "
              f"(group join {result['join_s']:.1f}s not counted)")
    else:
        print(f"ingest sustained, {args.processes} processes: {result['rate']:,.0f} events/s (first to last "
              f"record time); summed RSS peak {result['rss_peak']:.0f} MB")
    print(f"raw COPY, one stream: {copy['stream']:,.0f} rows/s; in {args.batch_size}-row transactions: "
          f"{copy['batched']:,.0f} rows/s")
    print(f"ratio ingest / raw COPY: {result['rate'] / copy['stream']:.2f} (one stream), "
          f"{result['rate'] / copy['batched']:.2f} (batched)")
    if args.processes == 1:
        print(f"CPU per 1,000 events: ingest worker {result['cpu_worker_ms']:.0f} ms, PostgreSQL "
              f"{result['cpu_postgres_ms']:.0f} ms, broker {result['cpu_broker_ms']:.0f} ms")
        print(f"consumer RSS: {result['rss_at_10pct']:.0f} MB at 10%, peak {result['rss_peak']:.0f} MB, "
              f"end {result['rss_end']:.0f} MB")
        print("by tenth of the run (events stored before it: events/s over it, RSS after it): " + "; ".join(
            f"{n:,}: {rate:,.0f}/s {mb:.0f} MB" for n, rate, mb in result["deciles"]))


if __name__ == "__main__":
    main()
