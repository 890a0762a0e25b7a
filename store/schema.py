"""Creating and upgrading the event-store schema with Alembic (``lotline db upgrade``)."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on ``engine``'s database."""
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str, *, template: str | None = None) -> Iterator[tuple[str, str]]:
    """A new database (a copy of ``template``, else empty and migrated to head), dropped on exit.

    Yields ``(name, url)``; for tests and benchmarks, which each need a store of their own.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        if template is None:
            engine = sa.create_engine(url)
            try:
                upgrade(engine)
            finally:
                engine.dispose()
        yield name, url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def create_like_events(cur: Any, table: str, *, including_all: bool = False) -> None:
    """Create an empty ``table`` with the columns of the event store's table (with ``including_all``, also its
    defaults, constraints and indexes; never its triggers), on the psycopg2 cursor ``cur``: the baseline the
    benchmarks COPY the store's rows into."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
        raise ValueError(f"unsafe table name {table!r}")
    cur.execute(f'CREATE TABLE "{table}" (LIKE events{" INCLUDING ALL" if including_all else ""})')
