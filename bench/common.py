"""What every benchmark needs: a scratch database, a broker, the machine's description, RSS sampling."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator

import psutil

from consumers import schema as store_schema
from lotline.embedded import EmbeddedKafka, free_port
from lotline.wiring import make_engine

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def machine() -> str:
    """One line naming the machine the figures come from."""
    mem = psutil.virtual_memory().total / 2**30
    cpu = platform.processor() or platform.machine()
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


@contextlib.contextmanager
def scratch_database(admin_url: str | None = None) -> Iterator[str]:
    """A fresh, migrated database (dropped afterwards); yields its URL."""
    admin_url = admin_url or os.environ.get("LOTLINE_BENCH_PG_URL", DEFAULT_ADMIN_URL)
    with store_schema.scratch_database(make_engine(admin_url).url.render_as_string(hide_password=False),
                                       "lotline_bench") as (_, url):
        yield url


@contextlib.contextmanager
def broker() -> Iterator[str]:
    """``LOTLINE_KAFKA_BOOTSTRAP`` when set, else an embedded Tansu broker for the run."""
    bootstrap = os.environ.get("LOTLINE_KAFKA_BOOTSTRAP")
    if bootstrap:
        yield bootstrap
        return
    kafka = EmbeddedKafka(free_port()).start()
    try:
        yield kafka.bootstrap
    finally:
        kafka.stop()
