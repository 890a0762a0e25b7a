"""Stored events written back out as one EPCIS 2.0 JSON-LD document (``lotline export``).

The filters map onto the store's indexed columns (``event_time`` b-tree, ``lot_keys`` GIN; ``event_type`` and
``biz_step`` narrow what those return: ``store.reads.where``), and rows are read through a server-side cursor
and written one at a time, so an export of millions of events runs in constant memory.

The document's ``@context`` must declare the prefixes every event uses, which are known only after the last
row. A first query therefore collects the distinct ``prefix → URI`` pairs from the stored bodies' event-level
``@context`` (in the database, over the same filter, in the same REPEATABLE READ snapshot as the rows).
Prefixes with one URI across the export go into the document's ``@context``, as
:func:`schemas.formats.jsonld.document` writes it; an event whose prefixes clash with that map keeps its own
event-level ``@context`` (JSON-LD scoping; the readers honour it), so nothing is lost. Error declarations
are exported beside the events they retract, as an EPCIS query returns both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy.engine import Engine

from schemas.epcis.identifiers import LotKey
from schemas.epcis.model import EventType
from schemas.epcis.vocab import Vocab, canonical
from schemas.formats.jsonld import document, dumps, loads
from store import reads
from store.port import EventFilter


def export_filter(*, time_from: datetime | None = None, time_to: datetime | None = None, types: Sequence[str] = (),
                  biz_steps: Sequence[str] = (), lots: Sequence[str] = (), include_declarations: bool = True
                  ) -> EventFilter:
    """Which stored events to export, from user spellings: event type names, bizSteps in any CBV spelling, lots as
    an LGTIN URN, a Digital Link or ``GTIN14/LOT`` (raises ValueError / IdentifierError). Left out: no
    restriction; ``time_from`` is inclusive and ``time_to`` exclusive, both on ``eventTime``."""
    return EventFilter(time_from, time_to, tuple(EventType(t).value for t in types),
                       tuple(canonical(Vocab.BIZ_STEP, b) for b in biz_steps),
                       tuple(sorted(str(LotKey.parse(lot)) for lot in lots)), include_declarations)


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote."""

    events: int
    declarations: int


def export_document(engine: Engine, out: TextIO, flt: EventFilter | None = None, *,
                    creation_date: datetime | None = None, batch: int = 2000) -> ExportResult:
    """Write the matching events, in store order, to ``out`` as one EPCIS 2.0 JSON-LD document."""
    selection = flt or EventFilter()
    raw = engine.raw_connection()
    try:
        cur: Any = raw.cursor()
        reads.snapshot(cur)  # the @context pairs and the rows from one snapshot
        pairs = reads.context_pairs(cur, selection)
        by_prefix: dict[str, set[str]] = {}
        for prefix, uri in pairs:
            by_prefix.setdefault(prefix, set()).add(uri)
        shared = {p: next(iter(uris)) for p, uris in by_prefix.items() if len(uris) == 1}
        envelope = document([], creation_date=creation_date)
        if shared:
            envelope["@context"] = [envelope["@context"][0], dict(sorted(shared.items()))]
        head = dumps({k: v for k, v in envelope.items() if k != "epcisBody"})
        out.write(head[:-1] + ',"epcisBody":{"eventList":[')
        rows: Any = raw.cursor(name="lotline_export")  # server-side: ``batch`` rows at a time
        rows.itersize = batch
        events = declarations = 0
        for body_text, is_declaration in reads.selected_bodies(rows, selection):
            out.write("\n" if events == 0 else ",\n")
            out.write(_event_text(body_text, shared))
            events += 1
            declarations += is_declaration
    finally:
        raw.rollback()  # read only: nothing to commit
        raw.close()
    out.write("\n]}}\n")
    return ExportResult(events, declarations)


def _event_text(body_text: str, shared: dict[str, str]) -> str:
    """The stored body without its event-level ``@context`` when the document's covers it."""
    if '"@context"' not in body_text[:20]:
        return body_text
    body = loads(body_text)
    context = body.get("@context")
    items = context if isinstance(context, list) else [context]
    own = {k: v for item in items if isinstance(item, dict) for k, v in item.items()}
    if all(shared.get(k) == v for k, v in own.items()) and all(isinstance(i, dict) for i in items):
        del body["@context"]
        return dumps(body)
    return body_text
