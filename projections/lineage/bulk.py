"""The bulk load of a rebuild, set-based inside PostgreSQL: ``INSERT INTO build.table SELECT ... FROM events``.

The incremental projection parses each event into the model and derives its facts in Python
(:mod:`projections.lineage.facts`); doing that for every stored event made rebuilds ~20× slower than COPYing the
same rows. Here the same facts are extracted from ``events.body`` by SQL, so the per-event work runs in C:

1. One scan of ``events`` (``position <= until``; in parallel workers) writes an unlogged stage: per event a
   header row (``lst = 0``: location, transformation key, ILMD lot, counterparty, documents, or the retraction
   of a declaration) and a row per entry of the identifier lists the Python path reads for that event type
   (``lst`` 1-8, in the order :class:`~projections.lineage.facts._Collector` visits them; 9 = parentID).
2. Identifiers: the two forms that make up almost every identifier in practice, LGTIN and SSCC EPC URNs in
   lower case with plain digits and a lot of ``[A-Za-z0-9_-]``, are normalised in that same scan (GTIN-14 /
   SSCC-18 with the GS1 check digit computed in SQL, :func:`fast_path_sql`). Every other string (Digital
   Links on any host, SGTINs, upper case, percent-encoded lots, malformed ...) goes, once per distinct string,
   through the same ``_parse`` of :mod:`schemas.identifiers` the projection uses. ``tests/test_lineage_bulk.py``
   checks the fast path against ``parse_identifier`` on generated identifiers, valid and not.
3. Lots get ids, then each lineage table is filled by one ``INSERT ... SELECT`` that mirrors
   :func:`~projections.lineage.facts.facts_of` and :func:`~projections.lineage.rows.rows_of` rule by rule (the
   comments name the rule). ``tests/test_lineage_bulk.py`` checks the tables equal the incremental
   projection's on a simulated bakery (shuffled, redelivered) plus crafted edge cases.

The stored body is the model written back by :func:`schemas.jsonld.event_to_json` (``consumers/records.py``), so
values are already stripped and vocabulary values canonical (bare CBV terms): the SQL compares them as stored.
"""

from __future__ import annotations

import io
from typing import Any

from projections.framework import quote_ident
from projections.lineage.facts import _parse
from schemas.identifiers import IdKind

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

_LGTIN, _SSCC = "urn:epc:class:lgtin:", "urn:epc:id:sscc:"


def _check_digit(key: str, n: int) -> str:
    """SQL for the GS1 mod-10 check digit of the ``n``-digit string ``key`` (weights 3,1,3,... from the right)."""
    def d(i: int) -> str:
        return f"ascii(substr({key}, {i}, 1))"
    odd = " + ".join(d(i) for i in range(n, 0, -2))  # the rightmost and every second one: weight 3
    even = " + ".join(d(i) for i in range(n - 1, 0, -2))
    offset = 48 * (3 * len(range(n, 0, -2)) + len(range(n - 1, 0, -2)))  # ascii('0') = 48 per digit
    return f"mod(10 - mod(3 * ({odd}) + ({even}) - {offset}, 10), 10)::text"


def fast_path_sql(t: str) -> tuple[str, str]:
    """Lateral functions computing, for the identifier text ``t``, ``q(f1, f2, f3, nd)`` and then
    ``p(kind, gtin, lot)``: kind L with GTIN-14 and lot for an LGTIN URN, C with the SSCC-18 for an SSCC URN,
    NULL (left to :mod:`schemas.identifiers`) for anything else or anything unusual.

    Exactly the cases where ``_parse_epc_urn`` takes the same path and ``unquote`` changes nothing: lower-case
    prefix, three (two) dot-separated fields of ASCII digits with the right lengths, and a non-empty lot with
    no ``%`` (percent-encoding), no newline (``.`` in the URN regex does not match one) and a printable ASCII
    last character (so ``strip()`` changes nothing).
    """
    digits = "'0123456789'"
    q = (f"unnest(ARRAY[split_part({t}, '.', 1)], ARRAY[split_part({t}, '.', 2)], ARRAY[split_part({t}, '.', 3)],"
         f" ARRAY[length({t}) - length(replace({t}, '.', ''))]) q(f1, f2, f3, nd)")
    lgtin = (f"starts_with({t}, '{_LGTIN}') AND q.nd = 2 AND length(q.f1) BETWEEN {len(_LGTIN) + 6} AND"
             f" {len(_LGTIN) + 12} AND ltrim(substr(q.f1, {len(_LGTIN) + 1}), {digits}) = '' AND q.f2 <> ''"
             f" AND ltrim(q.f2, {digits}) = '' AND length(q.f1) - {len(_LGTIN)} + length(q.f2) = 13"
             " AND q.f3 <> '' AND strpos(q.f3, '%%') = 0 AND strpos(q.f3, chr(10)) = 0"
             " AND ascii(right(q.f3, 1)) BETWEEN 33 AND 126")
    sscc = (f"starts_with({t}, '{_SSCC}') AND q.nd = 1 AND length(q.f1) > {len(_SSCC)}"
            f" AND ltrim(substr(q.f1, {len(_SSCC) + 1}), {digits}) = '' AND q.f2 <> ''"
            f" AND ltrim(q.f2, {digits}) = '' AND length(q.f1) - {len(_SSCC)} + length(q.f2) = 17")
    g = (f"substr(q.f2, 1, 1) || substr(q.f1, CASE WHEN starts_with({t}, '{_LGTIN}') THEN {len(_LGTIN) + 1}"
         f" ELSE {len(_SSCC) + 1} END) || substr(q.f2, 2)")
    k = f"unnest(ARRAY[CASE WHEN {lgtin} THEN 'L' WHEN {sscc} THEN 'C' END], ARRAY[{g}]) k(kind, g)"
    p = (f"(VALUES (k.kind, CASE k.kind WHEN 'L' THEN k.g || {_check_digit('k.g', 13)} WHEN 'C' THEN k.g || "
         f"{_check_digit('k.g', 17)} END, CASE WHEN k.kind = 'L' THEN q.f3 END)) p(kind, gtin, lot)")
    return q, f"{k} CROSS JOIN LATERAL {p}"


def _str(expr: str) -> str:
    """A JSON value as text when it is a non-empty string, else NULL (``isinstance(v, str) and v``)."""
    return f"CASE WHEN jsonb_typeof({expr}) = 'string' THEN nullif({expr} #>> '{{{{}}}}', '') END"


def _first_party(member: str, kind: str) -> str:
    """``facts._party``: the first entry of a source/destination list of the given type."""
    return f"jsonb_path_query_first(j.\"{member}List\", '$[*] ? (@.type == \"{kind}\").{member}') #>> '{{{{}}}}'"


_HDR = "x.lst = 0"
_MOVING = "e.event_type IN ('ObjectEvent', 'AggregationEvent') AND e.biz_step IN ('receiving', 'shipping')"
_FAST_Q, _FAST_P = fast_path_sql("x.txt")

# Step 1: one pass over the store. ``j`` parses each body once and picks the members the facts read; ``r`` zips
# the lists the facts of that event type read (ROWS FROM: row k holds the k-th entry of each list); ``x`` unzips
# them into one row per entry plus the header; ``m`` matches the fast identifier forms. All are lateral
# functions or VALUES (not subqueries), so scan, parsing and normalisation run in parallel workers.
STAGE = (
    "CREATE UNLOGGED TABLE {s}._stage AS"
    " SELECT e.position, e.event_key, e.is_declaration AS decl, e.event_type AS etype, e.biz_step, j.action,"
    # facts_of: tkey = tx:<transformationID>, else ev:<event key>
    " CASE WHEN e.event_type = 'TransformationEvent'"
    "  THEN coalesce('tx:' || nullif(j.\"transformationID\", ''), 'ev:' || e.event_key) END AS tkey,"
    " x.lst, r.ord, x.txt, x.qty, x.uom,"
    " p.kind, p.gtin,"
    # _Collector.ref: an SGTIN's lot comes from its link, else from the event's ILMD (_ilmd_lot: ADD or
    # TransformationEvent; the first non-empty string of three keys). The fast path has no SGTINs.
    " p.lot, NULL::text AS item,"
    " CASE WHEN (j.action = 'ADD' OR e.event_type = 'TransformationEvent') AND x.lst > 0 AND "
    "  p.kind IS NULL THEN coalesce("
    + _str("j.ilmd->'cbvmda:lotNumber'") + ", " + _str("j.ilmd->'urn:epcglobal:cbv:mda#lotNumber'")
    + ", " + _str("j.ilmd->'lotNumber'") + ") END AS ilmd_lot,"
    f" CASE WHEN {_HDR} THEN e.event_id END AS event_id,"
    f" CASE WHEN {_HDR} THEN e.event_time END AS event_time,"
    f" CASE WHEN {_HDR} THEN e.event_tz_offset END AS tz_offset,"
    # facts_of: location = biz_location or read_point
    f" CASE WHEN {_HDR} AND NOT e.is_declaration THEN coalesce(nullif(j.\"bizLocation\"->>'id', ''),"
    "  j.\"readPoint\"->>'id') END AS location,"
    f" CASE WHEN {_HDR} AND e.event_type = 'AggregationEvent'"
    "  THEN coalesce(jsonb_array_length(j.\"childEPCs\"), 0) END AS n_child_epcs,"
    # _movement: receiving → sourceList, shipping → destinationList; owning_party and location entries
    f" CASE WHEN {_HDR} AND {_MOVING} THEN CASE e.biz_step WHEN 'receiving' THEN "
    + _first_party("source", "owning_party") + " ELSE " + _first_party("destination", "owning_party")
    + " END END AS party,"
    f" CASE WHEN {_HDR} AND {_MOVING} THEN CASE e.biz_step WHEN 'receiving' THEN "
    + _first_party("source", "location") + " ELSE " + _first_party("destination", "location")
    + " END END AS party_location,"
    f" CASE WHEN {_HDR} AND {_MOVING} THEN j.\"bizTransactionList\" END AS documents,"
    f" CASE WHEN {_HDR} AND e.is_declaration THEN j.\"errorDeclaration\" END AS declaration"
    " FROM events e CROSS JOIN LATERAL jsonb_to_record(e.body::jsonb) AS j(action text,"
    "  \"transformationID\" text, \"parentID\" text, \"bizLocation\" jsonb, \"readPoint\" jsonb, ilmd jsonb,"
    "  \"sourceList\" jsonb, \"destinationList\" jsonb, \"bizTransactionList\" jsonb, \"errorDeclaration\" jsonb,"
    + ", ".join(f"\"{m}\" jsonb" for _, m, _ in _LISTS) + ")"
    " LEFT JOIN LATERAL ROWS FROM ("
    + ", ".join(f"jsonb_array_elements{'' if n in _QTY_LISTS else '_text'}(CASE WHEN NOT e.is_declaration"
                f" AND e.event_type IN ({types}) THEN j.\"{m}\" END)" for n, m, types in _LISTS)
    + ") WITH ORDINALITY r(" + ", ".join(f"l{n}" for n, _, _ in _LISTS) + ", ord) ON true"
    " CROSS JOIN LATERAL (VALUES (0, NULL::text, NULL::numeric, NULL::text), "
    + ", ".join(f"({n}, r.l{n}->>'epcClass', (r.l{n}->>'quantity')::numeric, r.l{n}->>'uom')" if n in _QTY_LISTS
                else f"({n}, r.l{n}, NULL, NULL)" for n, _, _ in _LISTS)
    + f", ({PARENT}, CASE WHEN e.event_type = 'AggregationEvent' AND NOT e.is_declaration"
    "   THEN nullif(j.\"parentID\", '') END, NULL, NULL)) x(lst, txt, qty, uom)"
    " CROSS JOIN LATERAL " + _FAST_Q + " CROSS JOIN LATERAL " + _FAST_P +
    " WHERE e.position <= %(until)s"
    f"  AND CASE WHEN x.lst = 0 THEN coalesce(r.ord, 1) = 1 WHEN x.lst = {PARENT} THEN coalesce(r.ord, 1) = 1"
    "   AND x.txt IS NOT NULL ELSE x.txt IS NOT NULL END"
)

# Step 2: the distinct strings the fast path left, for schemas.identifiers
TEXTS = "SELECT DISTINCT txt FROM {s}._stage WHERE lst > 0 AND kind IS NULL"

# ... and their results applied: LGTIN (a lot; its text is an identifier seen), SGTIN (an item; its lot from a
# /10/ in its link, else the event's ILMD lot; quantity 1 when absent), SSCC; anything else stays NULL.
RESOLVE = (
    "UPDATE {s}._stage s SET kind = i.kind, gtin = i.gtin, item = i.item,"
    " lot = CASE i.kind WHEN 'S' THEN coalesce(i.lot, s.ilmd_lot) ELSE i.lot END,"
    " qty = CASE i.kind WHEN 'S' THEN coalesce(s.qty, 1) ELSE s.qty END"
    " FROM {s}._ids i WHERE s.kind IS NULL AND s.lst > 0 AND i.txt = s.txt"
)

_REF = f"s.lst BETWEEN {EPC} AND {OUT_QTY} AND s.kind IN ('L', 'S')"
_LOT_ID = "{s}.lots l ON l.gtin = s.gtin AND l.lot = s.lot"

FILL: tuple[str, ...] = (
    # rows_of: lots, with the identifiers seen sorted as Python sorts (code points = COLLATE "C")
    "INSERT INTO {s}.lots (id, gtin, lot, identifiers) SELECT row_number() OVER (), gtin, lot, ids FROM ("
    " SELECT s.gtin, s.lot, coalesce(array_agg(DISTINCT s.txt COLLATE \"C\" ORDER BY s.txt COLLATE \"C\")"
    f"  FILTER (WHERE s.kind = 'L'), '{{{{}}}}') AS ids FROM {{s}}._stage s WHERE {_REF} AND s.lot IS NOT NULL"
    " GROUP BY s.gtin, s.lot) x",
    "ANALYZE {s}.lots",
    "INSERT INTO {s}.lot_identifiers (lot_id, identifier) SELECT DISTINCT l.id, s.txt"
    f" FROM {{s}}._stage s JOIN {_LOT_ID} WHERE {_REF} AND s.kind = 'L'",
    # facts.items[item] = lot: per event the last reference of an item wins, then distinct over events
    "INSERT INTO {s}.items (item, lot_id) SELECT DISTINCT x.item, l.id FROM ("
    " SELECT DISTINCT ON (s.position, s.item) s.item, s.gtin, s.lot FROM {s}._stage s"
    f" WHERE {_REF} AND s.kind = 'S' AND s.lot IS NOT NULL ORDER BY s.position, s.item, s.lst DESC, s.ord DESC) x"
    " JOIN {s}.lots l ON l.gtin = x.gtin AND l.lot = x.lot",
    "INSERT INTO {s}.lineage_events (event_key, event_id, event_type, event_time, tz_offset, position, location)"
    " SELECT event_key, event_id, etype, event_time, tz_offset, position, location FROM {s}._stage"
    " WHERE lst = 0 AND NOT decl",
    # declaration_of: reason, corrective event ids (in order), declaration time
    "INSERT INTO {s}.retractions (event_key, reason, corrective_ids, declared_at, position)"
    " SELECT event_key, declaration->>'reason', ARRAY(SELECT t.v FROM jsonb_array_elements_text("
    "  declaration->'correctiveEventIDs') WITH ORDINALITY t(v, o) ORDER BY t.o),"
    "  (declaration->>'declarationTime')::timestamptz, position FROM {s}._stage WHERE lst = 0 AND decl",
    # origins: a transformation's output lots (items included); an ObjectEvent ADD's lot lines (no items)
    "INSERT INTO {s}.lot_origins (lot_id, event_key) SELECT DISTINCT l.id, s.event_key"
    f" FROM {{s}}._stage s JOIN {_LOT_ID} WHERE {_REF}"
    f" AND ((s.etype = 'TransformationEvent' AND s.lst IN ({OUT_EPC}, {OUT_QTY}))"
    "  OR (s.etype = 'ObjectEvent' AND s.action = 'ADD' AND s.kind = 'L'))",
    "INSERT INTO {s}.transformation_io (tkey, event_key, role, lot_id, item, quantity, uom)"
    f" SELECT s.tkey, s.event_key, CASE WHEN s.lst IN ({IN_EPC}, {IN_QTY}) THEN 'in' ELSE 'out' END,"
    f" l.id, s.item, s.qty, s.uom FROM {{s}}._stage s LEFT JOIN {_LOT_ID}"
    f" WHERE {_REF} AND s.etype = 'TransformationEvent'",
    # per Object/Aggregation event: lot content in its epc/quantity lists (lines) or child lists (children),
    # SSCCs in its epcList, and its parent's SSCC (when parentID is one)
    "CREATE UNLOGGED TABLE {s}._has AS SELECT s.position,"
    f" bool_or(s.lst IN ({EPC}, {QTY}) AND s.kind IN ('L', 'S')) AS lines,"
    f" bool_or(s.lst IN ({CHILD_EPC}, {CHILD_QTY}) AND s.kind IN ('L', 'S')) AS children,"
    f" bool_or(s.lst = {EPC} AND s.kind = 'C') AS ssccs,"
    f" max(s.gtin) FILTER (WHERE s.lst = {PARENT} AND s.kind = 'C') AS parent"
    " FROM {s}._stage s WHERE s.lst > 0 AND s.etype IN ('ObjectEvent', 'AggregationEvent') GROUP BY s.position",
    # AggLine per child on ADD/DELETE of an SSCC parent; a DELETE without childEPCs and no child empties it
    "INSERT INTO {s}.aggregations (event_key, sscc, action, event_time, lot_id, item, quantity, uom)"
    " SELECT s.event_key, h.parent, s.action, e.event_time, l.id, s.item, s.qty, s.uom"
    " FROM {s}._has h JOIN {s}._stage s ON s.position = h.position"
    f"  JOIN {{s}}._stage e ON e.position = h.position AND e.lst = 0 LEFT JOIN {_LOT_ID}"
    f" WHERE h.parent IS NOT NULL AND s.action IN ('ADD', 'DELETE') AND s.lst IN ({CHILD_EPC}, {CHILD_QTY})"
    "  AND s.kind IN ('L', 'S')"
    " UNION ALL SELECT e.event_key, h.parent, 'DELETE', e.event_time, NULL, NULL, NULL, NULL"
    " FROM {s}._stage e JOIN {s}._has h ON h.position = e.position"
    " WHERE e.lst = 0 AND e.etype = 'AggregationEvent' AND e.action = 'DELETE' AND h.parent IS NOT NULL"
    "  AND NOT h.children AND e.n_child_epcs = 0",
    # _movement: ObjectEvents with lot lines or SSCCs; AggregationEvents with children (travelling in the
    # parent: pallet) or an SSCC parent (the SSCC moved). Documents as [{type, id}] in list order.
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
    "INSERT INTO {s}.movement_lines (event_key, lot_id, item, quantity, uom)"
    " SELECT s.event_key, l.id, s.item, s.qty, s.uom FROM {s}._mv m JOIN {s}._stage s ON s.position = m.position"
    f" LEFT JOIN {_LOT_ID} WHERE s.kind IN ('L', 'S') AND s.lst IN"
    f" (CASE m.etype WHEN 'ObjectEvent' THEN {EPC} ELSE {CHILD_EPC} END,"
    f"  CASE m.etype WHEN 'ObjectEvent' THEN {QTY} ELSE {CHILD_QTY} END)",
    "INSERT INTO {s}.movement_ssccs (event_key, sscc)"
    " SELECT DISTINCT s.event_key, s.gtin FROM {s}._mv m JOIN {s}._stage s ON s.position = m.position"
    f" WHERE m.etype = 'ObjectEvent' AND s.lst = {EPC} AND s.kind = 'C'"
    " UNION ALL SELECT event_key, parent FROM {s}._mv"
    " WHERE etype = 'AggregationEvent' AND NOT children AND parent IS NOT NULL",
)

STAGING = ("_stage", "_ids", "_has", "_mv")

SETTINGS = (  # for the build transaction only (SET LOCAL)
    "SET LOCAL jit = off",  # compiling these one-off statements costs more than it saves
    "SET LOCAL parallel_setup_cost = 100",  # let the stage scan use parallel workers
    "SET LOCAL parallel_tuple_cost = 0.001",
    "SET LOCAL work_mem = '64MB'",
)


def _id_row(text: str) -> str | None:
    """The COPY line of one identifier: kind L (lot), S (item), C (SSCC); None when it names none of them."""
    ident = _parse(text)
    if ident is None or ident.key is None:
        return None
    fields: tuple[str, str, str | None, str | None]
    if ident.kind is IdKind.LGTIN and ident.lot is not None:
        fields = ("L", ident.key, ident.lot, None)
    elif ident.kind is IdKind.SGTIN:
        fields = ("S", ident.key, ident.lot, ident.canonical)
    elif ident.kind is IdKind.SSCC:
        fields = ("C", ident.key, None, None)
    else:
        return None
    return "\t".join(_copy_text(v) for v in (text, *fields))


def _copy_text(v: str | None) -> str:
    if v is None:
        return "\\N"
    return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def bulk_load(cur: Any, schema: str, until: int) -> tuple[int, int]:
    """Fill the bare lineage tables of ``schema`` from store positions 1..until.

    Returns the number of store rows read and the last position among them (both from the one snapshot of
    the stage statement: positions are gapless and commit in order, so it holds every row up to that).

    The tables must exist and be empty (``ddl.create_tables``); edges, indexes and statistics are the
    caller's (:class:`~projections.lineage.projection.BulkLoader`). Runs in the caller's transaction.
    """
    s = quote_ident(schema)
    for setting in SETTINGS:
        cur.execute(setting)
    cur.execute(STAGE.format(s=s), {"until": until})
    cur.execute(TEXTS.format(s=s))
    buf = io.StringIO()
    for (text,) in cur.fetchall():
        line = _id_row(text)
        if line is not None:
            buf.write(line)
            buf.write("\n")
    cur.execute(f"CREATE UNLOGGED TABLE {s}._ids (txt text, kind text, gtin text, lot text, item text)")
    if buf.tell():
        buf.seek(0)
        cur.copy_expert(f"COPY {s}._ids FROM STDIN", buf)
        cur.execute(RESOLVE.format(s=s))
    cur.execute(f"ANALYZE {s}._stage")
    cur.execute("SET LOCAL enable_nestloop = off")  # every join below is bulk: hash joins, no lookups
    for sql in FILL:
        cur.execute(sql.format(s=s))
    cur.execute(f"SELECT count(*), coalesce(max(position), 0) FROM {s}._stage WHERE lst = 0")
    events, position = cur.fetchone()
    for table in STAGING:
        cur.execute(f"DROP TABLE {s}.{table}")
    return int(events), int(position)
