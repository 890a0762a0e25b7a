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


def cpu_seconds(name: str | None = None, marker: str = "") -> float:
    """CPU time (user + system) used so far by this process, or, with ``name``, summed over the processes of
    that name whose command line contains ``marker`` (``postgres`` and the database name for the backends
    serving a benchmark, ``tansu`` and its port for its broker). Per-component CPU per event reads more
    steadily than wall time on a shared two-core machine."""
    if name is None:
        t = psutil.Process().cpu_times()
        return float(t.user + t.system)
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        info = proc.info
        if info["name"] == name and info["cpu_times"] is not None and marker in " ".join(info["cmdline"] or ()):
            total += info["cpu_times"].user + info["cpu_times"].system
    return total


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
