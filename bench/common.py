"""What every benchmark needs: a scratch database, a broker, the machine's description, RSS sampling."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
from collections.abc import Iterator, Sequence

import psutil
from sqlalchemy.engine import Engine

from lotline.embedded import EmbeddedKafka, free_port
from lotline.wiring import make_engine
from producers.simulate import config_for_events, simulate
from store import schema as store_schema
from store.postgres import PostgresEventStore
from store.records import to_new_event

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def machine() -> str:
    """One line naming the machine the figures come from."""
    mem = psutil.virtual_memory().total / 2**30
    cpu = platform.processor() or platform.machine()
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def fill_store(engine: Engine, n: int, seed: int) -> int:
    """Append ``n`` simulated bakery events straight to the store (no broker), 5,000 a transaction; returns the
    store's row count."""
    store = PostgresEventStore(engine)
    batch = []
    for event in simulate(config_for_events(n, seed=seed), limit=n):
        batch.append(to_new_event(event))
        if len(batch) == 5000:
            store.append(batch)
            batch = []
    if batch:
        store.append(batch)
    return store.count()


def by_tenth(marks: Sequence[tuple[float, int]]) -> list[tuple[int, float, int]]:
    """Progress by tenth of a run, from ``(time, count so far)`` marks: per tenth, the count at its start, the
    rate over it (per second), and the index of the mark that ends it."""
    k = max(1, len(marks) // 10)
    return [(marks[i][1], (marks[i + k][1] - marks[i][1]) / (marks[i + k][0] - marks[i][0]), i + k)
            for i in range(0, len(marks) - k, k)]


def p50_p95_ms(samples: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile (the sample at 95%, rounded down) of durations in seconds, in milliseconds."""
    s = sorted(samples)
    return statistics.median(s) * 1000, s[max(0, int(len(s) * 0.95) - 1)] * 1000


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


class CpuMeter:
    """CPU time (user + system) used so far by this process and by the processes of a given name whose
    command line contains a marker (``postgres`` and the database name for the backends serving a benchmark,
    ``tansu`` and its port for its broker). The processes are looked up once, so a reading costs a few
    ``/proc`` reads. Per-component CPU per event reads more steadily than wall time on a shared machine."""

    def __init__(self, *components: tuple[str, str]) -> None:
        self._groups = [[p for p in psutil.process_iter(["name", "cmdline"])
                         if p.info["name"] == name and marker in " ".join(p.info["cmdline"] or ())]
                        for name, marker in components]
        self._self = psutil.Process()

    def read(self) -> tuple[float, ...]:
        """Seconds of CPU: this process first, then each component in the order given."""
        return (_cpu(self._self), *(sum(_cpu(p) for p in group) for group in self._groups))


def _cpu(proc: psutil.Process) -> float:
    try:
        t = proc.cpu_times()
    except psutil.Error:  # a backend that has gone: its time is no longer counted
        return 0.0
    return float(t.user + t.system)


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
