"""The EPCIS document commands: ``lotline capture``, ``lotline hash``, ``lotline export``.

Registered on the main group by :func:`register`; heavy imports happen inside the commands.

``capture`` follows the EPCIS capture interface: by default a document with any invalid event is rejected
as a whole (nothing of it is published, exit 2); with ``--partial`` the valid events are published and the
rest reported (exit 1 when any was rejected). Every problem is printed as ``document: event N: field:
what is wrong``. With several files, the default mode checks all of them before publishing any.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lotline.context import current_context

if TYPE_CHECKING:
    from producers.capture import CaptureResult

MAX_PROBLEMS_SHOWN = 50


def _read_documents(paths: tuple[str, ...]) -> list[tuple[str, bytes]]:
    if not paths:
        raise click.UsageError("give one or more files, or - for standard input")
    out = []
    for p in paths:
        try:
            out.append((p, sys.stdin.buffer.read() if p == "-" else Path(p).read_bytes()))
        except OSError as exc:
            click.echo(f"error: {p}: cannot read: {exc.strerror or exc}", err=True)
            sys.exit(2)
    return out


def _schema_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("--xsd", "xsd", default=None, metavar="PATH",
                     help="EPCIS 2.0 XSD to validate XML documents against (default: LOTLINE_EPCIS_XSD; GS1's "
                          "XSD/EPCglobal-epcis-query-2_0.xsd covers capture and query documents).")(f)
    f = click.option("--json-schema", "json_schema", default=None, metavar="PATH",
                     help="GS1 EPCIS JSON schema (the inlined EPCIS-JSON-Schema.json) to validate JSON "
                          "documents against (default: LOTLINE_EPCIS_JSON_SCHEMA; unset: model checks only).")(f)
    return f


def _read_all(files: tuple[str, ...], json_schema: str | None, xsd: str | None) -> list[CaptureResult]:
    from producers.capture import read_document
    from schemas.epcis.errors import EPCISError
    from schemas.formats.validation import SchemaValidator

    for path in (json_schema, xsd):
        if path is not None and not Path(path).is_file():
            raise click.BadParameter(f"{path} is not a file")
    try:
        settings = current_context().settings
        validator = SchemaValidator(json_schema or settings.epcis_json_schema, xsd or settings.epcis_xsd)
    except EPCISError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    return [read_document(data, name, validator) for name, data in _read_documents(files)]


def _report(results: list[CaptureResult]) -> None:
    shown = 0
    for result in results:
        for problem in result.problems:
            if shown < MAX_PROBLEMS_SHOWN:
                click.echo(f"error: {problem}", err=True)
            shown += 1
    if shown > MAX_PROBLEMS_SHOWN:
        click.echo(f"error: ... and {shown - MAX_PROBLEMS_SHOWN} more problem(s)", err=True)


@click.command()
@click.argument("files", nargs=-1)
@click.option("--partial", is_flag=True,
              help="Publish the valid events of each document and report the rest (exit 1 if any was rejected); "
                   "default: reject a document with any invalid event as a whole (exit 2).")
@_schema_options
def capture(files: tuple[str, ...], partial: bool, json_schema: str | None, xsd: str | None) -> None:
    """Publish the events of EPCIS documents (JSON-LD or XML, by content) to the events topic."""
    c = current_context()
    results = _read_all(files, json_schema, xsd)
    _report(results)
    if not partial and any(not r.ok for r in results):
        bad = [r for r in results if not r.ok]
        click.echo(f"rejected: {', '.join(f'{r.name} ({r.rejected} of {r.total} event(s) invalid)' for r in bad)}"
                   "; nothing was published (--partial publishes the valid events)", err=True)
        sys.exit(2)
    rt = c.runtime(postgres=False)
    rt.ensure_topics()
    with rt.publisher() as pub:
        for r in results:
            if r.events:
                pub.publish_many(r.events)
            note = f", {r.rejected} rejected" if r.problems else ""
            click.echo(f"{r.name}: {len(r.events)} event(s) published to {rt.settings.events_topic}{note}")
    if any(r.problems for r in results):
        sys.exit(1)


@click.command("hash")
@click.argument("files", nargs=-1)
@_schema_options
def hash_command(files: tuple[str, ...], json_schema: str | None, xsd: str | None) -> None:
    """Print the CBV 2.0 event hash ID (ni:///sha-256;…?ver=CBV2.0) of every event, one a line."""
    from schemas.epcis.event_hash import event_hash_id

    results = _read_all(files, json_schema, xsd)
    _report(results)
    if any(not r.ok for r in results):
        sys.exit(2)
    for r in results:
        for event in r.events:
            click.echo(event_hash_id(event))


def _parse_time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 date or time (e.g. 2026-06-01 or "
                                 "2026-06-01T08:00:00Z)", param_hint=option) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@click.command()
@click.option("--from", "time_from", default=None, metavar="TIME",
              help="Only events with eventTime at or after TIME (ISO 8601; no offset means UTC).")
@click.option("--to", "time_to", default=None, metavar="TIME", help="Only events with eventTime before TIME.")
@click.option("--type", "types", multiple=True,
              type=click.Choice(["ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent",
                                 "AssociationEvent"]), help="Only events of this type (repeatable).")
@click.option("--biz-step", "biz_steps", multiple=True, metavar="STEP",
              help="Only events with this bizStep, bare, URN or web URI (repeatable).")
@click.option("--lot", "lots", multiple=True, metavar="LOT",
              help="Only events touching this lot: LGTIN URN, Digital Link or GTIN14/LOT (repeatable).")
@click.option("--no-declarations", is_flag=True, help="Leave out error declarations.")
@click.option("-o", "--output", default="-", show_default=True, help="Output file, - for standard output.")
def export(time_from: str | None, time_to: str | None, types: tuple[str, ...], biz_steps: tuple[str, ...],
           lots: tuple[str, ...], no_declarations: bool, output: str) -> None:
    """Write stored events as one EPCIS 2.0 JSON-LD document, in store order."""
    from projections.export import export_document, export_filter
    from schemas.epcis.errors import IdentifierError

    try:
        flt = export_filter(time_from=_parse_time(time_from, "--from"), time_to=_parse_time(time_to, "--to"),
                            types=types, biz_steps=biz_steps, lots=lots, include_declarations=not no_declarations)
    except IdentifierError as exc:
        raise click.BadParameter(str(exc), param_hint="--lot") from None
    rt = current_context().runtime(kafka=False)
    if output == "-":
        result = export_document(rt.engine, sys.stdout, flt)
    else:
        tmp = Path(output + ".part")
        with tmp.open("w", encoding="utf-8") as out:
            result = export_document(rt.engine, out, flt)
        tmp.replace(output)
    where = "standard output" if output == "-" else output
    click.echo(f"exported {result.events} event(s) ({result.declarations} error declaration(s)) to {where}",
               err=True)


def register(main: click.Group) -> None:
    """Add the EPCIS document commands to the ``lotline`` group."""
    main.add_command(capture)
    main.add_command(hash_command)
    main.add_command(export)
