"""The PostgreSQL event store cannot be changed in place, and a change made anyway is found."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lotline.settings import Settings
from store.postgres import PostgresEventStore
from tests.cli import lotline_env, run_lotline
from tests.factories import row


@pytest.fixture
def filled(pg_store: PostgresEventStore) -> PostgresEventStore:
    pg_store.append([row(i) for i in range(1, 11)])
    return pg_store


@pytest.mark.parametrize("statement", [
    "UPDATE events SET biz_step = 'receiving' WHERE position = 3",
    "DELETE FROM events WHERE position = 3",
    "TRUNCATE events",
])
def test_update_delete_truncate_are_rejected(filled: PostgresEventStore, engine: Engine, statement: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert filled.count() == 10
    assert filled.verify().ok


def _store_settings(database_url: str) -> Settings:
    return Settings(kafka_bootstrap="127.0.0.1:1", database_url=database_url)


def test_verify_finds_a_row_changed_with_triggers_disabled(filled: PostgresEventStore, engine: Engine,
                                                           database_url: str) -> None:
    env = lotline_env(_store_settings(database_url))
    ok = run_lotline(["store", "verify"], env)
    assert ok.returncode == 0, ok.stderr
    assert "OK: 10 rows" in ok.stdout
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE events DISABLE TRIGGER USER"))
        conn.execute(sa.text("UPDATE events SET body = replace(body::text, :a, :b)::json WHERE position = 6"),
                     {"a": '"quantity":40', "b": '"quantity":4'})
        conn.execute(sa.text("ALTER TABLE events ENABLE TRIGGER USER"))
    bad = run_lotline(["store", "verify"], env)
    assert bad.returncode == 1
    assert "BROKEN at position 6" in bad.stderr


def test_verify_finds_a_deleted_row(filled: PostgresEventStore, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("SET session_replication_role = replica"))  # what a superuser could do
        conn.execute(sa.text("DELETE FROM events WHERE position = 4"))
    result = filled.verify()
    assert not result.ok and result.first_bad_position == 4
    assert "missing" in (result.problem or "")


def test_ingest_role_may_insert_and_read_but_not_change(filled: PostgresEventStore, engine: Engine) -> None:
    """The least-privilege role of docs/store.md: INSERT and SELECT only."""
    from pathlib import Path

    sql = (Path(__file__).resolve().parents[1] / "deploy" / "sql" / "ingest-role.sql").read_text()
    role = f"lotline_ingest_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
        conn.execute(sa.text(sql.replace("lotline_ingest", role).replace(":'password'", "'x'")))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL ROLE {role}"))
            assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one() == 10
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(1)"))
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL ROLE {role}"))
            conn.execute(sa.text("UPDATE events SET biz_step = NULL"))
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL ROLE {role}"))
            conn.execute(sa.text("DELETE FROM events"))
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
