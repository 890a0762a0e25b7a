"""Incremental projection: throughput as the lineage grows, and traces on the lineage it built.

    python -m bench.project --events 200000

1. Appends N simulated bakery events to a fresh store (straight to the store, no broker).
2. Runs the lineage projector as ``lotline project`` does (batches of 2,000) until caught up: events/s over
   the run and by tenth, so a slowdown with the size of the lineage shows.
3. Times backward and forward traces of ``--samples`` random lots on the lineage it built, then rebuilds the
   lineage from the store (``lotline replay``'s :func:`~projections.lineage.replay.rebuild`) and times the same traces
   again, in the same run: a lineage built batch by batch must answer as fast as a rebuilt one, whose build
   gathers planner statistics (the projector gathers its own, ``projections/statistics.py``).
"""

from __future__ import annotations

import argparse
import random
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.common import by_tenth, fill_store, machine, p50_p95_ms, scratch_database
from lotline.logconfig import configure_logging
from lotline.wiring import make_engine
from projections.framework import BatchResult, Projector, Target
from projections.lineage.projection import LIVE_SCHEMA, LineageProjection
from projections.lineage.replay import rebuild
from projections.lineage.trace import trace


def project(engine: Engine) -> tuple[float, list[tuple[int, float]]]:
    """Run the projector until caught up: (events/s, [(position at the start of each tenth, events/s over it)])."""
    marks: list[tuple[float, int]] = []

    def on_batch(_target: Target, result: BatchResult) -> None:
        marks.append((time.perf_counter(), result.position))

    started = time.perf_counter()
    Projector(engine, [Target(LineageProjection(), LIVE_SCHEMA)], batch_size=2000, on_batch=on_batch).run(
        until_idle=True)
    rate = marks[-1][1] / (marks[-1][0] - started)
    return rate, [(position, tenth_rate) for position, tenth_rate, _ in by_tenth(marks)]


def time_traces(engine: Engine, lots: list[str]) -> dict[str, tuple[float, float]]:
    """p50 and p95 in ms of backward and forward traces of ``lots``, on one open connection."""
    raw = engine.raw_connection()
    out = {}
    try:
        for direction in ("backward", "forward"):
            trace(raw, lots[0], direction)  # prepares the statement
            samples = []
            for lot in lots:
                t0 = time.perf_counter()
                trace(raw, lot, direction)
                samples.append(time.perf_counter() - t0)
            out[direction] = p50_p95_ms(samples)
    finally:
        raw.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    with scratch_database() as url:
        engine = make_engine(url)
        rows = fill_store(engine, args.events, args.seed)
        rate, tenths = project(engine)
        with engine.connect() as conn:
            lots = [f"{g}/{lot}" for g, lot in conn.execute(sa.text(f"SELECT gtin, lot FROM {LIVE_SCHEMA}.lots"))]
        sample = random.Random(args.seed).sample(sorted(lots), min(args.samples, len(lots)))
        incremental = time_traces(engine, sample)
        result = rebuild(engine, batch_size=5000)
        rebuilt = time_traces(engine, sample)
        engine.dispose()
    print(f"machine: {machine()}")
    print(f"store: {rows:,} events; lineage: {len(lots):,} lots")
    print(f"incremental projection: {rate:,.0f} events/s; by tenth (position: events/s): "
          + "; ".join(f"{p:,}: {r:,.0f}" for p, r in tenths))
    print(f"rebuild of the same store: {result.seconds:.1f} s ({rows / result.seconds:,.0f} events/s)")
    for direction in ("backward", "forward"):
        (a50, a95), (b50, b95) = incremental[direction], rebuilt[direction]
        print(f"{direction} traces of {len(sample)} lots, p50/p95 ms: incremental lineage {a50:.2f}/{a95:.2f}, "
              f"rebuilt {b50:.2f}/{b95:.2f} ({a95 / b95:.2f}× at p95)")


if __name__ == "__main__":
    main()
