"""Settings come from LOTLINE_* variables; librdkafka keys pass through unchanged; engines add their session
options to the ones given."""

from __future__ import annotations

import signal
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from lotline.cli import main
from lotline.settings import Settings, load_settings
from lotline.wiring import Runtime, make_engine


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLINE_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("LOTLINE_DATABASE_URL", "postgresql://u@db/lotline")
    monkeypatch.setenv("LOTLINE_KAFKA_CONFIG", '{"security.protocol": "SASL_SSL", "session.timeout.ms": 10000}')
    monkeypatch.setenv("LOTLINE_EVENTS_TOPIC", "plant.events")
    monkeypatch.setenv("LOTLINE_BATCH_SIZE", "750")
    s = load_settings()
    assert s.database_url == "postgresql://u@db/lotline"
    assert s.dlq_topic == "plant.events.dlq"
    assert s.batch_size == 750
    conf = s.kafka_client_config(**{"session.timeout.ms": 6000, "group.id": "g"})
    assert conf["bootstrap.servers"] == "k1:9092,k2:9092"
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["session.timeout.ms"] == 10000  # the operator's librdkafka keys win over Lotline's defaults
    assert conf["group.id"] == "g"


def test_bad_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLINE_BATCH_SIZE", "zero")
    with pytest.raises(ValueError, match="batch_size"):
        load_settings()


def test_kafka_needs_a_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOTLINE_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(RuntimeError, match="LOTLINE_KAFKA_BOOTSTRAP"):
        load_settings().kafka_client_config()


def test_engines_run_sessions_with_jit_off_and_keep_the_options_they_are_given(database_url: str) -> None:
    """A trace's plan cost is estimated from the lineage, not the lot traced; where it passes jit_above_cost,
    JIT compilation would add ~130 ms to every trace (lotline/wiring.py). Options the user gives still apply,
    after Lotline's."""
    def show(engine: Engine, *names: str) -> list[str]:
        with engine.connect() as conn:
            return [conn.execute(sa.text(f"SHOW {n}")).scalar_one() for n in names]

    assert show(make_engine(database_url), "jit") == ["off"]
    url = sa.engine.make_url(database_url).update_query_dict({"options": "-c jit=on -c work_mem=7MB"})
    assert show(make_engine(url.render_as_string(hide_password=False)), "jit", "work_mem") == ["on", "7MB"]
    given = make_engine(database_url, connect_args={"options": "-c work_mem=9MB", "connect_timeout": 5})
    assert show(given, "jit", "work_mem") == ["off", "9MB"]


TUNABLES = {  # setting: a value other than its default
    "ingest_idle_timeout_s": 4.0, "project_batch_size": 11, "project_poll_s": 0.3, "replay_batch_size": 17,
    "relay_batch_size": 13, "relay_poll_s": 2.0, "relay_flush_timeout_s": 9.0, "publisher_flush_timeout_s": 7.0,
}


def _set_env(monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, database_url: str) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"LOTLINE_{name.upper()}", raising=False)
    monkeypatch.setenv("LOTLINE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("LOTLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("LOTLINE_LOG_FORMAT", "json")
    for name, value in TUNABLES.items():
        monkeypatch.setenv(f"LOTLINE_{name.upper()}", str(value))


def test_tunables_from_the_environment_reach_the_components(monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str,
                                                            database_url: str) -> None:
    _set_env(monkeypatch, kafka_bootstrap, database_url)
    rt = Runtime(load_settings())
    with rt.publisher() as pub:
        assert pub.flush_timeout_s == 7.0
    projector = rt.projector([])
    assert (projector.batch_size, projector.poll_interval_s) == (11, 0.3)
    relay = rt.relay()
    assert (relay.batch_size, relay.poll_s, relay.flush_timeout_s) == (13, 2.0, 9.0)
    assert rt.ingest_worker().options.idle_timeout_s == 4.0
    assert rt.ingest_worker(idle_timeout_s=1.5).options.idle_timeout_s == 1.5  # an explicit argument wins
    rt.engine.dispose()


def test_the_defaults_are_the_components_own() -> None:
    """The settings keep the values the components had before they were settings."""
    s = Settings()
    assert (s.batch_size, s.batch_timeout_s, s.ingest_idle_timeout_s) == (2000, 0.5, 15.0)
    assert (s.project_batch_size, s.project_poll_s) == (1000, 0.5)
    assert s.replay_batch_size is None  # the rebuild's own: 10,000 rows per bulk read, 5,000 per catch-up batch
    assert (s.relay_batch_size, s.relay_poll_s, s.relay_flush_timeout_s) == (500, 5.0, 30.0)
    assert (s.publisher_flush_timeout_s, s.alerts_tail_poll_s) == (60.0, 0.5)
    assert (s.admin_timeout_s, s.schema_registry_timeout_s) == (15.0, 10.0)


class _Seen:
    """What the commands handed to the (patched) components."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from consumers.ingest import IngestStats, IngestWorker
        from projections.framework import Projector, ProjectorStats
        from projections.lineage import replay
        from projections.recall.relay import OutboxRelay

        self.values: dict[str, Any] = {}
        monkeypatch.setattr(signal, "signal", lambda *_: None)
        monkeypatch.setattr(Runtime, "ensure_topics", lambda _self: None)

        def project(p: Projector, *, until_idle: bool = False) -> ProjectorStats:
            self.values.update(project_batch_size=p.batch_size, project_poll_s=p.poll_interval_s)
            return ProjectorStats(position=1)

        def ingest(w: IngestWorker) -> IngestStats:
            self.values.update(ingest_idle_timeout_s=w.options.idle_timeout_s, consumer_group=w.options.group)
            return IngestStats()

        def relay(r: OutboxRelay, *, until_idle: bool = False, poll_s: float | None = None) -> int:
            self.values.update(relay_batch_size=r.batch_size)
            return 0

        def rebuild(engine: Any, *, batch_size: int, **_: Any) -> replay.BuildResult:
            self.values.update(replay_batch_size=batch_size)
            return replay.BuildResult("lineage", 0, 0, 0.0)

        monkeypatch.setattr(Projector, "run", project)
        monkeypatch.setattr(IngestWorker, "run", ingest)
        monkeypatch.setattr(IngestWorker, "install_signal_handlers", lambda _self: None)
        monkeypatch.setattr(OutboxRelay, "run", relay)
        monkeypatch.setattr(replay, "rebuild", rebuild)
        monkeypatch.setattr(replay, "store_head", lambda _engine: 0)


COMMANDS = [  # command, option, setting, value given on the command line
    (["project", "--until-idle"], "--batch-size", "project_batch_size", 7),
    (["project", "--until-idle"], "--poll", "project_poll_s", 0.25),
    (["ingest", "--until-idle"], "--idle-timeout", "ingest_idle_timeout_s", 3.0),
    (["ingest", "--until-idle"], "--group", "consumer_group", "other-group"),
    (["alerts", "relay", "--until-idle"], "--batch-size", "relay_batch_size", 3),
    (["replay"], "--batch-size", "replay_batch_size", 5),
]


@pytest.mark.parametrize(("command", "option", "setting", "value"), COMMANDS)
def test_a_command_line_option_overrides_its_setting(monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str,
                                                     database_url: str, command: list[str], option: str,
                                                     setting: str, value: Any) -> None:
    _set_env(monkeypatch, kafka_bootstrap, database_url)
    monkeypatch.setenv("LOTLINE_CONSUMER_GROUP", "env-group")
    seen = _Seen(monkeypatch)
    result = CliRunner().invoke(main, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert seen.values[setting] == TUNABLES.get(setting, "env-group")  # left out: the environment's value
    result = CliRunner().invoke(main, [*command, option, str(value)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert seen.values[setting] == value


def test_replay_leaves_its_batch_sizes_to_the_rebuild_unless_told(monkeypatch: pytest.MonkeyPatch,
                                                                 kafka_bootstrap: str, database_url: str) -> None:
    _set_env(monkeypatch, kafka_bootstrap, database_url)
    monkeypatch.delenv("LOTLINE_REPLAY_BATCH_SIZE")
    seen = _Seen(monkeypatch)
    result = CliRunner().invoke(main, ["replay"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert seen.values["replay_batch_size"] is None


def test_options_show_their_setting_and_are_checked_like_it() -> None:
    runner = CliRunner()
    help_text = " ".join(runner.invoke(main, ["project", "--help"]).output.split())
    assert "[env var: LOTLINE_PROJECT_BATCH_SIZE; default: 1000; x>=1]" in help_text
    assert "[env var: LOTLINE_PROJECT_POLL_S; default: 0.5; x>0]" in help_text
    bad = runner.invoke(main, ["project", "--batch-size", "0"])
    assert bad.exit_code == 2 and "--batch-size" in bad.output
