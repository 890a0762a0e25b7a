"""The recall tables store large scopes and alert bodies lz4-compressed where the server has lz4, and are
created all the same where it does not (the embedded PostgreSQL is built without it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg2.errors
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lotline.embedded import EmbeddedPostgres
from projections.framework import transaction
from projections.recall.ddl import create_tables

COLUMNS = "SELECT c.relname || '.' || a.attname, a.attcompression FROM pg_attribute a " \
          "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace " \
          "WHERE n.nspname = 'recalls' AND (c.relname, a.attname) IN (('recalls', 'scope'), ('outbox', 'body'))"


def _has_lz4(engine: Engine) -> bool:
    with transaction(engine) as cur:
        try:
            cur.execute("CREATE TEMP TABLE probe (t text COMPRESSION lz4)")
        except psycopg2.errors.FeatureNotSupported:
            return False
        return True


def _compression(engine: Engine) -> dict[str, str]:
    with transaction(engine) as cur:
        cur.execute(COLUMNS)
        return dict(cur.fetchall())


def _create_twice_and_store_a_large_scope(engine: Engine) -> str | None:
    for _ in range(2):  # idempotent: the projection and the relay both create the tables when they start
        with transaction(engine) as cur:
            cur.execute("CREATE SCHEMA IF NOT EXISTS recalls")
            create_tables(cur)
    with transaction(engine) as cur:
        scope = "{" + ",".join(f'"lot:10614141000019/L{i}": {{"depth": {i % 3}}}' for i in range(5000)) + "}"
        cur.execute("INSERT INTO recalls.recalls (recall_id, gtin, lot, status, declared_position, scope) "
                    "VALUES ('r', '10614141000019', 'L', 'active', 1, %s)", (scope,))
        cur.execute("SELECT pg_column_compression(scope) FROM recalls.recalls")
        method: str | None = cur.fetchone()[0]
        return method


def test_large_values_are_lz4_compressed_where_the_server_has_lz4(engine: Engine) -> None:
    if not _has_lz4(engine):
        pytest.skip("this PostgreSQL was built without lz4")
    assert _create_twice_and_store_a_large_scope(engine) == "lz4"
    assert _compression(engine) == {"recalls.scope": "l", "outbox.body": "l"}


@pytest.fixture
def embedded_engine(tmp_path: Path) -> Iterator[Engine]:
    pg = EmbeddedPostgres(tmp_path / "pg").start()
    engine = sa.create_engine(pg.url)
    try:
        yield engine
    finally:
        engine.dispose()
        pg.stop()


def test_without_lz4_the_tables_are_created_with_the_default_compression(embedded_engine: Engine) -> None:
    if _has_lz4(embedded_engine):
        pytest.skip("this embedded PostgreSQL has lz4")
    assert _create_twice_and_store_a_large_scope(embedded_engine) == "pglz"
    assert _compression(embedded_engine) == {"recalls.scope": "", "outbox.body": ""}
