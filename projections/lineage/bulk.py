"""The bulk load of a rebuild, set-based inside PostgreSQL: ``INSERT INTO build.table SELECT ... FROM events``.

The incremental projection parses each event into the model and derives its facts in Python
(:mod:`projections.lineage.facts`); doing that for every stored event made rebuilds ~20× slower than COPYing the
same rows. Here the same facts are extracted from ``events.body`` by SQL, so the per-event work runs in C:

1. :func:`stage`: one scan of ``events`` (``position <= until``; in parallel workers) writes an unlogged stage:
   per event a header row (``lst = 0``: location, ILMD lot, counterparty, documents, or the retraction of a
   declaration) and a row per entry of the identifier lists the Python path reads for that event type (``lst``
   1-8, in the order :class:`~projections.lineage.facts._Collector` visits them; 9 = parentID), with its text.
2-3. :func:`entries`: every distinct text is classified once, in Python: the two forms that make up almost every
   identifier in practice, LGTIN and SSCC EPC URNs in lower case with plain digits, by
   :func:`~schemas.identifiers.quick_parse`; every other string (Digital Links, SGTINs, upper case,
   percent-encoded lots, malformed ...) by the same ``_parse`` of :mod:`schemas.identifiers` the projection
   uses. ``tests/test_identifiers.py`` checks the fast path against ``parse_identifier`` on generated
   identifiers, valid and not. Lots get their ids there; ``lots``,
   ``lot_identifiers`` and the text → (kind, key, lot id) table are COPYed back, and the references are joined
   to it once (``_ent``).
4. :func:`fill`: each lineage table is one ``INSERT ... SELECT`` that mirrors
   :func:`~projections.lineage.facts.facts_of` and :func:`~projections.lineage.rows.rows_of` rule by rule (the
   comments name the rule). ``tests/test_lineage_bulk.py`` checks the tables equal the incremental
   projection's on a simulated bakery (shuffled, redelivered) plus crafted edge cases.

Each step commits; :class:`~projections.lineage.projection.BulkLoader` runs them, fills independent tables on
two connections, and builds edges, indexes and statistics.

The stored body is the model written back by :func:`schemas.jsonld.event_to_json` (``consumers/records.py``), so
values are already stripped and vocabulary values canonical (bare CBV terms): the SQL compares them as stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from projections.framework import quote_ident
from projections.lineage.facts import _parse
from schemas.identifiers import IdKind, quick_parse
from schemas.pgcopy import NULL, copy_field, copy_from, copy_text, text_array

# lst codes: the identifier lists, numbered in the order facts_of visits them for each event type
EPC, QTY, CHILD_EPC, CHILD_QTY, IN_EPC, IN_QTY, OUT_EPC, OUT_QTY = range(1, 9)
PARENT = 9
_LISTS = (  # (lst, body member, event types whose facts read it)
    (EPC, "epcList", "'ObjectEvent', 'TransactionEvent', 'AssociationEvent'"),
    (QTY, "quantityList", "'ObjectEvent', 'TransactionEvent', 'AssociationEvent'"),
    (CHILD_EPC, "childEPCs", "'AggregationEvent', 'TransactionEvent', 'AssociationEvent'"),
    (CHILD_QTY, "childQuantityList", "'AggregationEvent', 'TransactionEvent', 'AssociationEvent'"),
    (IN_EPC, "inputEPCList", "'TransformationEvent'"),
    (IN_QTY, "inputQuantityList", "'TransformationEvent'"),
    (OUT_EPC, "outputEPCList", "'TransformationEvent'"),
    (OUT_QTY, "outputQuantityList", "'TransformationEvent'"),
)
_QTY_LISTS = {QTY, CHILD_QTY, IN_QTY, OUT_QTY}

_KIND_CODE = {IdKind.LGTIN: "L", IdKind.SSCC: "C"}


def _str(expr: str) -> str:
    """A JSON value as text when it is a non-empty string, else NULL (``isinstance(v, str) and v``)."""
    return f"CASE WHEN jsonb_typeof({expr}) = 'string' THEN nullif({expr} #>> '{{{{}}}}', '') END"


def _first_party(member: str, kind: str) -> str:
    """``facts._party``: the first entry of a source/destination list of the given type."""
    return f"jsonb_path_query_first(x.\"{member}List\", '$[*] ? (@.type == \"{kind}\").{member}') #>> '{{{{}}}}'"


_HDR = "x.lst = 0"
_MOVING = "x.etype IN ('ObjectEvent', 'AggregationEvent') AND x.biz_step IN ('receiving', 'shipping')"
_LISTS_OF = {  # the lists facts_of reads per event type (0 = the header row, PARENT for AggregationEvents)
    "ObjectEvent": (0, EPC, QTY),
    "AggregationEvent": (0, CHILD_EPC, CHILD_QTY, PARENT),
    "TransformationEvent": (0, IN_EPC, IN_QTY, OUT_EPC, OUT_QTY),
    "TransactionEvent": (0, EPC, QTY, CHILD_EPC, CHILD_QTY),
    "AssociationEvent": (0, EPC, QTY, CHILD_EPC, CHILD_QTY),
}
_MEMBER = {n: m for n, m, _ in _LISTS}
_QTY_IN = ", ".join(str(n) for n in sorted(_QTY_LISTS))
_TXT = (f"CASE WHEN x.lst IN ({_QTY_IN}) THEN x.v->>'epcClass' WHEN x.lst = {PARENT} THEN"
        " nullif(x.\"parentID\", '') WHEN x.lst > 0 THEN x.v #>> '{{}}' END")


def _per_type(values: dict[str, str], default: str) -> str:
    """``CASE`` over the event type (a declaration has only its header row)."""
    return ("CASE WHEN e.is_declaration THEN " + default + " ELSE CASE e.event_type "
            + " ".join(f"WHEN '{etype}' THEN {v}" for etype, v in values.items()) + f" ELSE {default} END END")


_LST = _per_type({t: "'{{" + ",".join(map(str, lsts)) + "}}'::int[]" for t, lsts in _LISTS_OF.items()},
                 "'{{0}}'::int[]")
_ARR = _per_type({t: "ARRAY[" + ", ".join("NULL::jsonb" if n in (0, PARENT) else f"j.\"{_MEMBER[n]}\""
                                          for n in lsts) + "]" for t, lsts in _LISTS_OF.items()},
                 "ARRAY[NULL::jsonb]")

# Step 1: one pass over the store. ``jsonb_to_record`` parses each body once and picks the members the facts
# read (a function: a one-row VALUES would be inlined into every reference and parse the body each time).
# Then two levels of set-returning functions in the select list (ProjectSet: no per-row tuplestore, about half
# the cost of lateral function scans here): the lists that event type's facts read plus the header row (0),
# zipped with their codes; then each list's entries zipped with their index (the header and the parentID row
# get index 1 and no entry). Everything is parallel safe, so scan and parsing run in parallel workers. Entries
# keep only their text: identifiers are resolved once per distinct text (step 2), not once per reference.
STAGE = (
    "CREATE UNLOGGED TABLE {s}._stage AS"
    " SELECT x.position, x.event_key, x.is_declaration AS decl, x.etype, x.biz_step, x.action,"
    # facts_of: tkey = tx:<transformationID>, else ev:<event key>
    " CASE WHEN x.etype = 'TransformationEvent' AND x.lst > 0"
    "  THEN coalesce('tx:' || nullif(x.\"transformationID\", ''), 'ev:' || x.event_key) END AS tkey,"
    f" x.lst, x.ord, {_TXT} AS txt,"
    f" CASE WHEN x.lst IN ({_QTY_IN}) THEN (x.v->>'quantity')::numeric END AS qty,"
    f" CASE WHEN x.lst IN ({_QTY_IN}) THEN x.v->>'uom' END AS uom,"
    # _Collector.ref: an SGTIN's lot comes from its link, else from the event's ILMD (_ilmd_lot: ADD or
    # TransformationEvent; the first non-empty string of three keys)
    f" CASE WHEN {_HDR} AND (x.action = 'ADD' OR x.etype = 'TransformationEvent') THEN coalesce("
    + _str("x.ilmd->'cbvmda:lotNumber'") + ", " + _str("x.ilmd->'urn:epcglobal:cbv:mda#lotNumber'")
    + ", " + _str("x.ilmd->'lotNumber'") + ") END AS ilmd_lot,"
    f" CASE WHEN {_HDR} THEN x.event_id END AS event_id,"
    f" CASE WHEN {_HDR} THEN x.event_time END AS event_time,"
    f" CASE WHEN {_HDR} THEN x.event_tz_offset END AS tz_offset,"
    # facts_of: location = biz_location or read_point
    f" CASE WHEN {_HDR} AND NOT x.is_declaration THEN coalesce(nullif(x.\"bizLocation\"->>'id', ''),"
    "  x.\"readPoint\"->>'id') END AS location,"
    f" CASE WHEN {_HDR} AND x.etype = 'AggregationEvent'"
    "  THEN coalesce(jsonb_array_length(x.\"childEPCs\"), 0) END AS n_child_epcs,"
    # _movement: receiving → sourceList, shipping → destinationList; owning_party and location entries
    f" CASE WHEN {_HDR} AND {_MOVING} THEN CASE x.biz_step WHEN 'receiving' THEN "
    + _first_party("source", "owning_party") + " ELSE " + _first_party("destination", "owning_party")
    + " END END AS party,"
    f" CASE WHEN {_HDR} AND {_MOVING} THEN CASE x.biz_step WHEN 'receiving' THEN "
    + _first_party("source", "location") + " ELSE " + _first_party("destination", "location")
    + " END END AS party_location,"
    f" CASE WHEN {_HDR} AND {_MOVING} THEN x.\"bizTransactionList\" END AS documents,"
    f" CASE WHEN {_HDR} AND x.is_declaration THEN x.\"errorDeclaration\" END AS declaration"
    " FROM (SELECT l.*, jsonb_array_elements(l.arr) AS v,"
    f"  generate_series(1, CASE WHEN l.lst IN (0, {PARENT}) THEN 1 ELSE jsonb_array_length(l.arr) END) AS ord"
    "  FROM (SELECT e.position, e.event_key, e.is_declaration, e.event_type AS etype, e.biz_step, e.event_id,"
    "   e.event_time, e.event_tz_offset, j.*, unnest(" + _LST + ") AS lst, unnest(" + _ARR + ") AS arr"
    "   FROM events e CROSS JOIN LATERAL jsonb_to_record(e.body::jsonb) AS j(action text,"
    "    \"transformationID\" text, \"parentID\" text, \"bizLocation\" jsonb, \"readPoint\" jsonb, ilmd jsonb,"
    "    \"sourceList\" jsonb, \"destinationList\" jsonb, \"bizTransactionList\" jsonb,"
    "    \"errorDeclaration\" jsonb, \"childEPCs\" jsonb"
    + "".join(f", \"{m}\" jsonb" for _, m, _ in _LISTS if m != "childEPCs") + ")"
    "   WHERE e.position <= %(until)s) l) x"
    f" WHERE x.lst = 0 OR {_TXT} IS NOT NULL"
)

# Step 2: every distinct text of an entry (``ref``: seen in a list that names lot content, not only as a
# parentID), resolved in Python (:func:`_resolve`) into ``_ids``, ``lots`` and ``lot_identifiers``
TEXTS = f"SELECT txt, bool_or(lst <= {OUT_QTY}) FROM {{s}}._stage WHERE lst > 0 GROUP BY txt"

# SGTINs without a lot in their link take the ILMD lot of the event that names them: per reference, not per
# text. Rare (commissioning of serialised items), so these three run only when such an SGTIN was seen.
ILMD: tuple[str, ...] = (
    "CREATE UNLOGGED TABLE {s}._ilmd AS SELECT s.position, s.txt, i.gtin, h.ilmd_lot AS lot,"
    " NULL::integer AS lot_id FROM {s}._ids i JOIN {s}._stage s ON s.txt = i.txt"
    f" AND s.lst BETWEEN {EPC} AND {OUT_QTY} JOIN {{s}}._stage h ON h.position = s.position AND h.lst = 0"
    " WHERE i.kind = 'S' AND i.lot IS NULL AND h.ilmd_lot IS NOT NULL",
    "INSERT INTO {s}.lots (id, gtin, lot) SELECT (SELECT coalesce(max(id), 0) FROM {s}.lots)"
    " + row_number() OVER (ORDER BY gtin, lot), gtin, lot FROM (SELECT DISTINCT gtin, lot FROM {s}._ilmd) n"
    " WHERE NOT EXISTS (SELECT 1 FROM {s}.lots l WHERE l.gtin = n.gtin AND l.lot = n.lot)",
    "UPDATE {s}._ilmd m SET lot_id = l.id FROM {s}.lots l WHERE l.gtin = m.gtin AND l.lot = m.lot",
)

# Step 3: the resolved entries, per reference its kind, lot id (an SGTIN's from its link, else the ILMD lot),
# item, SSCC and quantity (1 for an SGTIN without one); references naming nothing are left out
ENTRIES = (
    "CREATE UNLOGGED TABLE {s}._ent AS SELECT s.position, s.event_key, s.etype, s.action, s.tkey, s.lst, s.ord,"
    " i.kind, CASE WHEN i.kind = 'C' THEN i.gtin END AS sscc, {lot_id} AS lot_id, i.item,"
    " CASE WHEN i.kind = 'S' THEN coalesce(s.qty, 1) ELSE s.qty END AS qty, s.uom"
    " FROM {s}._stage s JOIN {s}._ids i ON i.txt = s.txt{ilmd} WHERE s.lst > 0"
)
_ENTRIES_ILMD = " LEFT JOIN {s}._ilmd m ON m.position = s.position AND m.txt = s.txt"

# Step 4: each table, one INSERT ... SELECT mirroring facts_of / rows_of rule by rule (after the helper tables
# it reads, in this order); lots and lot_identifiers are filled by step 2
FILLS: dict[str, tuple[str, ...]] = {
    # facts.items[item] = lot: per event the last reference of an item wins, then distinct over events
    "items": (
        "INSERT INTO {s}.items (item, lot_id) SELECT DISTINCT item, lot_id FROM ("
        " SELECT DISTINCT ON (position, item) item, lot_id FROM {s}._ent"
        f" WHERE lst BETWEEN {EPC} AND {OUT_QTY} AND kind = 'S' AND lot_id IS NOT NULL"
        " ORDER BY position, item, lst DESC, ord DESC) x",
    ),
    "lineage_events": (
        "INSERT INTO {s}.lineage_events (event_key, event_id, event_type, event_time, tz_offset, position, location)"
        " SELECT event_key, event_id, etype, event_time, tz_offset, position, location FROM {s}._stage"
        " WHERE lst = 0 AND NOT decl",
    ),
    # declaration_of: reason, corrective event ids (in order), declaration time
    "retractions": (
        "INSERT INTO {s}.retractions (event_key, reason, corrective_ids, declared_at, position)"
        " SELECT event_key, declaration->>'reason', ARRAY(SELECT t.v FROM jsonb_array_elements_text("
        "  declaration->'correctiveEventIDs') WITH ORDINALITY t(v, o) ORDER BY t.o),"
        "  (declaration->>'declarationTime')::timestamptz, position FROM {s}._stage WHERE lst = 0 AND decl",
    ),
    # origins: a transformation's output lots (items included); an ObjectEvent ADD's lot lines (no items)
    "lot_origins": (
        "INSERT INTO {s}.lot_origins (lot_id, event_key) SELECT DISTINCT lot_id, event_key FROM {s}._ent"
        f" WHERE lot_id IS NOT NULL AND lst BETWEEN {EPC} AND {OUT_QTY} AND kind IN ('L', 'S')"
        f" AND ((etype = 'TransformationEvent' AND lst IN ({OUT_EPC}, {OUT_QTY}))"
        "  OR (etype = 'ObjectEvent' AND action = 'ADD' AND kind = 'L'))",
    ),
    "transformation_io": (
        "INSERT INTO {s}.transformation_io (tkey, event_key, role, lot_id, item, quantity, uom)"
        f" SELECT tkey, event_key, CASE WHEN lst IN ({IN_EPC}, {IN_QTY}) THEN 'in' ELSE 'out' END,"
        f" lot_id, item, qty, uom FROM {{s}}._ent"
        f" WHERE etype = 'TransformationEvent' AND lst BETWEEN {IN_EPC} AND {OUT_QTY} AND kind IN ('L', 'S')",
    ),
    # per Object/Aggregation event: lot content in its epc/quantity lists (lines) or child lists (children),
    # SSCCs in its epcList, and its parent's SSCC (when parentID is one)
    "aggregations": (
        "CREATE UNLOGGED TABLE {s}._has AS SELECT position,"
        f" bool_or(lst IN ({EPC}, {QTY}) AND kind IN ('L', 'S')) AS lines,"
        f" bool_or(lst IN ({CHILD_EPC}, {CHILD_QTY}) AND kind IN ('L', 'S')) AS children,"
        f" bool_or(lst = {EPC} AND kind = 'C') AS ssccs,"
        f" max(sscc) FILTER (WHERE lst = {PARENT}) AS parent"
        " FROM {s}._ent WHERE etype IN ('ObjectEvent', 'AggregationEvent') GROUP BY position",
        # AggLine per child on ADD/DELETE of an SSCC parent; a DELETE without childEPCs and no child empties it
        "INSERT INTO {s}.aggregations (event_key, sscc, action, event_time, lot_id, item, quantity, uom)"
        " SELECT s.event_key, h.parent, s.action, e.event_time, s.lot_id, s.item, s.qty, s.uom"
        " FROM {s}._has h JOIN {s}._ent s ON s.position = h.position"
        "  JOIN {s}._stage e ON e.position = h.position AND e.lst = 0"
        f" WHERE h.parent IS NOT NULL AND s.action IN ('ADD', 'DELETE') AND s.lst IN ({CHILD_EPC}, {CHILD_QTY})"
        "  AND s.kind IN ('L', 'S')"
        " UNION ALL SELECT e.event_key, h.parent, 'DELETE', e.event_time, NULL, NULL, NULL, NULL"
        " FROM {s}._stage e JOIN {s}._has h ON h.position = e.position"
        " WHERE e.lst = 0 AND e.etype = 'AggregationEvent' AND e.action = 'DELETE' AND h.parent IS NOT NULL"
        "  AND NOT h.children AND e.n_child_epcs = 0",
    ),
    # _movement: ObjectEvents with lot lines or SSCCs; AggregationEvents with children (travelling in the
    # parent: pallet) or an SSCC parent (the SSCC moved). Documents as [{type, id}] in list order.
    "movements": (
        "CREATE UNLOGGED TABLE {s}._mv AS"
        " SELECT e.position, e.event_key, e.etype, h.children, h.parent,"
        "  CASE e.biz_step WHEN 'receiving' THEN 'receive' ELSE 'ship' END AS kind, e.party, e.party_location,"
        "  e.location, coalesce((SELECT jsonb_agg(jsonb_build_object('type', t.v->'type', 'id', t.v->'bizTransaction')"
        "  ORDER BY t.o) FROM jsonb_array_elements(e.documents) WITH ORDINALITY t(v, o)), '[]') AS documents,"
        "  CASE WHEN e.etype = 'AggregationEvent' AND h.children THEN h.parent END AS pallet"
        " FROM {s}._stage e JOIN {s}._has h ON h.position = e.position"
        " WHERE e.lst = 0 AND NOT e.decl AND e.biz_step IN ('receiving', 'shipping') AND CASE e.etype"
        "  WHEN 'ObjectEvent' THEN h.lines OR h.ssccs WHEN 'AggregationEvent' THEN h.children OR h.parent IS NOT NULL"
        "  ELSE false END",
        "INSERT INTO {s}.movements (event_key, kind, party, party_location, location, documents, pallet)"
        " SELECT event_key, kind, party, party_location, location, documents, pallet FROM {s}._mv",
    ),
    "movement_lines": (
        "INSERT INTO {s}.movement_lines (event_key, lot_id, item, quantity, uom)"
        " SELECT s.event_key, s.lot_id, s.item, s.qty, s.uom FROM {s}._mv m JOIN {s}._ent s ON s.position = m.position"
        f" WHERE s.kind IN ('L', 'S') AND s.lst IN"
        f" (CASE m.etype WHEN 'ObjectEvent' THEN {EPC} ELSE {CHILD_EPC} END,"
        f"  CASE m.etype WHEN 'ObjectEvent' THEN {QTY} ELSE {CHILD_QTY} END)",
    ),
    "movement_ssccs": (
        "INSERT INTO {s}.movement_ssccs (event_key, sscc)"
        " SELECT DISTINCT s.event_key, s.sscc FROM {s}._mv m JOIN {s}._ent s ON s.position = m.position"
        f" WHERE m.etype = 'ObjectEvent' AND s.lst = {EPC} AND s.kind = 'C'"
        " UNION ALL SELECT event_key, parent FROM {s}._mv"
        " WHERE etype = 'AggregationEvent' AND NOT children AND parent IS NOT NULL",
    ),
}

STAGING = ("_stage", "_ids", "_ilmd", "_ent", "_has", "_mv")

BULK_JOINS = "SET LOCAL enable_nestloop = off"  # every join after the stage is bulk: hash joins, no lookups

SETTINGS = (  # for the build transaction only (SET LOCAL)
    "SET LOCAL jit = off",  # compiling these one-off statements costs more than it saves
    "SET LOCAL parallel_setup_cost = 100",  # let the stage scan use parallel workers
    "SET LOCAL parallel_tuple_cost = 0.001",
    "SET LOCAL work_mem = '64MB'",
)


@dataclass(slots=True)
class _Resolved:
    """The COPY text of ``_ids``, ``lots`` and ``lot_identifiers``, and whether an SGTIN lacked a lot."""

    ids: str = ""
    lots: str = ""
    identifiers: str = ""
    unlotted_items: bool = False


def _classify(text: str) -> tuple[str, str, str | None, str | None] | None:
    """``(kind, key, lot, item)`` by :mod:`schemas.identifiers`: L (lot), S (item, its lot when its link has
    one), C (SSCC); None when the text names none of them (those references are never used)."""
    ident = _parse(text)
    if ident is None or ident.key is None:
        return None
    if ident.kind is IdKind.LGTIN and ident.lot is not None:
        return "L", ident.key, ident.lot, None
    if ident.kind is IdKind.SGTIN:
        return "S", ident.key, ident.lot, ident.canonical
    if ident.kind is IdKind.SSCC:
        return "C", ident.key, None, None
    return None


def _resolve(texts: list[tuple[str, bool]]) -> _Resolved:
    """Classify every distinct text once and number the lots the referencing ones name.

    rows_of: a lot per (GTIN, lot) referenced as content (an LGTIN, or an SGTIN with a lot in its link), with
    the LGTIN texts seen as its identifiers, sorted as Python sorts (what ``lots.identifiers`` holds). Lot ids
    are handed out in the order lots are met (ids are internal; any numbering will do).
    """
    out = _Resolved()
    ids: list[str] = []
    lots: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for text, ref in texts:
        fast = quick_parse(text)
        plain = fast is not None and copy_text(text) is text  # then every field is COPY-safe
        if fast is not None:
            kind, key, lot, item = _KIND_CODE[fast[0]], fast[1], fast[2], None
        else:
            c = _classify(text)
            if c is None:
                continue
            kind, key, lot, item = c
        lot_id = NULL
        if ref and lot is not None:
            known = lots.get((key, lot))
            if known is None:
                known = lots[key, lot] = (str(len(lots) + 1), [])
            lot_id = known[0]
            if kind == "L":
                known[1].append(text)
        elif kind == "S" and ref:
            out.unlotted_items = True
        if plain:
            ids.append(f"{text}\t{kind}\t{key}\t{NULL if lot is None else lot}\t{NULL}\t{lot_id}\n")
        else:
            ids.append("\t".join(copy_field(v) for v in (text, kind, key, lot, item)) + f"\t{lot_id}\n")
    out.ids = "".join(ids)
    rows: list[str] = []
    identifiers: list[str] = []
    for (key, lot), (n, texts_seen) in lots.items():
        texts_seen.sort()
        rows.append(f"{n}\t{copy_text(key)}\t{copy_text(lot)}\t{copy_text(text_array(texts_seen))}\n")
        identifiers.extend(f"{n}\t{copy_text(t)}\n" for t in texts_seen)
    out.lots = "".join(rows)
    out.identifiers = "".join(identifiers)
    return out


def _copy(cur: Any, table: str, text: str) -> None:
    if text:
        copy_from(cur, f"COPY {table} FROM STDIN", text.encode())


def settings(cur: Any, *, joins: bool = False) -> None:
    """The settings of a bulk-load transaction (SET LOCAL: they end with it); ``joins`` for the statements after
    the stage, whose joins are all bulk (hash joins, never index lookups)."""
    for setting in SETTINGS:
        cur.execute(setting)
    if joins:
        cur.execute(BULK_JOINS)


def stage(cur: Any, schema: str, until: int) -> tuple[int, int]:
    """Step 1 for store positions 1..until: the stage, the one pass over the store.

    Returns the number of store rows read and the last position among them (both from the one snapshot of
    the stage statement: positions are gapless and commit in order, so it holds every row up to that).

    The tables must exist and be empty (``ddl.create_tables``). Runs in the caller's transaction.
    """
    s = quote_ident(schema)
    settings(cur)
    cur.execute(STAGE.format(s=s), {"until": until})
    cur.execute(f"ANALYZE {s}._stage (position, lst)")  # row counts for the plans below; other columns unused
    cur.execute(f"SELECT count(*), coalesce(max(position), 0) FROM {s}._stage WHERE lst = 0")
    events, position = cur.fetchone()
    return int(events), int(position)


def entries(cur: Any, schema: str) -> None:
    """Steps 2-3, after :func:`stage` committed: the identifiers, ``lots``, ``lot_identifiers`` and the resolved
    entries that :func:`fill` turns into the other tables (``lineage_events`` and ``retractions`` need only the
    stage, so they can be filled meanwhile)."""
    s = quote_ident(schema)
    settings(cur)
    cur.execute(TEXTS.format(s=s))
    resolved = _resolve(cur.fetchall())
    cur.execute(f"CREATE UNLOGGED TABLE {s}._ids (txt text, kind text, gtin text, lot text, item text,"
                " lot_id integer)")
    _copy(cur, f"{s}._ids", resolved.ids)
    _copy(cur, f"{s}.lots (id, gtin, lot, identifiers)", resolved.lots)
    _copy(cur, f"{s}.lot_identifiers (lot_id, identifier)", resolved.identifiers)
    cur.execute(f"ANALYZE {s}._ids (txt)")
    settings(cur, joins=True)
    if resolved.unlotted_items:
        for sql in ILMD:
            cur.execute(sql.format(s=s))
        cur.execute(ENTRIES.format(s=s, lot_id="coalesce(i.lot_id, m.lot_id)", ilmd=_ENTRIES_ILMD.format(s=s)))
    else:
        cur.execute(ENTRIES.format(s=s, lot_id="i.lot_id", ilmd=""))


def fill(cur: Any, schema: str, table: str) -> None:
    """Step 4 for one table (a no-op for ``lots`` and ``lot_identifiers``, filled by :func:`entries`), in a
    transaction (with ``settings(cur, joins=True)``) that sees what :func:`stage` and :func:`entries` committed.
    Tables are independent of each other, except that ``movements`` follows ``aggregations`` and precedes
    ``movement_lines`` and ``movement_ssccs``."""
    s = quote_ident(schema)
    for sql in FILLS.get(table, ()):
        cur.execute(sql.format(s=s))


def drop_staging(cur: Any, schema: str) -> None:
    s = quote_ident(schema)
    for table in STAGING:
        cur.execute(f"DROP TABLE IF EXISTS {s}.{table}")
