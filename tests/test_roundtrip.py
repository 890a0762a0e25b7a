"""Round trip without loss over the real path, for every GS1 example capture document:

JSON-LD or XML → model → Avro → Kafka (Tansu) → ``lotline ingest`` → PostgreSQL → ``lotline export`` →
JSON-LD → model, and every exported event has the CBV 2.0 hash (and the JSON-LD form) of its original.

GS1's examples reuse events across files: the same eventID with different content (AssociationEvent-h and
the XML association examples), the same event in JSON and XML, and the identical-hash set, six spellings of
one id-less event. The store rightly keeps one event per identity and dead-letters a different content under
a stored identity, so the files are split into batches in which every identity (eventID, else hash; plus the
declaration flag) is unique, and each batch gets its own topic and database. All batches are published
first and ingested by concurrent workers, so the whole run costs about one ingest.

Skipped files (see test_conformance.NOT_CAPTURE_DOCUMENTS): master-data documents and capture-job reports,
which hold no events. The query document (JSON/EPCISQueryDocument.jsonld) is included: its events are
ordinary events.
"""

from __future__ import annotations

import io
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from lotline.settings import Settings
from lotline.wiring import Runtime, make_engine
from producers.capture import parse_document, read_document
from projections.export import export_document
from schemas.epcis.event_hash import event_hash_id
from schemas.epcis.model import EPCISEvent
from schemas.formats.jsonld import dumps, event_to_json, loads
from schemas.formats.validation import SchemaValidator
from store.records import to_new_event
from tests.conftest import shared_path
from tests.test_conformance import capture_documents

XML_ONLY_SENSOR_REPORT = re.compile(r"sensorElementList/\d+/sensorReport/\d+/type")
"""The one JSON-schema complaint an export may raise: the XSD lets a sensorReport omit ``type`` (GS1's
SensorDataExamples.xml has two such reports), GS1's JSON schema requires it; an export cannot invent one."""


def batches(files: dict[str, list[EPCISEvent]]) -> list[list[str]]:
    """First-fit: put each file in the first batch that holds none of its identities."""
    out: list[tuple[set[tuple[str, bool]], list[str]]] = []
    for name, events in files.items():
        ids = {to_new_event(e).identity for e in events}
        assert len(ids) == len(events), f"{name} repeats an identity within itself"
        for seen, names in out:
            if not seen & ids:
                seen |= ids
                names.append(name)
                break
        else:
            out.append((set(ids), [name]))
    return [names for _, names in out]


@contextmanager
def scratch_runtime(kafka_bootstrap: str, pg_admin_url: str, template: str) -> Iterator[Runtime]:
    """A runtime on a fresh database (cloned from the migrated template) and a fresh topic."""
    name = f"lotline_rt_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = make_engine(pg_admin_url).url.set(database=name).render_as_string(hide_password=False)
    topic = f"roundtrip-{uuid.uuid4().hex[:10]}"
    rt = Runtime(Settings(kafka_bootstrap=kafka_bootstrap, database_url=url, events_topic=topic,
                          consumer_group=f"g-{topic}", batch_size=500, batch_timeout_s=0.2, log_format="console",
                          events_partitions=2))
    try:
        rt.ensure_topics()
        yield rt
    finally:
        if "engine" in rt.__dict__:
            rt.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def json_form(event: EPCISEvent) -> str:
    return dumps(event_to_json(event))


def test_every_gs1_capture_document_round_trips_through_kafka_and_the_store(
        kafka_bootstrap: str, pg_admin_url: str, pg_template: str) -> None:
    root = shared_path("gs1-epcis")
    files = {name: parse_document((root / Path(name)).read_bytes(), name) for name in capture_documents()}
    assert sum(map(len, files.values())) > 90
    groups = batches(files)
    assert len(groups) <= 8  # the identical-hash set needs six; keep the run cheap
    schema = SchemaValidator(root / "EPCIS-JSON-Schema.json")
    with ExitStack() as stack:
        runtimes = [stack.enter_context(scratch_runtime(kafka_bootstrap, pg_admin_url, pg_template))
                    for _ in groups]
        for rt, names in zip(runtimes, groups, strict=True):
            with rt.publisher() as pub:
                for name in names:
                    pub.publish_many(files[name])
        with ThreadPoolExecutor(len(runtimes)) as pool:
            stats = list(pool.map(lambda rt: rt.ingest_worker(until_idle=True, idle_timeout_s=10).run(), runtimes))
        for rt, names, st in zip(runtimes, groups, stats, strict=True):
            originals = [e for name in names for e in files[name]]
            assert (st.stored, st.dead_lettered, st.duplicates) == (len(originals), 0, 0), names
            out = io.StringIO()
            result = export_document(rt.engine, out, creation_date=None)
            assert result.events == len(originals)
            text = out.getvalue()
            problems = schema.json_problems(loads(text), "export")
            assert "\n".join(str(p) for p in problems if not XML_ONLY_SENSOR_REPORT.fullmatch(p.field or "")) == ""
            exported = read_document(text.encode(), "export.jsonld")
            assert exported.problems == []
            assert Counter(map(event_hash_id, exported.events)) == Counter(map(event_hash_id, originals)), names
            assert Counter(map(json_form, exported.events)) == Counter(map(json_form, originals)), names


def test_batches_keep_identities_apart() -> None:
    from tests.factories import declared, shipment

    a, b = shipment(1), shipment(2)
    files = {"x": [a, declared(a)], "y": [a], "z": [b], "w": [a]}
    assert batches(files) == [["x", "z"], ["y"], ["w"]]
    with pytest.raises(AssertionError, match="repeats an identity"):
        batches({"dup": [a, a]})
