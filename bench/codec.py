"""Codec throughput per core: JSON-LD parse, validation, Avro encode/decode, CBV hashing.

    python -m bench.codec --events 20000

Runs single-threaded on simulated bakery events (``producers.simulate``), each stage timed alone on the
same events, best of ``--repeat`` runs. The JSON schema stage needs GS1's EPCIS-JSON-Schema.json:
``LOTLINE_EPCIS_JSON_SCHEMA``, else ``../shared/gs1-epcis/EPCIS-JSON-Schema.json`` when present.
The figures are compared with ingest's measured rate (docs/performance.md): no codec stage may be the
pipeline's bottleneck.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import machine
from producers.simulate import config_for_events, simulate
from schemas.avro.codec import EventCodec
from schemas.epcis.event_hash import event_hash_id
from schemas.epcis.model import EPCISEvent
from schemas.formats.jsonld import document, document_events, dumps, loads
from schemas.formats.validation import SchemaValidator
from schemas.formats.wire import validate_event
from store.records import checked_row
from store.rows import stage

INGEST_EVENTS_PER_S = 24000
"""Sustained one-process ingest measured by bench/ingest.py on 2026-12-03 (docs/performance.md: 23.8K events/s
over 1M events), the rate each stage must beat."""

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "gs1-epcis" / "EPCIS-JSON-Schema.json"


def timed(fn: Callable[[], Any], n: int, repeat: int) -> float:
    """Events per second of ``fn`` (which handles ``n`` events), best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return n / best


def run(n: int, repeat: int, schema_path: Path | None) -> list[tuple[str, float]]:
    events: list[EPCISEvent] = list(simulate(config_for_events(n, seed=1), limit=n))
    text = dumps(document(events)).encode()
    doc = loads(text)
    codec = EventCodec()
    messages = [codec.encode(e) for e in events]
    rows: list[tuple[str, float]] = []

    rows.append(("JSON-LD parse (bytes → model)", timed(lambda: document_events(loads(text)), n, repeat)))
    def validate_all() -> None:
        for e in events:
            validate_event(e)

    def ingest_per_message() -> None:  # what consumers/ingest.py does with each message
        for m in messages:
            stage(checked_row(codec.decode_record(m)))

    rows.append(("model validation (validate())", timed(validate_all, n, repeat)))
    if schema_path is not None:
        validator = SchemaValidator(schema_path)
        problems = validator.json_problems(doc, "bench")
        assert not problems, problems[:3]
        schema_rate = timed(lambda: validator.json_problems(doc, "bench"), n, repeat)
        rows.append(("GS1 JSON schema validation", schema_rate))

        def capture_path() -> None:
            from producers.capture import read_document

            result = read_document(text, "bench", validator)
            assert result.ok

        rows.append(("capture: parse + JSON schema + model", timed(capture_path, n, repeat)))
    rows.append(("Avro encode (model → message)", timed(lambda: [codec.encode(e) for e in events], n, repeat)))
    rows.append(("Avro decode (message → model)", timed(lambda: [codec.decode(m) for m in messages], n, repeat)))
    rows.append(("Avro decode (message → record)",
                 timed(lambda: [codec.decode_record(m) for m in messages], n, repeat)))
    rows.append(("ingest per message: decode record + checked row + staged COPY row",
                 timed(ingest_per_message, n, repeat)))
    rows.append(("CBV 2.0 hash (event_hash_id)", timed(lambda: [event_hash_id(e) for e in events], n, repeat)))
    return rows


def table(rows: list[tuple[str, float]], n: int) -> str:
    lines = [f"machine: {machine()}", f"{n} simulated events, one core, best of runs", "",
             f"| stage | events/s per core | vs ingest ~{INGEST_EVENTS_PER_S // 1000}K/s |", "|---|---:|---:|"]
    for name, rate in rows:
        verdict = f"{rate / INGEST_EVENTS_PER_S:.1f}×"
        lines.append(f"| {name} | {rate:,.0f} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json-schema", default=os.environ.get("LOTLINE_EPCIS_JSON_SCHEMA"))
    args = parser.parse_args()
    schema = Path(args.json_schema) if args.json_schema else (DEFAULT_SCHEMA if DEFAULT_SCHEMA.is_file() else None)
    if schema is None:
        print("(no JSON schema: LOTLINE_EPCIS_JSON_SCHEMA unset and ../shared absent; schema rows skipped)")
    print(table(run(args.events, args.repeat, schema), args.events))


if __name__ == "__main__":
    main()
