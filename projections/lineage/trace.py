"""Backward and forward traces over the lineage tables.

A trace is one prepared statement (:data:`TRACE`), so one snapshot, on one connection:

* the traversal: a recursive CTE over ``lot_edges`` with ``UNION`` set semantics, so rework cycles
  terminate and each lot is reported once, at its fewest transformation steps;
* each lot reached with its GTIN, lot number and identifiers;
* as one JSON value on a trailing row, the movements of those lots: shipments (forward) or receipts
  (backward), direct or inside an SSCC whose contents are its non-retracted ADDs minus DELETEs as of the
  movement's eventTime (SSCCs inside it included, at any depth), and the store position the lineage
  reflects. A movement of a GTIN whose lot the event did not say (a lot-less line, domain.md §9 scenario 12;
  or a serialised item whose lot no event names) may hold any lot of that GTIN: it is reported, once per
  event, in every trace that reaches a lot of the GTIN, flagged ``ambiguous`` and with no lot number, never
  dropped.

Parties are computed in Python: the distinct counterparties of those movements.

Retracted events (error declarations) are left out of the answer and listed apart for the audit view.
"""

from __future__ import annotations

import json
import operator
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

import orjson
import psycopg2.errors
import structlog
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy.engine import Engine

from projections.framework import quote_ident, schema_exists
from projections.lineage.ddl import LAYOUT, layout_error, layout_of
from projections.lineage.projection import LIVE_SCHEMA, NAME
from schemas.epcis.identifiers import LotKey
from schemas.epcis.timefmt import local_time
from store.gcpolicy import collector_paused

log = structlog.get_logger("lotline.trace")


class Direction(StrEnum):
    """Which way a trace walks the transformation edges."""

    BACKWARD = "backward"  # towards ingredients and suppliers
    FORWARD = "forward"  # towards products and customers


class TraceError(Exception):
    """A trace that cannot be answered: unknown lot, or no lineage built yet."""


class UnknownLot(TraceError):
    """The lot has never been seen by the projection."""


class TracedLot(NamedTuple):
    """A lot reached by a trace, at its fewest transformation steps from the queried lot.

    A named tuple rather than a frozen dataclass like the other result types: a trace builds one per lot
    reached (hundreds of thousands on a blended lineage), and a frozen dataclass's ``__init__`` costs about
    four times a tuple's. Still immutable and hashable.
    """

    gtin: str
    lot_number: str
    depth: int
    identifiers: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"gtin": self.gtin, "lot_number": self.lot_number, "depth": self.depth,
                "identifiers": list(self.identifiers)}


@dataclass(frozen=True, slots=True)
class MovementLine:
    """One shipment or receipt of one lot: one per event and lot (pallet contents merged per event)."""

    kind: str  # "ship" | "receive"
    event_id: str
    event_key: str
    event_time: datetime
    tz_offset: str
    gtin: str
    lot_number: str | None  # None: a lot-less line (``ambiguous``)
    quantity: Decimal | None
    uom: str | None
    party: str | None
    party_location: str | None
    location: str | None
    pallet: str | None
    documents: tuple[tuple[str | None, str], ...]
    retracted: bool = False
    ambiguous: bool = False  # the event named the GTIN only: it may hold any lot of it, the traced ones included

    @property
    def date(self) -> date:
        """The local date of the event (FSMA dates are local dates)."""
        return local_time(self.event_time, self.tz_offset).date()

    def as_dict(self) -> dict[str, Any]:
        q = self.quantity
        return {
            "event_id": self.event_id, "date": self.date.isoformat(),
            "event_time": local_time(self.event_time, self.tz_offset).isoformat(),
            "gtin": self.gtin, "lot_number": self.lot_number,
            "quantity": None if q is None else (int(q) if q == q.to_integral_value() else float(q)),
            "uom": self.uom, "party": self.party, "party_location": self.party_location,
            "location": self.location, "pallet": self.pallet,
            "documents": [{"type": t, "id": v} for t, v in self.documents], "ambiguous": self.ambiguous,
        }

    @property
    def lot_label(self) -> str:
        """``GTIN/LOT``, or ``GTIN/*`` for a lot-less line."""
        return f"{self.gtin}/{'*' if self.lot_number is None else self.lot_number}"


@dataclass(frozen=True, slots=True)
class Party:
    """A supplier (backward) or customer (forward), as identified in the events."""

    party: str
    locations: tuple[str, ...]
    lots: tuple[str, ...]  # GTIN/LOT of the lots it supplied or received (GTIN/* for lot-less lines)

    def as_dict(self) -> dict[str, Any]:
        return {"party": self.party, "locations": list(self.locations), "lots": list(self.lots)}


@dataclass(slots=True)
class Trace:
    """The answer to one trace."""

    lot: LotKey
    direction: Direction
    position: int  # the store position the lineage reflects
    schema: str
    lots: list[TracedLot] = field(default_factory=list)
    movements: list[MovementLine] = field(default_factory=list)
    retracted: list[MovementLine] = field(default_factory=list)
    as_of: datetime | None = None

    @property
    def movement_label(self) -> str:
        """``shipments`` for a forward trace, ``receipts`` for a backward one."""
        return "shipments" if self.direction is Direction.FORWARD else "receipts"

    @property
    def parties(self) -> list[Party]:
        by_party: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
        for m in self.movements:
            if m.party is None:
                continue
            locs, lots = by_party.setdefault(m.party, ({}, {}))
            if m.party_location:
                locs[m.party_location] = None
            lots[m.lot_label] = None
        return [Party(p, tuple(sorted(locs)), tuple(sorted(lots))) for p, (locs, lots) in sorted(by_party.items())]

    def as_dict(self) -> dict[str, Any]:
        return {
            "lot": {"gtin": self.lot.gtin, "lot_number": self.lot.lot, "key": str(self.lot)},
            "direction": self.direction.value,
            "position": self.position,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "lots": [lot.as_dict() for lot in self.lots],
            "parties": [p.as_dict() for p in self.parties],
            self.movement_label: [m.as_dict() for m in self.movements],
            "retracted": [m.as_dict() for m in self.retracted],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent)


# The traversal. Each row of the recursive CTE is a lot id as a ``numeric`` whose *scale* is its depth
# (lot 42 at depth 2 is 42.00): numeric equality and hashing ignore the scale (1.0 = 1.00), so UNION keeps
# one row per lot -- the first one, and PostgreSQL evaluates a recursive UNION level by level, so the first
# is the one at the fewest steps. That gives set semantics (cycles terminate, no paths are tracked) and the
# smallest depth in one pass. ``{a}``/``{b}`` are the edge columns to follow (src→dst forward). $1/$2 are the
# GTIN and lot of the queried lot; no lot row back (only the trailing row) means the lot is unknown.
#
# The whole trace in one statement: traversal, lots, and (as one JSON value) the movements of one kind. The
# lots come back unsorted (sorting them here costs more than sorting them in Python, see :func:`_trace`),
# then one trailing row with no GTIN carries the store position and the movements (a window function putting
# them on the first lot's row cost ~10% of the statement).
#
# Lot-less lines (scenario 12) are matched on the GTINs of the lots reached. Where the lineage has none (the
# usual case; :data:`_HAS_LOTLESS` is a one-time filter, a probe of an empty partial index) each lot is probed
# once, straight into the answer; where it has some, once into ``reached``, which the answer and the lot-less
# lines both read (materialising it costs ~10% of a 630-lot trace, a second probe of each lot ~28%).
_HAS_LOTLESS = ("(EXISTS (SELECT 1 FROM {s}.movement_lines z WHERE z.gtin IS NOT NULL)"
                " OR EXISTS (SELECT 1 FROM {s}.aggregations z WHERE z.gtin IS NOT NULL))")
_LOTS = ("SELECT l.gtin, l.lot, ids.depth, l.identifiers FROM ids CROSS JOIN LATERAL"
         " (SELECT y.gtin, y.lot, y.identifiers FROM {s}.lots y WHERE y.id = ids.id OFFSET 0) l")
TRACE = (
    "WITH RECURSIVE start AS (SELECT id FROM {s}.lots WHERE gtin = $1 AND lot = $2),"
    " r(n) AS ("
    " SELECT id::numeric FROM start"
    " UNION"
    " SELECT round(e.{b}::numeric, scale(r.n) + 1) FROM r JOIN {s}.lot_edges e ON e.{a} = r.n::integer"
    "), ids AS MATERIALIZED (SELECT n::integer AS id, scale(n) AS depth FROM r),"
    f" reached AS MATERIALIZED ({_LOTS}),"
    "{movements}"
    f"SELECT *, NULL::bigint, NULL::text FROM ({_LOTS} WHERE NOT {_HAS_LOTLESS}) l"
    f" UNION ALL SELECT *, NULL, NULL FROM reached WHERE {_HAS_LOTLESS}"
    " UNION ALL SELECT NULL, NULL, NULL, NULL,"
    " (SELECT c.position FROM {s}.checkpoint c WHERE c.projection = 'lineage'),"
    " (SELECT json_agg(mv ORDER BY mv.event_time, mv.event_key, mv.gtin, mv.lot, mv.pallet NULLS FIRST, mv.uom)::text"
    "  FROM mv)"
)

# Movements of the lots in ``ids``, of kind {kind}: direct lines (lot, or serialised item of the lot),
# and SSCCs whose contents as of the movement's eventTime include the lot, directly or inside SSCCs within
# them (cases on a pallet, pallets in a load): up from the lots to every SSCC that ever held them (``up``), to
# the movements of those, then down each moved SSCC as of the movement (``tree``), each SSCC once per movement
# under the outermost one it names (``nodes``).
#
# The statement is prepared and planned once per connection, on an estimate of the walk's size (a few hundred
# lots) that cannot depend on the lot traced. With plain joins throughout, PostgreSQL hashed whole tables to
# join the handful of rows a typical trace reaches; the pallet part (which pallets ever held a reached lot,
# and their aggregation history up to each movement) hashed every aggregation and every event, most of a
# 52 ms backward trace of 6 lots on a 100K-event bakery. Those lookups, the serialised items of the reached
# lots and the lots themselves (in TRACE) are therefore ``CROSS JOIN LATERAL (... WHERE key = outer.key
# OFFSET 0)``: one index probe per reached row (OFFSET 0 keeps the planner from flattening them back into
# joins). So are the reached lots' movement lines: as a join, the plan made for a 100K-event bakery hashed every
# movement line (~1.8 ms of a 2.2 ms trace; 0.78 ms as probes), for 4% on a 10K-lot recall scope. The movements
# stay a join: made lateral too, a 10K-lot recall scope (10K probes of each) went from a p95 of 0.8 s to 1.04 s,
# past the recall goal.
_MOVEMENTS = """
its AS (SELECT it.item, it.lot_id FROM ids CROSS JOIN LATERAL
         (SELECT y.item, y.lot_id FROM {s}.items y WHERE y.lot_id = ids.id OFFSET 0) it),
direct AS (
    SELECT ml.event_key, ids.id AS lot_id, ml.quantity, ml.uom, NULL::text AS sscc
      FROM ids CROSS JOIN LATERAL
           (SELECT y.event_key, y.quantity, y.uom FROM {s}.movement_lines y WHERE y.lot_id = ids.id OFFSET 0) ml
    UNION ALL
    SELECT ml.event_key, its.lot_id, ml.quantity, ml.uom, NULL
      FROM its CROSS JOIN LATERAL
           (SELECT * FROM {s}.movement_lines y WHERE y.lot_id IS NULL AND y.item = its.item OFFSET 0) ml
),
gtins AS (SELECT DISTINCT gtin FROM reached WHERE """ + _HAS_LOTLESS + """),  -- only where there is lot-less content
held_lots AS (  -- SSCCs that ever held one of the lots (or content of their GTINs with no lot)
    SELECT a.sscc FROM ids CROSS JOIN LATERAL
           (SELECT y.sscc FROM {s}.aggregations y WHERE y.lot_id = ids.id OFFSET 0) a
    UNION SELECT a.sscc FROM its CROSS JOIN LATERAL
           (SELECT y.sscc FROM {s}.aggregations y WHERE y.item = its.item OFFSET 0) a
    UNION SELECT a.sscc FROM gtins CROSS JOIN LATERAL
           (SELECT y.sscc FROM {s}.aggregations y WHERE y.gtin = gtins.gtin OFFSET 0) a
),
up(level, ssccs) AS (  -- and the SSCCs that ever held those, level by level (cases on a pallet), as arrays
    SELECT 0, a FROM (SELECT array_agg(sscc) AS a FROM held_lots) h
    UNION ALL
    SELECT u.level + 1, n.a
      FROM up u CROSS JOIN LATERAL
           (SELECT array_agg(DISTINCT y.sscc) AS a FROM unnest(u.ssccs) x(sscc) CROSS JOIN LATERAL
                   (SELECT y.sscc FROM {s}.aggregations y WHERE y.child_sscc = x.sscc OFFSET 0) y) n
     WHERE n.a IS NOT NULL AND u.level < {max_nesting}
),
held AS MATERIALIZED (  -- (movement, sscc) pairs where the sscc ever held one of the lots, at any depth
    SELECT DISTINCT ms.event_key, ms.sscc
      FROM (SELECT unnest(ssccs) AS sscc FROM up) x
      CROSS JOIN LATERAL (SELECT y.event_key, y.sscc FROM {s}.movement_ssccs y WHERE y.sscc = x.sscc OFFSET 0) ms
),
tree(event_key, root, sscc, at) AS (  -- each moved SSCC, and the SSCCs inside it as of the movement, any depth
    SELECT h.event_key, h.sscc, h.sscc, ev.event_time
      FROM held h
      CROSS JOIN LATERAL
           (SELECT m.event_time FROM {s}.movements m WHERE m.event_key = h.event_key OFFSET 0) ev
    UNION
    SELECT t.event_key, t.root, c.child_sscc, t.at
      FROM tree t
      CROSS JOIN LATERAL
           (SELECT a.child_sscc FROM {s}.aggregations a
             WHERE a.sscc = t.sscc AND a.child_sscc IS NOT NULL AND a.action = 'ADD' AND a.event_time <= t.at
               AND NOT EXISTS (SELECT 1 FROM {s}.retractions r WHERE r.event_key = a.event_key)
               AND NOT EXISTS (  -- taken off, or the parent emptied, since (or at) the ADD
                   SELECT 1 FROM {s}.aggregations d
                    WHERE d.sscc = t.sscc AND d.action = 'DELETE' AND d.event_time >= a.event_time
                      AND d.event_time <= t.at
                      AND (d.child_sscc = a.child_sscc
                           OR (d.child_sscc IS NULL AND d.lot_id IS NULL AND d.item IS NULL AND d.gtin IS NULL
                               AND d.quantity IS NULL))
                      AND NOT EXISTS (SELECT 1 FROM {s}.retractions r WHERE r.event_key = d.event_key))
            OFFSET 0) c
),
inner_roots AS (SELECT DISTINCT event_key, sscc FROM tree WHERE sscc <> root),
nodes AS (  -- each SSCC once per movement, under the outermost moved SSCC holding it (a shipment may name both)
    SELECT DISTINCT ON (t.event_key, t.sscc) t.event_key, t.root, t.sscc, t.at
      FROM tree t LEFT JOIN inner_roots i ON i.event_key = t.event_key AND i.sscc = t.root
     ORDER BY t.event_key, t.sscc, i.sscc IS NOT NULL, t.root
),
agg AS (
    SELECT n.event_key, n.root, n.sscc, a.action, a.quantity, a.uom, a.event_time,
           coalesce(a.lot_id, it.lot_id) AS lot_id, n.at,
           CASE WHEN it.lot_id IS NULL THEN a.gtin END AS gtin  -- content of no (known) lot
      FROM nodes n
      CROSS JOIN LATERAL
           (SELECT * FROM {s}.aggregations x  -- the retraction probe in here: one index probe per line
             WHERE x.sscc = n.sscc AND x.event_time <= n.at AND x.child_sscc IS NULL
               AND NOT EXISTS (SELECT 1 FROM {s}.retractions r WHERE r.event_key = x.event_key) OFFSET 0) a
      LEFT JOIN LATERAL
           (SELECT y.lot_id FROM {s}.items y WHERE a.lot_id IS NULL AND y.item = a.item OFFSET 0) it ON true
),
cleared AS (  -- last time before the movement each (sscc, lot or GTIN) was emptied: DELETE of all, or of it
    SELECT event_key, sscc, lot_id, gtin, max(event_time) AS at FROM agg
     WHERE action = 'DELETE' AND quantity IS NULL GROUP BY 1, 2, 3, 4
),
inside AS (  -- per SSCC node; reported under its root, the SSCC the movement names
    SELECT a.event_key, a.lot_id, a.gtin, a.uom, a.sscc, a.root,
           sum(CASE a.action WHEN 'ADD' THEN a.quantity ELSE -a.quantity END) AS quantity
      FROM agg a
      LEFT JOIN cleared c ON c.event_key = a.event_key AND c.sscc = a.sscc AND c.lot_id IS NULL AND c.gtin IS NULL
      LEFT JOIN cleared cl ON cl.event_key = a.event_key AND cl.sscc = a.sscc AND cl.lot_id = a.lot_id
      LEFT JOIN cleared cg ON cg.event_key = a.event_key AND cg.sscc = a.sscc AND cg.gtin = a.gtin
     WHERE (a.lot_id IN (SELECT id FROM ids) OR a.gtin IN (SELECT gtin FROM gtins))
       AND a.event_time > coalesce(c.at, '-infinity') AND a.event_time > coalesce(cl.at, '-infinity')
       AND a.event_time > coalesce(cg.at, '-infinity')
       AND NOT (a.action = 'DELETE' AND a.quantity IS NULL)
     GROUP BY 1, 2, 3, 4, 5, 6
    HAVING bool_or(a.action = 'ADD')
       AND (coalesce(sum(CASE a.action WHEN 'ADD' THEN a.quantity ELSE -a.quantity END), 1) > 0)
),
lines AS (
    SELECT event_key, lot_id, uom, sscc, sum(quantity) AS quantity FROM direct GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT event_key, lot_id, uom, root, sum(quantity) FROM inside WHERE lot_id IS NOT NULL GROUP BY 1, 2, 3, 4
),
lotless AS (  -- lot-less lines of the GTINs of the lots reached, direct or in an SSCC
    SELECT ml.event_key, ml.gtin, ml.uom, NULL AS sscc, sum(ml.quantity) AS quantity
      FROM gtins JOIN {s}.movement_lines ml ON ml.gtin = gtins.gtin
     WHERE ml.item IS NULL OR NOT EXISTS (SELECT 1 FROM {s}.items i WHERE i.item = ml.item)  -- else the item's lot's
     GROUP BY 1, 2, 3
    UNION ALL
    SELECT event_key, gtin, uom, root, sum(quantity) FROM inside WHERE lot_id IS NULL GROUP BY 1, 2, 3, 4
),
mv AS (  -- the retraction probe a lateral subquery: planned as a hash of every retraction, it grew with the store
SELECT m.event_id, m.event_key, m.event_time, m.tz_offset, x.gtin, x.lot, x.quantity::text AS quantity, x.uom,
       m.party, m.party_location, m.location, coalesce(m.pallet, x.sscc) AS pallet, m.documents,
       rt.retracted IS NOT NULL AS retracted, x.ambiguous
  FROM (SELECT l.gtin, l.lot, x.event_key, x.quantity, x.uom, x.sscc, false AS ambiguous
          FROM lines x JOIN {s}.lots l ON l.id = x.lot_id
        UNION ALL
        SELECT gtin, NULL, event_key, quantity, uom, sscc, true FROM lotless) x
  JOIN {s}.movements m ON m.event_key = x.event_key AND m.kind = '{kind}'
  LEFT JOIN LATERAL (SELECT true AS retracted FROM {s}.retractions r WHERE r.event_key = m.event_key OFFSET 0) rt
    ON true
)
"""


MAX_NESTING = 32
"""How many levels of SSCCs inside SSCCs a trace follows up from the SSCCs that held a lot (a logistics hierarchy
has three or four: item, case, pallet, container). Each level is the distinct holders of the one below, found
through an index; a cycle in bad data (a pallet inside its own case) stops here instead of running on, where
remembering every SSCC already seen would have cost a comparison against all of them per SSCC (1.5 s for a
10K-case scope)."""


def checkpoint_position(cur: Any, schema: str) -> int | None:
    """The store position the lineage in ``schema`` reflects, or None when it was never built."""
    if not schema_exists(cur, schema):
        return None
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{quote_ident(schema)}.checkpoint",))
    if not cur.fetchone()[0]:
        return None
    cur.execute(f"SELECT position FROM {quote_ident(schema)}.checkpoint WHERE projection = %s", (NAME,))
    row = cur.fetchone()
    return None if row is None else int(row[0])


_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _execute(raw: Any, cur: Any, name: str, sql: str, params: tuple[Any, ...], types: str) -> None:
    """EXECUTE a statement prepared once per database connection (traces skip planning after the first)."""
    dbapi = getattr(raw, "dbapi_connection", raw)
    done = _prepared.setdefault(dbapi, set())
    if name not in done:
        cur.execute(f"PREPARE {name} ({types}) AS {sql}")
        done.add(name)
    cur.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)


def trace(source: Engine | Any, lot: LotKey | str, direction: Direction | str, *, schema: str = LIVE_SCHEMA,
          movements: bool = True) -> Trace:
    """Trace ``lot`` (a :class:`LotKey`, LGTIN URN, Digital Link or ``GTIN/LOT``) backward or forward.

    ``source`` is an engine, or an open DBAPI connection to reuse. Raises :class:`UnknownLot` for a lot the
    lineage has never seen, :class:`TraceError` when the lineage in ``schema`` has not been built.
    """
    key = lot if isinstance(lot, LotKey) else LotKey.parse(lot)
    direction = Direction(direction)
    raw = source.raw_connection() if isinstance(source, Engine) else source
    dbapi: Any = getattr(raw, "dbapi_connection", raw)
    # A trace is one statement, so one snapshot: with no transaction open it needs none, and running it in
    # autocommit spares the BEGIN and COMMIT round trips. A transaction the caller has open is committed.
    alone = not dbapi.autocommit and dbapi.info.transaction_status == TRANSACTION_STATUS_IDLE
    try:
        if alone:
            dbapi.autocommit = True
        cur = raw.cursor()
        try:
            result = _trace(raw, cur, schema, key, direction, movements)
        except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName,
                psycopg2.errors.UndefinedColumn):
            raw.rollback()
            if (found := layout_of(cur, schema)) != LAYOUT and schema_exists(cur, schema):
                raise TraceError(str(layout_error(schema, found))) from None
            raise TraceError(f"no lineage in schema {schema!r}: run `lotline project` (or `lotline replay`)") from None
        if not alone:
            raw.commit()
    finally:
        if alone and not dbapi.closed:  # a broken connection: let its own error through
            dbapi.autocommit = False
        if isinstance(source, Engine):
            raw.close()
    log.debug("trace", lot=str(key), direction=direction.value, lots=len(result.lots),
              movements=len(result.movements), position=result.position, schema=schema)
    return result


_MOVEMENT_KIND = {Direction.FORWARD: "ship", Direction.BACKWARD: "receive"}
"""The movements a trace reports: shipments forward, receipts backward."""


class TraceRows(NamedTuple):
    """What the trace statement returns, before any result objects are built (:func:`fetch_trace`)."""

    lots: list[tuple[Any, ...]]  # (gtin, lot, depth, identifiers, ...) per lot reached, unsorted
    position: int  # the store position the lineage reflects
    movements: list[dict[str, Any]]  # the movements' JSON objects, retracted ones included (``retracted``)


def fetch_trace(raw: Any, cur: Any, schema: str, key: LotKey, direction: Direction,
                with_movements: bool = True) -> TraceRows:
    """Run the trace statement on ``cur`` and return its rows as they come; raises :class:`UnknownLot`.

    For callers that need less than :class:`Trace` (a recall's scope keys and payloads): building a
    :class:`MovementLine` per movement costs more than the statement's JSON already holds.
    """
    s = quote_ident(schema)
    a, b = ("src", "dst") if direction is Direction.FORWARD else ("dst", "src")
    # The movements' kind is written into the statement, not passed: as a parameter, the generic plan was
    # estimated on the average kind, cost more than the plans made for 'receive', and PostgreSQL planned every
    # backward trace of a bakery afresh (~1 ms of its 6.6 ms at the median; 3.6 ms as a generic plan).
    kind = _MOVEMENT_KIND[direction] if with_movements else "-"
    sql = TRACE.format(s=s, a=a, b=b, movements=_MOVEMENTS.format(s=s, kind=kind, max_nesting=MAX_NESTING))
    _execute(raw, cur, quote_ident(f"lineage_{direction.value}{'' if with_movements else '_lots'}_{schema}"), sql,
             (key.gtin, key.lot), "text, text")
    with collector_paused():  # a row, a tuple and a list per lot reached: none in a cycle
        rows = cur.fetchall()
        # the trailing row (the only one without a GTIN: lots.gtin is NOT NULL), last as UNION ALL appends it
        at = len(rows) - 1 if rows and rows[-1][0] is None else next(i for i, r in enumerate(rows) if r[0] is None)
        _, _, _, _, position, moves = rows.pop(at)
        if not rows:  # the queried lot itself is always reached, at depth 0
            raise UnknownLot(f"lot {key} (GTIN {key.gtin}, lot {key.lot!r}) is not known to the lineage")
        return TraceRows(rows, int(position or 0), orjson.loads(moves) if moves else [])


def _trace(raw: Any, cur: Any, schema: str, key: LotKey, direction: Direction, with_movements: bool) -> Trace:
    kind = _MOVEMENT_KIND[direction]
    with collector_paused():  # one pause over fetching and building: a pass in between walks every row
        fetched = fetch_trace(raw, cur, schema, key, direction, with_movements)
        rows = fetched.lots
        rows.sort(key=_LOT_ORDER)
        result = Trace(key, direction, fetched.position, schema,
                       lots=[_new_lot(TracedLot, (g, lot, d, tuple(ids))) for g, lot, d, ids, _, _ in rows])
        for item in fetched.movements:  # quantities arrive as text: exact Decimals
            line = _movement(kind, item)
            (result.retracted if line.retracted else result.movements).append(line)
    return result


# Lots in a trace are listed by depth, then GTIN and lot number in code point order (as Python sorts strings).
_LOT_ORDER = operator.itemgetter(2, 0, 1)
# What TracedLot(...) does, minus a Python-level call per lot.
_new_lot = tuple.__new__


def _movement(kind: str, m: dict[str, Any]) -> MovementLine:
    q = m["quantity"]
    return MovementLine(kind, m["event_id"] or m["event_key"], m["event_key"],
                        datetime.fromisoformat(m["event_time"]), m["tz_offset"], m["gtin"], m["lot"],
                        None if q is None else Decimal(q), m["uom"], m["party"], m["party_location"],
                        m["location"], m["pallet"], tuple((d.get("type"), d["id"]) for d in m["documents"]),
                        bool(m["retracted"]), bool(m["ambiguous"]))
