"""deploy/: the compose files and Dockerfile agree with the project, checked without a container engine.

Every Lotline container's command is resolved against the real click group (``lotline.cli.main``) and
parsed by click itself, every ``LOTLINE_*`` variable is a field of ``lotline.settings.Settings`` and the
whole environment block loads into ``Settings``; the Kafka service is a well-formed single-node KRaft
combined broker/controller; start-up order (depends_on) is what ingest needs; the image builds from the
repository root and installs the project.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from sqlalchemy.engine import make_url

from lotline.cli import main
from lotline.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ROLE_OVERRIDE = DEPLOY / "compose.ingest-role.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
INGEST_ROLE_SQL = DEPLOY / "sql" / "ingest-role.sql"

SETTINGS_VARS = {f"LOTLINE_{name.upper()}": name for name in Settings.model_fields}

# Compose interpolation: $$ is a literal $, ${VAR:-default} / ${VAR-default} take the default here (the test
# does not read the caller's environment, so it checks the defaults a plain `docker compose up` would use).
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")


def interpolate(value: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(3)
        if m.group(2) is None:
            raise AssertionError(f"${{{name}}} has no default: `docker compose up` would need it set")
        return m.group(2)

    return _INTERPOLATION.sub(sub, value)


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def merge_override(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Compose's merge of a second -f file, for the keys the override uses: mappings merge, the rest replace."""
    merged = {name: dict(svc) for name, svc in base["services"].items()}
    for name, svc in override["services"].items():
        target = merged.setdefault(name, {})
        for key, value in svc.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                target[key] = {**target[key], **value}
            else:
                target[key] = value
    return {**base, "services": merged}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): interpolate(str(v)) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command")
    assert cmd, "a Lotline service must say which lotline command it runs"
    args = shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]
    return [interpolate(a) for a in args]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def is_lotline(service: dict[str, Any]) -> bool:
    return "build" in service or str(service.get("image", "")).split(":")[0] == "lotline"


def _option(cmd: click.Command, token: str) -> click.Option:
    name = token.split("=", 1)[0]
    for param in cmd.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    known = sorted(o for p in cmd.params if isinstance(p, click.Option) for o in p.opts)
    raise AssertionError(f"`{cmd.name}` has no option {name} (it has {known})")


def resolve_cli(args: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """Walk ``lotline.cli.main`` down to the leaf command ``args`` names; let click parse the leaf's arguments.

    Returns the command path, the leaf command and its arguments. Fails on an unknown (sub)command or option.
    """
    cmd: click.Command = main
    path = ["lotline"]
    rest = list(args)
    while isinstance(cmd, click.Group):
        while rest and rest[0].startswith("-"):  # the group's own options, e.g. lotline --log-format json ...
            token = rest.pop(0)
            if not _option(cmd, token).is_flag and "=" not in token:
                assert rest, f"{token} needs a value"
                rest.pop(0)
        assert rest, f"`{' '.join(path)}` needs a subcommand (one of {sorted(cmd.commands)})"
        name = rest.pop(0)
        assert name in cmd.commands, f"`{' '.join(path)}` has no command {name!r} (it has {sorted(cmd.commands)})"
        cmd = cmd.commands[name]
        path.append(name)
    for token in rest:
        if token.startswith("-") and token != "-":
            _option(cmd, token)
    # click parses the arguments as `lotline` would: option values, types and argument counts (no callback runs).
    cmd.make_context(" ".join(path), list(rest))
    return path, cmd, rest


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs = compose["services"]
    assert isinstance(svcs, dict)
    return svcs


@pytest.fixture(scope="module")
def with_role_override(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = merge_override(compose, load_yaml(ROLE_OVERRIDE))["services"]
    return merged


def lotline_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services.items() if is_lotline(svc)}


def test_the_stack_has_its_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"kafka", "postgres", "migrate", "ingest", "project", "alerts-relay", "simulate"} <= set(services)
    assert set(lotline_services(services)) == {"migrate", "ingest", "project", "alerts-relay", "simulate"}


@pytest.mark.parametrize(
    ("service", "expected"),
    [("migrate", ["lotline", "db", "upgrade"]), ("ingest", ["lotline", "ingest"]),
     ("project", ["lotline", "project"]), ("alerts-relay", ["lotline", "alerts", "relay"]),
     ("simulate", ["lotline", "simulate"])],
)
def test_lotline_commands_resolve_against_the_cli(
    services: dict[str, dict[str, Any]], service: str, expected: list[str]
) -> None:
    path, _, _ = resolve_cli(command(services[service]))
    assert path == expected


def test_every_lotline_service_runs_a_real_command(services: dict[str, dict[str, Any]]) -> None:
    for svc in lotline_services(services).values():
        resolve_cli(command(svc))


def test_demo_simulate_options_exist_and_parse(services: dict[str, dict[str, Any]]) -> None:
    simulate = services["simulate"]
    assert "demo" in simulate.get("profiles", []), "simulate is a demo extra, not part of a plain `up`"
    _, cmd, args = resolve_cli(command(simulate))
    ctx = cmd.make_context("lotline simulate", list(args))  # click consumes the list it parses
    assert ctx.params["n_events"] == 100_000
    assert ctx.params["rate"] == 500.0
    assert {"--events", "--rate"} <= {t for t in args if t.startswith("--")}


def test_resolver_rejects_what_the_cli_does_not_have() -> None:
    with pytest.raises(AssertionError, match="no command"):
        resolve_cli(["nonesuch"])
    with pytest.raises(AssertionError, match="no option --frobnicate"):
        resolve_cli(["ingest", "--frobnicate"])
    with pytest.raises(AssertionError, match="needs a subcommand"):
        resolve_cli(["db"])
    with pytest.raises(click.BadParameter):
        resolve_cli(["simulate", "--events", "many"])
    assert resolve_cli(["--log-format", "json", "ingest", "--until-idle"])[0] == ["lotline", "ingest"]


def check_lotline_environment(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Every variable is LOTLINE_<a Settings field>, and the block loads into Settings as the CLI would."""
    assert Settings.model_config.get("env_prefix") == "LOTLINE_"
    unknown = sorted(set(env) - set(SETTINGS_VARS))
    assert not unknown, f"not Settings fields (Settings ignores them silently): {unknown}"
    kafka_config = json.loads(env["LOTLINE_KAFKA_CONFIG"])
    assert isinstance(kafka_config, dict), "LOTLINE_KAFKA_CONFIG must be a JSON object of librdkafka keys"
    assert all(isinstance(k, str) and "." in k for k in kafka_config), "librdkafka keys are dotted names"
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()  # as the CLI reads them
    assert settings.kafka_config == kafka_config
    return settings


def test_lotline_services_are_configured_only_by_settings_variables(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, svc in lotline_services(services).items():
        env = environment(svc)
        assert env, f"{name} has no environment"
        settings = check_lotline_environment(env, monkeypatch)
        assert settings.kafka_bootstrap and settings.database_url, f"{name} would start the embedded stack"
        assert settings.log_format == "json"
        assert not svc.get("env_file"), f"{name}: configuration belongs in LOTLINE_* variables in compose.yaml"


def test_lotline_services_point_at_the_compose_kafka_and_postgres(services: dict[str, dict[str, Any]]) -> None:
    kafka_env, pg_env = environment(services["kafka"]), environment(services["postgres"])
    advertised = {u.split("://", 1)[1] for u in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name, svc in lotline_services(services).items():
        env = environment(svc)
        for server in env["LOTLINE_KAFKA_BOOTSTRAP"].split(","):
            assert server in advertised, f"{name}: {server} is not an advertised Kafka listener ({advertised})"
            assert server.split(":")[0] in services, f"{name}: {server} is not a compose service"
        url = make_url(env["LOTLINE_DATABASE_URL"])
        assert url.drivername == "postgresql+psycopg2"
        assert (url.host, url.port or 5432) == ("postgres", 5432)
        assert (url.username, url.password, url.database) == (
            pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"], pg_env["POSTGRES_DB"])


def test_kafka_is_a_single_node_kraft_broker_and_controller(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:[34]\.\d+\.\d+", kafka["image"]), "the official image, a pinned 3.x/4.x tag"
    env = environment(kafka)
    assert all(k.startswith("KAFKA_") or k == "CLUSTER_ID" for k in env)

    assert {"broker", "controller"} == {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",")}
    node_id = int(env["KAFKA_NODE_ID"])
    listeners = {
        m.group(1): int(m.group(2))
        for m in (re.fullmatch(r"(\w+)://[^:]*:(\d+)", u) for u in env["KAFKA_LISTENERS"].split(","))
        if m
    }
    assert len(listeners) == len(env["KAFKA_LISTENERS"].split(",")), env["KAFKA_LISTENERS"]
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in listeners
    voters = [re.fullmatch(r"(\d+)@([\w.-]+):(\d+)", v) for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")]
    assert voters == [voters[0]] and voters[0], "one voter: this node"
    assert int(voters[0].group(1)) == node_id
    assert voters[0].group(2) in {"kafka", kafka.get("hostname")}
    assert int(voters[0].group(3)) == listeners[controller]

    protocol_map = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocol_map)
    advertised = {u.split("://")[0] for u in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    assert controller not in advertised and advertised <= set(listeners)
    assert env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT") in advertised

    for rf in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"):
        assert env[rf] == "1", f"{rf} must be 1 on a single broker"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    # KRaft storage is formatted with CLUSTER_ID: a base64url UUID (16 bytes).
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert any(v.endswith(":" + env["KAFKA_LOG_DIRS"]) for v in kafka.get("volumes", [])), "data on a volume"
    assert "test" in kafka["healthcheck"]


def test_postgres_keeps_its_data_and_reports_health(services: dict[str, dict[str, Any]]) -> None:
    pg = services["postgres"]
    assert pg["image"].split(":")[1].split(".")[0] == "16"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert "pg_isready" in str(pg["healthcheck"]["test"])


def test_start_up_order(services: dict[str, dict[str, Any]]) -> None:
    assert depends_on(services["migrate"]) == {"postgres": "service_healthy"}
    ingest = depends_on(services["ingest"])
    assert ingest["migrate"] == "service_completed_successfully"
    assert ingest["kafka"] == "service_healthy"
    assert depends_on(services["simulate"]).get("kafka") == "service_healthy"
    for name, svc in services.items():
        for dep, condition in depends_on(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"
    assert str(services["migrate"]["restart"]) == "no"
    assert services["ingest"]["restart"] == "unless-stopped"


def test_ingest_replicas_share_the_partitions(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest = services["ingest"]
    replicas = ingest["deploy"]["replicas"]
    assert replicas >= 2
    assert "container_name" not in ingest, "replicas need compose-generated container names"
    settings = check_lotline_environment(environment(ingest), monkeypatch)
    assert settings.events_partitions >= replicas, "every replica should get at least one partition"
    args = command(ingest)
    assert "--until-idle" not in args and "--group" not in args, "replicas join LOTLINE_CONSUMER_GROUP and stay"


def test_ingest_role_override(
    with_role_override: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = with_role_override
    role_svc = services["ingest-role"]
    assert any(v.split(":")[0] == "./sql" for v in role_svc["volumes"])
    assert "/sql/ingest-role.sql" in " ".join(command(role_svc))
    assert depends_on(role_svc) == {"migrate": "service_completed_successfully"}
    assert depends_on(services["ingest"])["ingest-role"] == "service_completed_successfully"

    role = re.search(r"CREATE ROLE (\w+)", INGEST_ROLE_SQL.read_text())
    assert role
    settings = check_lotline_environment(environment(services["ingest"]), monkeypatch)
    assert settings.database_url
    url = make_url(settings.database_url)
    assert url.username == role.group(1), "ingest connects as the least-privilege role"
    assert url.password == environment(role_svc)["INGEST_PASSWORD"]
    # migrate keeps the owner: it creates the tables the role is granted on.
    assert make_url(environment(services["migrate"])["LOTLINE_DATABASE_URL"]).username == "lotline"
    for svc in lotline_services(services).values():
        resolve_cli(command(svc))


def test_image_builds_from_the_repository_root(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in lotline_services(services).items():
        build = svc["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT and (context / "pyproject.toml").is_file(), f"{name}: context {context}"
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _stages(instr: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for op, args in instr:
        if op == "FROM":
            stages.append([])
        stages[-1].append((op, args))
    return stages


def test_dockerfile_builds_the_fast_path_and_installs_it_with_the_install_script() -> None:
    """Two stages: the first compiles the wheel (mypyc and the C decoder; the compiler stays there), the second installs
    it with deploy/install.sh, which fails unless every compiled module imports (tests/test_install.py runs it)."""
    build, runtime = _stages(_instructions(DOCKERFILE))
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert any(op == "RUN" and "gcc" in args and "libc6-dev" in args for op, args in build)
    assert ("COPY", ". /src") in build
    assert any(op == "RUN" and re.search(r"pip wheel .*--wheel-dir /wheels /src", args) for op, args in build)

    assert runtime[0] == ("FROM", "python:3.11-slim")
    assert ("COPY", "--from=build /wheels /wheels") in runtime
    assert ("COPY", "deploy/install.sh /usr/local/bin/lotline-install") in runtime
    assert any(op == "RUN" and "lotline-install /wheels/lotline-*.whl" in args for op, args in runtime)
    assert not any(op == "RUN" and "gcc" in args for op, args in runtime), "no compiler in the runtime image"
    assert ("USER", "lotline") in runtime

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["lotline"] == "lotline.cli:main"
    assert pyproject["project"]["requires-python"] == ">=3.11"
    modules = pyproject["tool"]["setuptools"]["ext-modules"]
    assert modules and all(m["optional"] is False for m in modules), "an install that cannot compile must fail"
    assert "mypy==" in " ".join(pyproject["build-system"]["requires"]), "setup.py compiles with mypyc"
    entrypoint = [args for op, args in runtime if op == "ENTRYPOINT"]
    assert entrypoint and json.loads(entrypoint[-1]) == ["lotline"]

    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv"} <= set(ignore)
