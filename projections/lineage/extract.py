"""How a stored event becomes lineage rows: the one definition, used by the incremental projection and by
rebuilds alike, from the JSON bodies as COPY text.

Both read store rows as ``COPY`` text of :data:`READ_COLUMNS` (a rebuild straight from ``COPY ... TO STDOUT``,
the incremental projection from the rows its projector read, :func:`store_text`); the rules run over the body
as ``orjson`` parses it, not over the model (which costs ≈ 250 µs an event to build), and each table's rows
come out as COPY text, which the server loads without parsing any JSON itself. The store wrote every body from
the model (``store/records.py``), so values are stripped, vocabulary values are bare CBV terms and quantities
are exact numbers: the rules compare them as stored.

What one event contributes is a pure function of that event (and of the lot ids, :class:`LotIds`): anything
that depends on several events (pallet contents, lots of serialised items named elsewhere, transformation
edges, retractions) is derived in SQL over all rows, when read or when a transformation's edges are rebuilt.

* Lots: every LGTIN / Digital Link ``/10/`` class names a lot; the text is kept as an identifier seen.
* Items: an SGTIN names its lot only through a ``/10/`` in its link or the ``cbvmda:lotNumber`` of its
  commissioning ILMD (domain.md §3); such pairs become item rows, other SGTINs stay unresolved item refs.
* Transformation inputs/outputs, keyed by ``transformationID`` when present (events sharing it form one
  transformation), else by the event itself.
* Movements: receipts (bizStep ``receiving``) and shipments (bizStep ``shipping``) of ObjectEvents and
  AggregationEvents, with their lots, quantities, SSCCs, parties and reference documents. A quantity of a
  GTIN with no lot (``urn:epc:idpat:sgtin:...*`` or a bare ``/01/`` link, domain.md §9 scenario 12) is kept
  as a lot-less line of that GTIN: it may hold any lot of it, so traces report it as ambiguous rather than
  drop it. So is a serialised item whose lot no event names (yet): its line carries its GTIN too. The same
  holds for a pallet's contents (aggregation lines). (A GTIN alone among a transformation's inputs or outputs
  is not kept: no edge can be drawn to a lot from it.)
* Aggregation lines: children (lot content, or SSCCs: cases on a pallet) added to or deleted from a
  parent (pallet) SSCC.
* Declarations: an error declaration retracts its event (same key).

``tests/test_lineage_bulk.py`` checks that a rebuild's tables equal the incremental projection's on a
simulated bakery (shuffled and redelivered) plus crafted edge cases.

Identifiers: LGTIN and SSCC EPC URNs in lower case with plain digits (most texts of a store) are read by
:func:`~schemas.epcis.identifiers.quick_parse` where they occur, which is cheap, and an LGTIN's lot id is kept per
text; every other string is classified once (:func:`_parse`). Lot ids come from :class:`LotIds`: a rebuild
numbers lots in the order they are met (ids are internal: any numbering will do), the incremental projection
starts from the ids its schema holds. What a rebuild keeps grows with the lots, not with the events: ≈ 0.4 KB a
lot (docs/performance.md, "Rebuild").

Every event of a rebuild passes through here, so this module is compiled by mypyc where Lotline is installed
(``lotline/buildinfo.py``): the source below is the one definition, compiled or not.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from projections.framework import StoreRow
from schemas.epcis.errors import IdentifierError
from schemas.epcis.identifiers import Identifier, IdKind, parse_identifier, quick_parse
from schemas.epcis.jsontext import loads
from schemas.epcis.lots import ilmd_lot
from store.pgcopy import NULL, copy_field, copy_text, text_array

STREAMED = ("items", "lineage_events", "retractions", "transformation_io", "aggregations",
            "movements", "movement_lines", "movement_ssccs", "lot_edges")
"""The tables whose rows are complete as soon as their event is read (``lots`` and ``lot_identifiers`` are
written once every event is: a lot's identifiers are all the texts seen for it)."""

READ_COLUMNS = "position, event_key, is_declaration, event_type, event_id, event_time, event_tz_offset, body"
"""What :meth:`Extractor.chunk` reads of each store row, in this order (``COPY ... TO STDOUT`` text)."""

RECEIVING = "receiving"
SHIPPING = "shipping"

_KIND = {IdKind.LGTIN: "L", IdKind.SSCC: "C"}
_MISSING = object()
_LONG_NUMBER = re.compile(r'"quantity":\s*-?[0-9.]{16}')
"""A quantity of 16 digits or more (or a look-alike inside a string: then only time is lost); quantities are
the only numbers the rules read. orjson reads numbers as doubles, and a double holds every decimal of up to 15
significant digits, which ``repr`` then gives back; a body with a longer one is read with exact decimals
(:func:`schemas.epcis.jsontext.loads`)."""


def _as_text(raw: str | bytes) -> str:
    return raw if isinstance(raw, str) else raw.decode()


def store_text(rows: Iterable[StoreRow]) -> bytes:
    """Store rows read by a projector as the COPY text of :data:`READ_COLUMNS` that :meth:`Extractor.chunk`
    reads (the event time in ISO 8601, which the server reads back as the same instant)."""
    return "".join(
        f"{r.position}\t{copy_text(r.event_key)}\t{'t' if r.is_declaration else 'f'}\t{copy_text(r.event_type)}\t"
        f"{copy_field(r.event_id)}\t{r.event_time.isoformat()}\t{copy_text(r.event_tz_offset)}\t{copy_text(r.body)}\n"
        for r in rows).encode()


@lru_cache(maxsize=65536)
def _parse(text: str) -> Identifier | None:
    """The identifier ``text`` names, None if it names none (cached: a store names the same few texts often)."""
    try:
        return parse_identifier(text)
    except IdentifierError:
        return None


def _classify(text: str) -> tuple[str, str, str | None, str | None] | None:
    """``(kind, key, lot, item)``: L (lot), S (item, with its lot when its link has one), C (SSCC), G (a GTIN
    with no lot); None when the text names none of them."""
    fast = quick_parse(text)
    if fast is not None:
        return _KIND[fast[0]], fast[1], fast[2], None
    ident = _parse(text)
    if ident is None or ident.key is None:
        return None
    if ident.kind is IdKind.LGTIN and ident.lot is not None:
        return "L", ident.key, ident.lot, None
    if ident.kind is IdKind.SGTIN:
        return "S", ident.key, ident.lot, ident.canonical
    if ident.kind is IdKind.SSCC:
        return "C", ident.key, None, None
    if ident.kind is IdKind.GTIN:
        return "G", ident.key, None, None
    return None


def _number(value: Any) -> str:
    """A quantity as the exact number text the store holds: an int or a Decimal as it is, a float (from a number
    of at most 15 digits, :data:`_LONG_NUMBER`) as ``repr`` gives it back."""
    if value is None:
        return NULL
    return repr(value) if type(value) is float else str(value)


def _party(parties: Any, kind: str, member: str) -> str:
    """The first entry of a source/destination list of the given type, as a COPY field."""
    if type(parties) is list:
        for p in parties:
            if type(p) is dict and p.get("type") == kind and type(v := p.get(member)) is str:
                return copy_text(v)
    return NULL


def _location(body: dict[str, Any]) -> str:
    """``biz_location or read_point`` (their ``id``), as a COPY field."""
    for member in ("bizLocation", "readPoint"):
        place = body.get(member)
        if type(place) is dict and type(loc := place.get("id")) is str and loc:
            return copy_text(loc)
    return NULL


_REF = tuple[str, str, str, str, str]  # COPY fields: lot id, item, quantity, uom, GTIN of a lot-less line


def _with_lot(refs: list[_REF]) -> list[_REF]:
    """``refs`` but those of a GTIN alone (no edge can be drawn from or to one): transformations do not keep
    them; a serialised item stays, its lot may be named by another event."""
    return [r for r in refs if r[0] is not NULL or r[1] is not NULL]


def _edges(ins: list[_REF], outs: list[_REF], tkey: str) -> list[str]:
    """The ``lot_edges`` rows of a transformation that stands alone (no transformationID) and names the lot of
    everything it uses: each distinct (input lot, output lot). The edges of the others (a transformationID
    shared by several events, a serial item whose lot a later event reveals) are derived in SQL once every
    fact is loaded (:func:`projections.lineage.bulk.finish_table`), as the incremental projection derives
    them."""
    if any(r[0] == NULL for r in ins) or any(r[0] == NULL for r in outs):
        return []
    dsts = dict.fromkeys(r[0] for r in outs)
    return [f"{a}\t{b}\t{tkey}\n" for a in dict.fromkeys(r[0] for r in ins) for b in dsts]


@dataclass(slots=True)
class LotIds:
    """The id of each lot an :class:`Extractor` meets, as COPY text: those ``known`` (by GTIN and lot), and for any
    other the next one, from ``next_id`` on (:meth:`number`), listed in ``new``.

    A rebuild starts from none, so lots are numbered 1, 2, ... in the order they are met; the incremental
    projection from the ids its schema holds (:class:`~projections.lineage.projection.LineageProjection`)."""

    known: dict[tuple[str, str], str] = field(default_factory=dict)
    next_id: int = 1
    new: list[tuple[str, str]] = field(default_factory=list)

    def number(self, key: tuple[str, str]) -> str:
        """A new id for the lot ``key`` (not ``known``), now known."""
        lid = self.known[key] = str(self.next_id)
        self.next_id += 1
        self.new.append(key)
        return lid


@dataclass(slots=True)
class Extractor:
    """Turns store rows into lineage rows, chunk by chunk; keeps what spans chunks (lots, items seen)."""

    lot_ids: LotIds = field(default_factory=LotIds)
    _ids: dict[str, Any] = field(default_factory=dict)  # text → _classify(text), but for plain URNs
    _lgtin: dict[str, str] = field(default_factory=dict)  # LGTIN text → its lot id, once registered
    _items: set[tuple[str, str]] = field(default_factory=set)  # (item, lot id) written so far
    events: int = 0
    position: int = 0

    def chunk(self, data: bytes) -> dict[str, bytes]:
        """The COPY text, per table of :data:`STREAMED`, of a ``COPY (SELECT READ_COLUMNS ...) TO STDOUT``."""
        out = self._lines(data.decode().split("\n"))
        return {t: "".join(lines).encode() for t, lines in out.items()}

    def _lines(self, lines: list[str]) -> dict[str, list[str]]:
        """The COPY lines, per table, of store rows given as COPY text lines (:data:`READ_COLUMNS`)."""
        out: dict[str, list[str]] = {t: [] for t in STREAMED}
        for line in lines:
            if not line:
                continue
            position, key, decl, etype, event_id, event_time, tz, body = line.split("\t", 7)
            raw: str | bytes = body if "\\" not in body else codecs.escape_decode(body.encode())[0]
            value = loads(raw) if _LONG_NUMBER.search(_as_text(raw)) else orjson.loads(raw)
            self._event(out, position, key, decl == "t", etype, event_id, event_time, tz, value)
            self.events += 1
            self.position = int(position)
        return out

    def lots(self) -> tuple[str, str]:
        """COPY text of ``lots`` (id, gtin, lot, identifiers) of the lots this extractor numbered (:attr:`LotIds.new`),
        and of ``lot_identifiers`` of every LGTIN text it met, once every chunk is read. (For a rebuild, every lot
        and identifier.)"""
        texts: dict[str, list[str]] = {}
        for text, lid in self._lgtin.items():
            texts.setdefault(lid, []).append(text)
        rows: list[str] = []
        known = self.lot_ids.known
        for gtin, lot in self.lot_ids.new:
            n = known[gtin, lot]
            own = sorted(texts.get(n, ()))  # as the lineage keeps them: in byte order
            rows.append(f"{n}\t{copy_text(gtin)}\t{copy_text(lot)}\t{copy_text(text_array(own))}\n")
        return "".join(rows), "".join(f"{lid}\t{copy_text(t)}\n" for t, lid in self._lgtin.items())

    # -- one event -----------------------------------------------------------------------------------------

    def _lot(self, gtin: str, lot: str) -> str:
        return self.lot_ids.known.get((gtin, lot)) or self.lot_ids.number((gtin, lot))

    def _kind(self, text: Any) -> Any:
        """``_classify(text)``, cached but for plain LGTIN URNs (most texts of a store), whose lot ids
        :meth:`_ref` keeps instead."""
        if type(text) is not str:
            return None
        c = self._ids.get(text, _MISSING)
        if c is _MISSING:
            fast = quick_parse(text)
            if fast is not None and fast[0] is IdKind.LGTIN:
                return "L", sys.intern(fast[1]), fast[2], None
            c = self._ids[text] = _classify(text) if fast is None else (_KIND[fast[0]], fast[1], None, None)
        return c

    def _refs(self, epcs: Any, quantities: Any, ilmd: str | None, items: dict[str, str]) -> list[_REF]:
        """The lot content named by an EPC list then a quantity list, lot-less lines included (SSCCs name
        none)."""
        out: list[_REF] = []
        if type(epcs) is list:
            for text in epcs:
                if (r := self._ref(text, NULL, NULL, ilmd, items)) is not None:
                    out.append(r)
        if type(quantities) is list:
            for q in quantities:
                if type(q) is dict:
                    uom = q.get("uom")
                    r = self._ref(q.get("epcClass"), _number(q.get("quantity")),
                                  NULL if type(uom) is not str else copy_text(uom), ilmd, items)
                    if r is not None:
                        out.append(r)
        return out

    def _ref(self, text: Any, qty: str, uom: str, ilmd: str | None, items: dict[str, str]) -> _REF | None:
        """The lot content an EPC or epcClass names: an LGTIN names its lot (its id kept per text, the text an
        identifier of the lot); an SGTIN its lot from its link, else the ILMD's (then the item is the lot's), or
        none (a lot-less line of its GTIN); a GTIN alone, a lot-less line."""
        if type(text) is str and (lid := self._lgtin.get(text)) is not None:
            return lid, NULL, qty, uom, NULL
        c = self._kind(text)
        if c is None:
            return None
        kind, gtin, lot, item = c
        if kind == "L":
            lid = self._lgtin[text] = self._lot(gtin, lot)
            return lid, NULL, qty, uom, NULL
        if kind == "S":
            lot = lot if lot is not None else ilmd
            qty = "1" if qty is NULL else qty
            if lot is None:
                return NULL, copy_text(item), qty, uom, gtin
            lid = self._lot(gtin, lot)
            items[item] = lid
            return lid, copy_text(item), qty, uom, NULL
        if kind == "G":
            return NULL, NULL, qty, uom, gtin
        return None

    def _sscc(self, text: Any) -> str | None:
        if type(text) is str and text in self._lgtin:  # a known LGTIN: no SSCC
            return None
        c = self._kind(text)
        return c[1] if c is not None and c[0] == "C" else None

    def _ssccs(self, texts: Any) -> tuple[str, ...]:
        """The distinct SSCCs an EPC list names, in order (anything but a list names none)."""
        if type(texts) is not list:
            return ()
        return tuple(dict.fromkeys(s for e in texts if (s := self._sscc(e)) is not None))

    def _event(self, out: dict[str, list[str]], position: str, key: str, decl: bool, etype: str, event_id: str,
               event_time: str, tz: str, value: Any) -> None:
        """The rows of one stored row: an error declaration's retraction, or an event's rows;
        ``key``, ``event_id``, ``event_time`` and ``tz`` arrive as COPY fields and leave as they came."""
        body: dict[str, Any] = value if type(value) is dict else {}
        if decl:
            d = body.get("errorDeclaration")
            d = d if type(d) is dict else {}
            reason, ids, at = d.get("reason"), d.get("correctiveEventIDs"), d.get("declarationTime")
            ids = [i if type(i) is str else orjson.dumps(i).decode() for i in ids] if type(ids) is list else []
            out["retractions"].append(
                f"{key}\t{NULL if type(reason) is not str else copy_text(reason)}\t{copy_text(text_array(ids))}"
                f"\t{NULL if type(at) is not str else copy_text(at)}\t{position}\n")
            return
        location = _location(body)
        ev = f"{key}\t{event_id}\t{event_time}\t{tz}"
        action = body.get("action")
        ilmd = ilmd_lot(etype, action if type(action) is str else None, body.get("ilmd"))
        items: dict[str, str] = {}
        tkey = NULL  # lineage_events names a transformation's key
        if etype == "TransformationEvent":
            tid = body.get("transformationID")
            alone = not (type(tid) is str and tid)
            tkey = f"ev:{key}" if alone else copy_text(f"tx:{tid}")
            io = out["transformation_io"]
            ins = _with_lot(self._refs(body.get("inputEPCList"), body.get("inputQuantityList"), ilmd, items))
            outs = _with_lot(self._refs(body.get("outputEPCList"), body.get("outputQuantityList"), ilmd, items))
            io.extend(f"{tkey}\t{key}\tin\t{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\n" for r in ins)
            io.extend(f"{tkey}\t{key}\tout\t{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\n" for r in outs)
            if alone:
                out["lot_edges"].extend(_edges(ins, outs, tkey))
        elif etype == "AggregationEvent":
            child_epcs = body.get("childEPCs")
            children = self._refs(child_epcs, body.get("childQuantityList"), ilmd, items)
            child_ssccs = self._ssccs(child_epcs)
            parent_id = body.get("parentID")
            parent = self._sscc(parent_id) if parent_id else None
            if parent is not None and action in ("ADD", "DELETE"):
                agg, head = out["aggregations"], f"{key}\t{parent}\t{action}\t{event_time}"
                agg.extend(f"{head}\t{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{NULL}\t{r[4]}\n" for r in children)
                agg.extend(f"{head}\t{NULL}\t{NULL}\t{NULL}\t{NULL}\t{sscc}\t{NULL}\n" for sscc in child_ssccs)
                if action == "DELETE" and not children and not child_epcs:  # a DELETE without children empties it
                    agg.append(f"{head}\t{NULL}\t{NULL}\t{NULL}\t{NULL}\t{NULL}\t{NULL}\n")
            listed = bool(children or child_ssccs)
            self._movement(out, ev, key, body, location, children,
                           child_ssccs if listed or parent is None else (parent,), parent if listed else None)
        elif etype == "ObjectEvent":
            epcs = body.get("epcList")
            lines = self._refs(epcs, body.get("quantityList"), ilmd, items)
            self._movement(out, ev, key, body, location, lines, self._ssccs(epcs), None)
        else:  # TransactionEvent / AssociationEvent: not lineage, but the lots they name are still lots seen
            self._refs(body.get("epcList"), body.get("quantityList"), ilmd, items)
            self._refs(body.get("childEPCs"), body.get("childQuantityList"), ilmd, items)
        out["lineage_events"].append(f"{key}\t{tkey}\n")
        for item, lid in items.items():  # per event the last reference of an item wins
            if (item, lid) not in self._items:
                self._items.add((item, lid))
                out["items"].append(f"{copy_text(item)}\t{lid}\n")

    def _movement(self, out: dict[str, list[str]], ev: str, key: str, body: dict[str, Any], location: str,
                  lines: list[_REF], ssccs: tuple[str, ...], parent: str | None) -> None:
        """Receipts (sourceList) and shipments (destinationList) that move something
        (``ssccs`` distinct, as :meth:`_ssccs` gives them); ``ev`` is the event's key, id, time and offset as COPY
        fields, the first columns of its row."""
        step = body.get("bizStep")
        if step == RECEIVING:
            kind, parties, member = "receive", body.get("sourceList"), "source"
        elif step == SHIPPING:
            kind, parties, member = "ship", body.get("destinationList"), "destination"
        else:
            return
        if not lines and not ssccs:
            return
        docs = body.get("bizTransactionList")
        documents = orjson.dumps([{"type": d.get("type"), "id": d.get("bizTransaction")} for d in docs
                                  if type(d) is dict] if type(docs) is list else []).decode()
        out["movements"].append(f"{ev}\t{kind}\t{_party(parties, 'owning_party', member)}\t"
                                f"{_party(parties, 'location', member)}\t{location}\t{copy_text(documents)}\t"
                                f"{NULL if parent is None else parent}\n")
        out["movement_lines"].extend(f"{key}\t{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\n" for r in lines)
        out["movement_ssccs"].extend(f"{key}\t{s}\n" for s in ssccs)
