"""The demo's three answers over a simulated bakery (store → projection → answers printed)."""

from __future__ import annotations

import io

from rich.console import Console

from lotline.demo_answers import answer_three_questions, pick_cookie_lot
from producers.simulate import SimulationLog, config_for_events, simulate
from store.postgres import PostgresEventStore
from store.records import to_new_event
from tests.lineage_builders import project


def test_three_questions_name_the_batch_ingredients_suppliers_and_customers(pg_store: PostgresEventStore) -> None:
    log = SimulationLog()
    events = list(simulate(config_for_events(800, seed=4), limit=800, log=log))
    pg_store.append([to_new_event(e) for e in events])
    project(pg_store.engine)
    lot = pick_cookie_lot(pg_store.engine)
    assert lot is not None
    facts = next(f for f in log.cookie_lots.values() if f.lot_key == lot)
    buf = io.StringIO()
    answer_three_questions(pg_store.engine, Console(file=buf, width=200))
    text = buf.getvalue()
    assert "1. Which batch did it come from?" in text
    for dough in facts.dough_lots:
        assert dough.rsplit(".", 1)[1] in text
    for ingredient in facts.ingredient_lots:
        assert log.ingredient_lots[ingredient].supplier_pgln in text
    assert "customers received product sharing an ingredient lot" in text
