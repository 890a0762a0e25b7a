"""The spine through the real ``lotline`` command: db upgrade, simulate, ingest, store stats/verify."""

from __future__ import annotations

from lotline.settings import Settings
from tests.cli import lotline_env, run_lotline


def test_simulate_then_ingest_through_the_cli(settings: Settings) -> None:
    env = lotline_env(settings)
    up = run_lotline(["db", "upgrade"], env)
    assert up.returncode == 0 and "revision 0002" in up.stdout, up.stderr
    sim = run_lotline(["simulate", "--events", "500", "--seed", "3", "--loads", "0.5"], env)
    assert sim.returncode == 0, sim.stderr
    assert "published 500 events" in sim.stderr
    ing = run_lotline(["ingest", "--until-idle"], env)
    assert ing.returncode == 0, ing.stderr
    assert "consumed 500, stored 500, duplicates 0, dead-lettered 0" in ing.stderr
    stats = run_lotline(["store", "stats"], env)
    assert "Event store: 500 events" in stats.stdout
    assert "TransformationEvent" in stats.stdout and "shipping" in stats.stdout
    assert "loading" in stats.stdout  # pallets loaded into one load SSCC (--loads)
    verify = run_lotline(["store", "verify"], env)
    assert verify.returncode == 0 and "OK: 500 rows" in verify.stdout
    # running the same simulation again is harmless: the same event identities are stored once
    run_lotline(["simulate", "--events", "500", "--seed", "3", "--loads", "0.5"], env)
    again = run_lotline(["ingest", "--until-idle"], env)
    assert "stored 0, duplicates 500" in again.stderr
