"""What one stored event contributes to lineage, as plain rows, before any database is involved.

Everything here is a pure function of one event: the projection stays independent of arrival order because
nothing derived from *other* events is computed at this stage (pallet contents, lot ids of serialised items,
transformation edges and retractions are resolved in SQL, over all facts, when they are read or rebuilt).

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from schemas.epcis.errors import IdentifierError
from schemas.epcis.identifiers import Identifier, IdKind, LotKey, parse_identifier
from schemas.epcis.model import Action, EPCISEvent, EventType, PartyRef, QuantityElement

RECEIVING = "receiving"
SHIPPING = "shipping"


@dataclass(frozen=True, slots=True)
class LotRef:
    """A reference to lot content: a lot, a serialised item whose lot is resolved later, or (``gtin``, with
    neither) a quantity of a GTIN whose lot the event does not say."""

    lot: LotKey | None
    item: str | None
    quantity: Decimal | None
    uom: str | None
    gtin: str | None = None  # content of no known lot: a GTIN alone, or a serialised item whose lot is not said


@dataclass(frozen=True, slots=True)
class Movement:
    """A receipt or shipment: who, where, when, and under which documents."""

    kind: str  # "receive" | "ship"
    party: str | None  # supplier (sourceList owning_party) or customer (destinationList owning_party)
    party_location: str | None  # the counterparty's location (sourceList/destinationList type location)
    location: str | None  # where the event happened (bizLocation, else readPoint)
    documents: tuple[tuple[str | None, str], ...]  # (BTT type, document id)
    lines: tuple[LotRef, ...]
    ssccs: tuple[str, ...]  # shipped/received SSCCs (distinct) whose contents are resolved through aggregation
    parent: str | None = None  # the SSCC an AggregationEvent's listed children travel in


@dataclass(frozen=True, slots=True)
class AggLine:
    """A child added to or deleted from a parent: lot content (``ref``), or an SSCC (``child``: a case on a
    pallet, whose own contents travel with it); neither on a DELETE that empties the parent."""

    sscc: str
    action: str  # "ADD" | "DELETE"
    ref: LotRef | None
    child: str | None = None


@dataclass(frozen=True, slots=True)
class IOLine:
    """One input or output of a transformation."""

    tkey: str
    role: str  # "in" | "out"
    ref: LotRef


@dataclass(slots=True)
class EventFacts:
    """The lineage facts of one (non-declaration) event."""

    event_key: str
    position: int
    event_id: str | None
    event_type: str
    event_time: datetime
    tz_offset: str
    lots: dict[LotKey, set[str]] = field(default_factory=dict)
    items: dict[str, LotKey] = field(default_factory=dict)
    io: list[IOLine] = field(default_factory=list)
    agg: list[AggLine] = field(default_factory=list)
    movement: Movement | None = None
    location: str | None = None
    tkey: str | None = None  # a TransformationEvent's transformation key


@dataclass(frozen=True, slots=True)
class Declaration:
    """An error declaration: it retracts ``event_key``; ``corrective_ids`` enter as ordinary events."""

    event_key: str
    position: int
    reason: str | None
    corrective_ids: tuple[str, ...]
    declared_at: datetime


@lru_cache(maxsize=65536)
def _parse(text: str) -> Identifier | None:
    try:
        return parse_identifier(text)
    except IdentifierError:
        return None


def _party(parties: tuple[PartyRef, ...], kind: str) -> str | None:
    return next((p.value for p in parties if p.type == kind), None)


class _Collector:
    def __init__(self, facts: EventFacts, ilmd_lot: str | None) -> None:
        self.facts = facts
        self.ilmd_lot = ilmd_lot

    def ref(self, text: str, quantity: Decimal | None, uom: str | None) -> LotRef | None:
        """The lot content named by an EPC or epcClass, recording the lot (and item) it reveals."""
        ident = _parse(text)
        if ident is None:
            return None
        if ident.kind is IdKind.LGTIN and ident.key is not None and ident.lot is not None:
            key = LotKey(ident.key, ident.lot)
            self.facts.lots.setdefault(key, set()).add(text)
            return LotRef(key, None, quantity, uom)
        if ident.kind is IdKind.SGTIN and ident.key is not None:
            item = ident.canonical
            lot = ident.lot if ident.lot is not None else self.ilmd_lot
            if lot is not None:
                key = LotKey(ident.key, lot)
                self.facts.lots.setdefault(key, set())
                self.facts.items[item] = key
                return LotRef(key, item, Decimal(1) if quantity is None else quantity, uom)
            return LotRef(None, item, Decimal(1) if quantity is None else quantity, uom, ident.key)
        if ident.kind is IdKind.GTIN and ident.key is not None:
            return LotRef(None, None, quantity, uom, ident.key)
        return None

    def refs(self, epcs: tuple[str, ...], quantities: tuple[QuantityElement, ...]) -> list[LotRef]:
        """The lot content an EPC list then a quantity list name, lot-less lines included."""
        out = [r for e in epcs if (r := self.ref(e, None, None)) is not None]
        out += [r for q in quantities if (r := self.ref(q.epc_class, q.quantity, q.uom)) is not None]
        return out


def _with_lot(refs: list[LotRef]) -> list[LotRef]:
    """``refs`` but those of a GTIN alone (no edge can be drawn from or to one); a serialised item stays, its lot
    may be named by another event."""
    return [r for r in refs if r.lot is not None or r.item is not None]


def _sscc(text: str) -> str | None:
    ident = _parse(text)
    return ident.key if ident is not None and ident.kind is IdKind.SSCC else None


def _ssccs(texts: tuple[str, ...]) -> tuple[str, ...]:
    """The distinct SSCCs an EPC list names, in order."""
    return tuple(dict.fromkeys(s for e in texts if (s := _sscc(e)) is not None))


def declaration_of(event_key: str, position: int, event: EPCISEvent) -> Declaration:
    """The retraction an error declaration (stored at ``position``) stands for."""
    decl = event.error_declaration
    assert decl is not None
    return Declaration(event_key, position, decl.reason, decl.corrective_event_ids, decl.declaration_time)


def facts_of(event_key: str, position: int, event: EPCISEvent) -> EventFacts:
    """Everything lineage needs from one event (an error declaration goes to :func:`declaration_of`)."""
    facts = EventFacts(event_key, position, event.event_id, event.type.value, event.event_time,
                       event.event_time_zone_offset, location=event.biz_location or event.read_point)
    c = _Collector(facts, event.stated_lot())
    t = event.type
    if t is EventType.TRANSFORMATION:
        tkey = facts.tkey = f"tx:{event.transformation_id}" if event.transformation_id else f"ev:{event_key}"
        facts.io += [IOLine(tkey, "in", r)
                     for r in _with_lot(c.refs(event.input_epc_list, event.input_quantity_list))]
        facts.io += [IOLine(tkey, "out", r)
                     for r in _with_lot(c.refs(event.output_epc_list, event.output_quantity_list))]
        return facts
    if t is EventType.AGGREGATION:
        children = c.refs(event.child_epcs, event.child_quantity_list)
        child_ssccs = _ssccs(event.child_epcs)
        parent = _sscc(event.parent_id) if event.parent_id else None
        if parent is not None and event.action in (Action.ADD, Action.DELETE):
            action = event.action.value
            facts.agg += [AggLine(parent, action, r) for r in children]
            facts.agg += [AggLine(parent, action, None, sscc) for sscc in child_ssccs]
            if event.action is Action.DELETE and not children and not event.child_epcs:
                facts.agg.append(AggLine(parent, "DELETE", None))  # DELETE without children empties it
        # a shipment or receipt of the children it lists, on the parent; else of the parent and its contents
        listed = bool(children or child_ssccs)
        facts.movement = _movement(event, children, child_ssccs if listed or parent is None else (parent,),
                                   parent if listed else None)
        return facts
    if t is EventType.OBJECT:
        lines = c.refs(event.epc_list, event.quantity_list)
        facts.movement = _movement(event, lines, _ssccs(event.epc_list))
        return facts
    # TransactionEvent / AssociationEvent: not lineage, but the lots they name are still lots seen
    c.refs(event.epc_list, event.quantity_list)
    c.refs(event.child_epcs, event.child_quantity_list)
    return facts


def _movement(event: EPCISEvent, lines: list[LotRef], ssccs: tuple[str, ...],
              parent: str | None = None) -> Movement | None:
    step = event.biz_step
    if step == RECEIVING:
        kind, parties = "receive", event.source_list
    elif step == SHIPPING:
        kind, parties = "ship", event.destination_list
    else:
        return None
    if not lines and not ssccs:
        return None
    return Movement(kind, _party(parties, "owning_party"), _party(parties, "location"),
                    event.biz_location or event.read_point,
                    tuple((b.type, b.value) for b in event.biz_transaction_list), tuple(lines), ssccs, parent)
