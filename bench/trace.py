"""Lineage benchmark: the project's trace call against the raw recursive CTE, and rebuild against raw COPY.

1. A *layered* lineage (``--layers`` × ``--width`` lots, each lot made from 2-3 lots of the layer before,
   chosen near its own position) of ≥ 1M edges, and a *blended* one (inputs drawn from the whole layer
   before, so a trace reaches a large part of the graph). Both are COPYed straight into lineage schemas.
2. Trace timing, interleaved in the same run on the same tables, each going first in turn:
   ``projections.lineage.trace.trace`` end to end (lot lookup, traversal with depths, lot identifiers,
   shipment/receipt query, result objects) against the raw set-semantics recursive CTE returning the reached
   lot ids, and against that CTE joined to ``lots`` for the reached lots' GTIN, lot and identifiers (the least
   a statement returning those columns does). p50/p95 and lots reached.
3. Rebuild throughput: a simulated bakery of ``--events`` events is put in the store; raw COPY of the same
   event rows into a bare table is timed against ``projections.lineage.replay.rebuild`` (the stored JSON read out, its
   lineage rows extracted by the client and COPYed into bare tables, derive edges, index, analyse, catch up,
   switch), in ``--pairs`` pairs (3), reporting the medians and the median of the pairs' ratios.

Run: ``.venv/bin/python -m bench.trace`` (``--write`` replaces the latest run's figures at the head of
"Lineage traces" in docs/performance.md, leaving the dated history; ``--rebuild-only`` runs step 3 alone).
"""

from __future__ import annotations

import argparse
import io
import random
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from bench.common import fill_store, machine, p50_p95_ms, scratch_database
from lotline.logconfig import configure_logging
from lotline.wiring import make_engine
from projections.framework import ensure_checkpoint_table, read_checkpoint, write_checkpoint
from projections.lineage.ddl import TABLES, create_indexes, create_tables
from projections.lineage.projection import NAME
from projections.lineage.replay import rebuild
from projections.lineage.trace import trace
from schemas.epcis.identifiers import LotKey, gs1_check_digit
from store import reads
from store.pgcopy import copy_from
from store.schema import create_like_events

RAW = {
    "forward": "WITH RECURSIVE r(id) AS (SELECT %(s)s UNION SELECT e.dst FROM r JOIN {s}.lot_edges e "
               "ON e.src = r.id) SELECT id FROM r",
    "backward": "WITH RECURSIVE r(id) AS (SELECT %(s)s UNION SELECT e.src FROM r JOIN {s}.lot_edges e "
                "ON e.dst = r.id) SELECT id FROM r",
}
RAW_LOTS = {  # the same walk joined to lots: the least any statement returning the reached lots' columns does
    d: q.replace("SELECT id FROM r", "SELECT l.gtin, l.lot, l.identifiers FROM r JOIN {s}.lots l ON l.id = r.id")
    for d, q in RAW.items()
}
GTIN = "0614141" + "00001"
GTIN14 = "1" + GTIN[:12]
GTIN14 = GTIN14 + str(gs1_check_digit(GTIN14))


def _copy(cur: Any, table: str, rows: Any) -> None:
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(str(v) for v in row) + "\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table} FROM STDIN", buf)


def build_graph(engine: Engine, schema: str, layers: int, width: int, blended: bool, seed: int = 1) -> int:
    """COPY a synthetic lineage into ``schema``; returns the number of edges."""
    rng = random.Random(seed)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        create_tables(cur, schema)
        ensure_checkpoint_table(cur, schema)
        n = layers * width
        # lots.identifiers is what the trace returns (denormalised from lot_identifiers, as the projection does)
        _copy(cur, f"{schema}.lots (id, gtin, lot, identifiers)",
              ((i, GTIN14, f"B{i}", f"{{urn:epc:class:lgtin:0614141.100001.B{i}}}") for i in range(1, n + 1)))
        _copy(cur, f"{schema}.lot_identifiers (lot_id, identifier)",
              ((i, f"urn:epc:class:lgtin:0614141.100001.B{i}") for i in range(1, n + 1)))
        edges = 0
        buf = io.StringIO()
        for layer in range(1, layers):
            for j in range(width):
                dst = layer * width + j + 1
                srcs = set()
                for _ in range(rng.choice((2, 2, 3))):
                    k = rng.randrange(width) if blended else (j + rng.randint(-4, 4)) % width
                    srcs.add((layer - 1) * width + k + 1)
                for src in srcs:
                    buf.write(f"{src}\t{dst}\ttx:{dst}\n")
                    edges += 1
        buf.seek(0)
        cur.copy_expert(f"COPY {schema}.lot_edges (src, dst, tkey) FROM STDIN", buf)
        create_indexes(cur, schema)
        for table in TABLES:
            cur.execute(f"ANALYZE {schema}.{table}")
        read_checkpoint(cur, schema, NAME)
        write_checkpoint(cur, schema, NAME, 0)
        raw.commit()
        # VACUUM sets the visibility map, so index-only scans skip the heap (for both sides)
        dbapi: Any = raw.dbapi_connection
        dbapi.autocommit = True
        cur.execute(f"VACUUM ANALYZE {schema}.lot_edges")
        cur.execute(f"VACUUM ANALYZE {schema}.lots")
        dbapi.autocommit = False
    finally:
        raw.close()
    return edges


@dataclass
class Timing:
    p50_ms: float
    p95_ms: float
    lots_median: int
    lots_max: int


def _summary(samples: list[float], reached: list[int]) -> Timing:
    return Timing(*p50_p95_ms(samples), int(statistics.median(reached)), max(reached))


def time_traces(engine: Engine, schema: str, layers: int, width: int, n: int,
                seed: int = 2) -> tuple[Timing, Timing, Timing]:
    """Interleave the project's trace, the raw CTE and the raw CTE joined to ``lots`` (:data:`RAW_LOTS`) on ``n``
    random lots; returns (project, raw, raw with the lots' columns)."""
    rng = random.Random(seed)
    ours: list[float] = []
    raws: list[float] = []
    with_lots: list[float] = []
    our_lots: list[int] = []
    raw_lots: list[int] = []
    joined_lots: list[int] = []
    raw = engine.raw_connection()
    cur = raw.cursor()
    try:
        starts = []
        for i in range(n):
            direction = "backward" if i % 2 == 0 else "forward"
            layer = layers - 1 - rng.randrange(3) if direction == "backward" else rng.randrange(3)
            starts.append((direction, layer * width + rng.randrange(width) + 1))
        ours_conn = engine.raw_connection()  # both sides reuse an open connection
        for direction, lot_id in starts[:5]:  # warm caches
            trace(ours_conn, LotKey(GTIN14, f"B{lot_id}"), direction, schema=schema)
        def run_ours(direction: str, lot_id: int) -> None:
            t0 = time.perf_counter()
            result = trace(ours_conn, LotKey(GTIN14, f"B{lot_id}"), direction, schema=schema)
            ours.append(time.perf_counter() - t0)
            our_lots.append(len(result.lots))

        def raw_run(sql: dict[str, str], samples: list[float], reached: list[int]) -> Any:
            def run(direction: str, lot_id: int) -> None:
                t0 = time.perf_counter()
                cur.execute(sql[direction].format(s=schema), {"s": lot_id})
                rows = cur.fetchall()
                raw.commit()
                samples.append(time.perf_counter() - t0)
                reached.append(len(rows))
            return run

        runs = [run_ours, raw_run(RAW, raws, raw_lots), raw_run(RAW_LOTS, with_lots, joined_lots)]
        for i, (direction, lot_id) in enumerate(starts):
            # whichever runs later finds the start's pages in the CPU caches: each goes first in turn
            for run in runs[i % 3:] + runs[:i % 3]:
                run(direction, lot_id)
        ours_conn.close()
    finally:
        raw.close()
    assert our_lots == raw_lots == joined_lots, "the project's trace and the raw CTEs reached different lot sets"
    return _summary(ours, our_lots), _summary(raws, raw_lots), _summary(with_lots, joined_lots)


def rebuild_throughput(engine: Engine, n_events: int, repeat: int = 1) -> dict[str, float]:
    """Events/s of raw COPY of the event rows vs ``rebuild`` over the same rows: ``repeat`` pairs, each a COPY into
    a fresh bare table then a rebuild (from the second on, one that replaces a lineage, as a replay does); the
    medians, and the median of the pairs' ratios (a single COPY's time moved by up to 1.5× from one pair to the
    next on the machines measured)."""
    t0 = time.perf_counter()
    rows = fill_store(engine, n_events, seed=9)
    generate_s = time.perf_counter() - t0
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        head = reads.head(cur)
        dump = b"".join(reads.copy_chunks(cur, reads.EVENT_COLUMNS, 0, head, max(head, 1)))
    finally:
        raw.close()
    copies: list[float] = []
    rebuilds: list[float] = []
    for i in range(repeat):
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("DROP TABLE IF EXISTS copy_baseline")
            create_like_events(cur, "copy_baseline")
            cur.execute("CHECKPOINT")  # neither run pays for writing out the other's dirty pages
            raw.commit()
            t0 = time.perf_counter()
            copy_from(cur, f"COPY copy_baseline ({', '.join(reads.EVENT_COLUMNS)}) FROM STDIN", dump)
            raw.commit()
            copies.append(time.perf_counter() - t0)
            cur.execute("DROP TABLE copy_baseline")
            cur.execute("CHECKPOINT")
            raw.commit()
        finally:
            raw.close()
        rebuilds.append(rebuild(engine).seconds)
        print(f"  pair {i + 1}: raw COPY {copies[-1]:.2f} s, rebuild {rebuilds[-1]:.2f} s, "
              f"{copies[-1] / rebuilds[-1]:.2f}×", flush=True)
    copy_s, rebuild_s = statistics.median(copies), statistics.median(rebuilds)
    return {"events": rows, "generate_s": generate_s, "copy_s": copy_s, "copy_rate": rows / copy_s,
            "rebuild_s": rebuild_s, "rebuild_rate": rows / rebuild_s, "pairs": repeat,
            "ratio": statistics.median(c / r for c, r in zip(copies, rebuilds, strict=True))}


def _edges(engine: Engine, schema: str) -> int:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"SELECT count(*) FROM {schema}.lot_edges")
        row = cur.fetchone()
        assert row is not None
        return int(row[0])
    finally:
        raw.close()


Graph = tuple[int, Timing, Timing, Timing]  # edges; the trace, the raw CTE, the raw CTE with the lots' columns


def report(args: argparse.Namespace, layered: Graph, blended: Graph, rb: dict[str, float] | None) -> str:
    def row(name: str, edges: int, ours: Timing, raw: Timing, with_lots: Timing) -> str:
        return (f"| {name} | {edges:,} | {ours.lots_median:,} (max {ours.lots_max:,}) | {raw.p50_ms:.2f} | "
                f"{raw.p95_ms:.2f} | {with_lots.p95_ms:.2f} | {ours.p50_ms:.2f} | {ours.p95_ms:.2f} | "
                f"{ours.p95_ms / raw.p95_ms:.2f}× | {ours.p95_ms / with_lots.p95_ms:.2f}× |")

    return "\n".join([
        SECTION,
        "",
        f"Machine: {machine()}; PostgreSQL 15 on the same host. Measured by `.venv/bin/python -m bench.trace "
        f"--layers {args.layers} --width {args.width} --samples {args.samples} --events {args.events}` "
        f"({time.strftime('%Y-%m-%d')}).",
        "",
        "Trace = `projections.lineage.trace.trace()` end to end (lot lookup, traversal with smallest depths, lot "
        "identifiers, shipments/receipts with pallet resolution, result objects; one prepared statement), "
        "against the raw set-semantics recursive CTE returning the reached lot ids, both on an open connection "
        "(checking one out of the engine's pool adds 0.2-0.5 ms), interleaved on the same tables in the same "
        "run, each going first in turn; half backward from the last layers, half forward from the first. "
        "Beside it, the raw CTE joined to `lots` for the reached lots' GTIN, lot and identifiers (no depths, no "
        "movements, no result objects): the least a statement returning those columns does. All three reach the "
        "same lot sets (checked).",
        "",
        "| graph | edges | lots reached (median) | raw CTE p50 ms | raw p95 ms | raw + lots p95 ms | trace p50 ms "
        "| trace p95 ms | trace p95 / raw p95 | trace p95 / (raw + lots) p95 |",
        "|---|---|---|---|---|---|---|---|---|---|",
        row(f"layered {args.layers}×{args.width:,}", *layered),
        row(f"blended {args.layers}×{args.width:,}", *blended),
        "",
        *([] if rb is None else [
            f"Rebuild: {int(rb['events']):,} simulated bakery events, {int(rb['pairs'])} pairs (medians). Raw COPY "
            f"of the same event rows into a bare table: {rb['copy_s']:.2f} s ({rb['copy_rate']:,.0f} rows/s). "
            f"`lotline replay` (the stored JSON "
            f"read out, lineage rows extracted by the client and COPYed, derive edges, build indexes, analyse, "
            f"switch schemas): {rb['rebuild_s']:.2f} s "
            f"({rb['rebuild_rate']:,.0f} events/s), i.e. {rb['ratio']:.2f}× raw COPY (median of the pairs' ratios).",
            ""]),
    ])


SECTION = "### The latest `bench.trace --write` run"


def write_section(text: str, path: Path = Path("docs/performance.md")) -> None:
    """Replace :data:`SECTION` (or put it first under ``## Lineage traces``), leaving the dated history below it
    and every other section alone."""
    old = path.read_text() if path.exists() else "# Performance\n\n## Lineage traces\n"
    pattern = re.compile(re.escape(SECTION) + r"\n.*?(?=\n##+ |\Z)", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip() + "\n", old)
    elif "## Lineage traces\n" in old:
        new = old.replace("## Lineage traces\n", "## Lineage traces\n\n" + text.rstrip() + "\n", 1)
    else:
        new = old.rstrip() + "\n\n## Lineage traces\n\n" + text
    path.write_text(new)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=20)
    p.add_argument("--width", type=int, default=25_000)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--blended-samples", type=int, default=6)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--skip-rebuild", action="store_true", help="time the traces only")
    p.add_argument("--write", action="store_true", help="update docs/performance.md")
    p.add_argument("--rebuild-only", action="store_true", help="only the rebuild against raw COPY (no graphs)")
    p.add_argument("--pairs", type=int, default=3, help="raw COPY / rebuild pairs (medians are reported)")
    args = p.parse_args()
    configure_logging("console", "WARNING")
    if args.rebuild_only:
        with scratch_database() as url:
            engine = make_engine(url)
            alone = rebuild_throughput(engine, args.events, args.pairs)
            engine.dispose()
        print(f"rebuild: {alone}")
        print(f"medians of {args.pairs} pairs: raw COPY {alone['copy_s']:.2f} s ({alone['copy_rate']:,.0f} rows/s); "
              f"rebuild {alone['rebuild_s']:.2f} s ({alone['rebuild_rate']:,.0f} events/s); "
              f"{alone['ratio']:.2f}× raw COPY")
        return
    with scratch_database() as url:
        engine = make_engine(url)
        t0 = time.perf_counter()
        edges = build_graph(engine, "bench_layered", args.layers, args.width, blended=False)
        print(f"layered graph: {edges:,} edges in {time.perf_counter() - t0:.1f}s", flush=True)
        ours, raw, with_lots = time_traces(engine, "bench_layered", args.layers, args.width, args.samples)
        layered = (edges, ours, raw, with_lots)
        print(f"layered: raw p50 {raw.p50_ms:.2f} p95 {raw.p95_ms:.2f} | raw + lots p50 {with_lots.p50_ms:.2f} "
              f"p95 {with_lots.p95_ms:.2f} | trace p50 {ours.p50_ms:.2f} p95 {ours.p95_ms:.2f} ms | lots "
              f"{ours.lots_median} (max {ours.lots_max})", flush=True)
        edges_b = build_graph(engine, "bench_blended", args.layers, args.width, blended=True)
        ours_b, raw_b, with_lots_b = time_traces(engine, "bench_blended", args.layers, args.width,
                                                 args.blended_samples)
        blended = (edges_b, ours_b, raw_b, with_lots_b)
        print(f"blended: raw p50 {raw_b.p50_ms:.1f} p95 {raw_b.p95_ms:.1f} | raw + lots p95 {with_lots_b.p95_ms:.1f} "
              f"| trace p50 {ours_b.p50_ms:.1f} p95 {ours_b.p95_ms:.1f} ms | lots {ours_b.lots_median} "
              f"(max {ours_b.lots_max})", flush=True)
        rb = None if args.skip_rebuild else rebuild_throughput(engine, args.events, args.pairs)
        print(f"rebuild: {rb}", flush=True)
        engine.dispose()
    text = report(args, layered, blended, rb)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
