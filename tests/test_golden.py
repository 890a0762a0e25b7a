"""Recorded answers on a fixed simulated bakery: traces (JSON and CSV), recall alerts and the demo's answers.

These fixtures pin what Lotline says, so that a change of structure (where a rule lives, how the store is read)
cannot change an answer unnoticed. A deliberate change of an answer re-records them:
``LOTLINE_UPDATE_GOLDEN=1 ./dev test tests/test_golden.py``, and the diff of ``tests/fixtures/golden/`` shows
what changed.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy.engine import Engine

from lotline.demo_answers import answer_three_questions, pick_cookie_lot
from lotline.render import to_csv
from producers.simulate import config_for_events, simulate
from projections.framework import Projector, Target
from projections.lineage.projection import LIVE_SCHEMA, LineageProjection
from projections.lineage.trace import Direction, trace
from projections.recall.projection import RecallTarget
from schemas.epcis.identifiers import LotKey
from schemas.recall import AlertCodec, recall_event
from store.postgres import PostgresEventStore
from store.records import to_new_event

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
UPDATE = os.environ.get("LOTLINE_UPDATE_GOLDEN") == "1"
EVENTS, SEED = 1500, 11
RECALL_TIME = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)


def check(name: str, text: str) -> None:
    """Compare ``text`` with the recorded fixture ``name`` (or record it with ``LOTLINE_UPDATE_GOLDEN=1``)."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} is not recorded: run with LOTLINE_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its recorded answer in {path}"


def _project(engine: Engine) -> None:
    Projector(engine, [Target(LineageProjection(), LIVE_SCHEMA), RecallTarget(LIVE_SCHEMA)],
              batch_size=500).run(until_idle=True)


@pytest.fixture(scope="module")
def bakery(pg_admin_url: str, pg_template: str) -> Iterator[Engine]:
    """A 1,500-event bakery (a third of multi-pallet shipments in load SSCCs), stored and projected."""
    from lotline.wiring import make_engine
    from store import schema as store_schema
    from tests.conftest import _admin

    with store_schema.scratch_database(_admin(pg_admin_url), "lotline_golden", template=pg_template) as (_, url):
        engine = make_engine(url)
        store = PostgresEventStore(engine)
        events = simulate(config_for_events(EVENTS, seed=SEED, load_probability=1 / 3), limit=EVENTS)
        store.append([to_new_event(e) for e in events])
        _project(engine)
        yield engine
        engine.dispose()


def _lots(engine: Engine) -> tuple[LotKey, LotKey]:
    """The demo's cookie lot, and its deepest received ingredient lot (the one a recall starts from)."""
    cookie = pick_cookie_lot(engine)
    assert cookie is not None
    back = trace(engine, cookie, Direction.BACKWARD)
    received = {(m.gtin, m.lot_number) for m in back.movements}
    deepest = max((x for x in back.lots if (x.gtin, x.lot_number) in received), key=lambda x: (x.depth, x.lot_number))
    return cookie, LotKey(deepest.gtin, deepest.lot_number)


def _check_traces(engine: Engine) -> None:
    for name, lot in zip(("cookie", "ingredient"), _lots(engine), strict=True):
        for direction in Direction:
            t = trace(engine, lot, direction)
            check(f"trace-{name}-{direction.value}.json", t.to_json() + "\n")
            check(f"trace-{name}-{direction.value}-lots.csv", to_csv(t, "lots"))
            check(f"trace-{name}-{direction.value}-{t.movement_label}.csv", to_csv(t, t.movement_label))


def test_traces_answer_as_recorded(bakery: Engine) -> None:
    _check_traces(bakery)


def test_a_rebuilt_lineage_answers_as_recorded(bakery: Engine) -> None:
    """The rebuild path (bulk extraction from the stored events) gives the incremental path's answers."""
    from projections.lineage.replay import rebuild

    rebuild(bakery)
    _check_traces(bakery)


def test_demo_answers_as_recorded(bakery: Engine) -> None:
    buf = io.StringIO()
    answer_three_questions(bakery, Console(file=buf, width=200, color_system=None))
    # timings aside, and the padding that centres a title holding one
    text = re.sub(r"\d+(\.\d+)? ms", "<t> ms", buf.getvalue())
    text = "".join(re.sub(r" {2,}", " ", line).strip() + "\n" for line in text.splitlines())
    check("demo-answers.txt", text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "createdAt"}  # when it was written
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def test_recall_alert_as_recorded(bakery: Engine) -> None:
    _, ingredient = _lots(bakery)
    event = dataclasses.replace(recall_event(ingredient, "Salmonella in retained sample", when=RECALL_TIME),
                                event_id="urn:uuid:6f1c1f0e-3d4b-4b0e-9a49-6f6b1b3f0001")
    PostgresEventStore(bakery).append([to_new_event(event)])
    _project(bakery)
    codec = AlertCodec()
    raw = bakery.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT body FROM recalls.outbox ORDER BY id")
        alerts = [codec.schema.read_body(bytes(body)) for (body,) in cur.fetchall()]
    finally:
        raw.close()
    assert len(alerts) == 1
    check("recall-alert.json", json.dumps(_jsonable(alerts[0]), indent=2, default=str) + "\n")
