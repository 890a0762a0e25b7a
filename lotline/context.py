"""The state of one ``lotline`` invocation, shared by :mod:`lotline.cli` and the ``cli_*`` command modules.

The commands import this module, and :mod:`lotline.cli` imports the commands to register them: the dependency
runs one way. :func:`setting_option` declares an option that overrides a field of
:class:`~lotline.settings.Settings`; given on the command line, its value replaces the setting's before the
command runs, so commands read every tunable from ``Context.settings``.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, TypeVar

import click
import pydantic
from click.types import OptionHelpExtra

from lotline.embedded import embedded_stack
from lotline.settings import Settings
from lotline.wiring import Runtime
from store import schema as store_schema

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """Per-invocation state: settings, and the runtime built on demand."""

    def __init__(self, ctx: click.Context, settings: Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        self._runtime: Runtime | None = None

    def override(self, **values: Any) -> Settings:
        """Replace settings (CLI options); ``None`` keeps the setting. Validated like the environment's values."""
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            if self._runtime is not None:
                raise RuntimeError("settings overridden after the runtime was built")
            self.settings = Settings.model_validate({**self.settings.model_dump(), **given})
        return self.settings

    def runtime(self, *, kafka: bool = True, postgres: bool = True) -> Runtime:
        """The runtime; starts the embedded broker/PostgreSQL for whatever is not configured."""
        if self._runtime is not None:
            return self._runtime
        s = self.settings
        need_kafka = kafka and not s.kafka_bootstrap
        need_pg = postgres and not s.database_url
        if need_kafka or need_pg:
            started = self.ctx.with_resource(embedded_stack(kafka=need_kafka, postgres=need_pg,
                                                            kafka_port=s.embedded_kafka_port))
            s = self.settings = s.model_copy(update=started)
            click.echo(f"(embedded stack for this command: {', '.join(sorted(started))}; "
                       "it stops when the command ends)", err=True)
        self._runtime = Runtime(s)
        if need_pg:
            store_schema.upgrade(self._runtime.engine)
        return self._runtime


pass_context = click.make_pass_decorator(Context)


def current_context() -> Context:
    """The :class:`Context` of the running command."""
    ctx = click.get_current_context().find_object(Context)
    if ctx is None:  # pragma: no cover - only when the group callback did not run
        raise click.UsageError("lotline context missing")
    return ctx


class SettingOption(click.Option):
    """An option standing for the setting ``setting``: ``--help`` shows its variable and default."""

    def __init__(self, *args: Any, setting: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setting = setting

    def get_help_extra(self, ctx: click.Context) -> OptionHelpExtra:
        extra = super().get_help_extra(ctx)
        extra["envvars"] = (f"LOTLINE_{self.setting.upper()}",)
        default = Settings.model_fields[self.setting].default
        if default is not None:  # else the option's help says what applies
            extra["default"] = str(default)
        return extra


def _annotation(setting: str) -> Any:
    """The type of a setting, without ``| None``."""
    kind = Settings.model_fields[setting].annotation
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if len(args) == 1 else kind


def _click_type(setting: str) -> click.ParamType[Any]:
    """The click type of a setting: its Python type, bounded as the setting is."""
    bounds: dict[str, Any] = {}
    for m in Settings.model_fields[setting].metadata:  # annotated_types.Ge / Gt, from Field(ge=..., gt=...)
        if (ge := getattr(m, "ge", None)) is not None:
            bounds.update(min=ge)
        elif (gt := getattr(m, "gt", None)) is not None:
            bounds.update(min=gt, min_open=True)
    kind = _annotation(setting)
    if kind is int:
        return click.IntRange(**bounds) if bounds else click.INT
    if kind is float:
        return click.FloatRange(**bounds) if bounds else click.FLOAT
    return click.STRING


def _apply(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    context = ctx.find_object(Context)
    if value is None or context is None or ctx.resilient_parsing:
        return
    assert isinstance(param, SettingOption)
    try:
        context.override(**{param.setting: value})
    except pydantic.ValidationError as exc:
        raise click.BadParameter("; ".join(e["msg"] for e in exc.errors()), ctx, param) from None


def setting_option(*decls: str, setting: str, help: str, **kwargs: Any) -> Callable[[F], F]:
    """An option that overrides the setting ``setting`` for this command (left out: the setting applies).

    The command does not receive the value as a parameter; it reads ``current_context().settings``."""
    if setting not in Settings.model_fields:
        raise ValueError(f"no setting {setting!r}")
    kind = _click_type(setting)
    metavar = {int: "INTEGER", float: "FLOAT"}.get(_annotation(setting), "TEXT")  # not "INTEGER RANGE"
    return click.option(*decls, cls=SettingOption, setting=setting, help=help, default=None, type=kind,
                        metavar=metavar, expose_value=False, callback=_apply, **kwargs)
