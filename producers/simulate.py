"""A deterministic bakery simulator that streams EPCIS 2.0 events.

The plant receives supplier lots of flour, sugar, eggs and butter, mixes them into dough lots, bakes dough
into cookie lots (sometimes one dough lot splits into two cookie lots, sometimes two dough lots merge into
one), sends a few cases of some cookie lots back into a later dough run (rework), packs cases onto SSCC
pallets, ships pallets or loose cases to customers, and now and then corrects a shipment sent to the wrong
customer with an EPCIS error declaration plus a corrective event. Together these exercise every lineage rule
of design-notes.md ("Lineage semantics"): transformation edges, containment (ADD minus DELETE), custody,
rework loops and retractions.

Why it looks the way it does:

* **Pure and deterministic.** :func:`simulate` yields :class:`~schemas.epcis.model.EPCISEvent` objects and does no
  I/O; the same :class:`PlantConfig` (seed included) always yields the same events, event IDs included, so
  tests, benchmarks and demos can name expected answers.
* **Streaming with flat memory.** Only the plant's working state is kept (open supplier lots, dough waiting
  for the oven, cases waiting for a pallet, pallets waiting for a truck), never the events, so millions of
  events can be generated. What tests need to check answers goes into an optional, size-bounded
  :class:`SimulationLog`.
* **Valid GS1 everywhere.** Company prefixes have 7 digits, item references 6, GLNs in business-transaction
  URNs carry correct check digits; every event passes ``validate()`` and round-trips through Avro and
  JSON-LD unchanged.

Event times advance by a random gap before each event and are strictly increasing in stream order, except
for an error declaration and its corrective event, which restate the eventTime of the shipment they correct
(a declaration is a re-capture of the original; the correction describes what really happened then).
"""

from __future__ import annotations

import itertools
import math
import random
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

from schemas.epcis.identifiers import LotKey, gs1_check_digit
from schemas.epcis.model import (
    Action,
    BizTransaction,
    EPCISEvent,
    ErrorDeclaration,
    EventType,
    PartyRef,
    QuantityElement,
)
from schemas.epcis.timefmt import local_time, parse_offset

__all__ = [
    "BAKERY_INGREDIENTS",
    "CASES",
    "KGM",
    "CookieLotFacts",
    "DoughLotFacts",
    "IngredientLotFacts",
    "IngredientSpec",
    "MasterData",
    "PalletFacts",
    "PlantConfig",
    "Product",
    "ShipmentFacts",
    "SimulationLog",
    "Supplier",
    "TradingPartner",
    "bakery",
    "config_for_events",
    "master_data",
    "simulate",
]

KGM = "KGM"
"""UN/ECE Rec 20 code for kilograms: ingredients and dough."""
CASES = "CS"
"""UN/ECE Rec 20 code for cases: cookies."""


# --------------------------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class IngredientSpec:
    """A raw material: how much one dough run uses and how much a supplier delivers at a time."""

    name: str
    lot_prefix: str
    kg_per_run: Decimal
    delivery_kg: Decimal


BAKERY_INGREDIENTS: tuple[IngredientSpec, ...] = (
    IngredientSpec("flour", "F", Decimal(250), Decimal(2000)),
    IngredientSpec("sugar", "S", Decimal(90), Decimal(1000)),
    IngredientSpec("eggs", "E", Decimal(50), Decimal(400)),
    IngredientSpec("butter", "B", Decimal(110), Decimal(800)),
)


@dataclass(frozen=True, slots=True)
class PlantConfig:
    """Everything that shapes a simulation. Equal configs give identical event streams.

    Scale is ``days`` x ``dough_runs_per_day``; a dough run yields roughly six events (see
    :func:`config_for_events`). Probabilities are per opportunity: per bake for splits and merges, per cookie
    lot for rework, per pallet for an unpack, per shipping opportunity for a loose-case order, per shipment
    for an error declaration, per shipment of two or more pallets for a load (the pallets aggregated into one
    logistic unit with an SSCC of its own, which the shipment names: SSCCs inside an SSCC; off by default, so
    a seed's stream stays what it was).
    """

    seed: int = 0
    days: int = 5
    dough_runs_per_day: int = 6
    suppliers: int = 8
    customers: int = 5
    ingredients: tuple[IngredientSpec, ...] = BAKERY_INGREDIENTS
    kg_per_case: Decimal = Decimal(6)
    cases_per_pallet: int = 40
    max_pallets_per_shipment: int = 3
    split_probability: float = 0.15
    merge_probability: float = 0.10
    rework_probability: float = 0.10
    unpack_probability: float = 0.05
    loose_shipment_probability: float = 0.10
    error_probability: float = 0.03
    load_probability: float = 0.0
    start_date: date = date(2025, 3, 3)
    shift_start_hour: int = 6
    shift_hours: float = 16.0
    tz_offset: str = "-06:00"
    shelf_life_days: int = 90

    def __post_init__(self) -> None:
        """Reject configs the plant cannot run, naming the field (fail at construction, not mid-stream)."""
        if self.days < 0 or self.dough_runs_per_day < 1:
            raise ValueError("days must be >= 0 and dough_runs_per_day >= 1")
        if not self.ingredients:
            raise ValueError("ingredients must not be empty")
        if self.suppliers < len(self.ingredients):
            raise ValueError(f"suppliers must be >= {len(self.ingredients)} (one per ingredient at least)")
        if self.customers < 2:
            raise ValueError("customers must be >= 2 (a corrected shipment goes to a different customer)")
        if self.cases_per_pallet < 2 or self.max_pallets_per_shipment < 1 or self.kg_per_case <= 0:
            raise ValueError("cases_per_pallet must be >= 2, max_pallets_per_shipment >= 1, kg_per_case > 0")
        for name in ("split_probability", "merge_probability", "rework_probability", "unpack_probability",
                     "loose_shipment_probability", "error_probability", "load_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        parse_offset(self.tz_offset)


def bakery(seed: int = 0, **overrides: Any) -> PlantConfig:
    """The cookie-bakery preset (flour, sugar, eggs, butter → dough → cookies), with fields overridden."""
    return replace(PlantConfig(seed=seed), **overrides)


EVENTS_PER_RUN_ESTIMATE = 6.0
"""A rough events-per-dough-run figure used only to space event times; :func:`config_for_events` measures."""


def config_for_events(n: int, seed: int = 0, **overrides: Any) -> PlantConfig:
    """A bakery config that yields about ``n`` events (use ``simulate(config, limit=n)`` for exactly ``n``).

    Larger targets get a bigger plant rather than only a longer history: runs per day grow with √n (capped
    at 120, i.e. several lines), customers and suppliers with the run rate, and the number of days follows
    from an events-per-run rate measured on a short run of the same plant.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    runs = min(120, max(4, math.ceil(math.sqrt(n / 50))))
    base = bakery(seed, dough_runs_per_day=runs, customers=min(60, max(5, runs // 2)),
                  suppliers=min(40, max(8, runs // 3)), days=3)
    base = replace(base, **overrides)
    per_day = sum(1 for _ in simulate(base)) / base.days
    return replace(base, days=max(1, round(n / per_day)) if n else 0)


# --------------------------------------------------------------------------------------------- master data


@dataclass(frozen=True, slots=True)
class TradingPartner:
    """A company with one party GLN and one location GLN (a supplier, a customer DC, the bakery)."""

    name: str
    company_prefix: str
    party_ref: str
    location_ref: str
    gln: str = field(init=False)
    """The party GLN-13 (with check digit), used in business-transaction URNs."""
    pgln: str = field(init=False)
    """The party as an EPC URN (``owning_party`` in source and destination lists)."""
    sgln: str = field(init=False)
    """The party's site as an EPC URN (``location`` in source and destination lists)."""

    def __post_init__(self) -> None:
        """Derive the keys once: they go into every event, and check digits are not free."""
        object.__setattr__(self, "gln", _with_check(self.company_prefix + self.party_ref))
        object.__setattr__(self, "pgln", f"urn:epc:id:pgln:{self.company_prefix}.{self.party_ref}")
        object.__setattr__(self, "sgln", f"urn:epc:id:sgln:{self.company_prefix}.{self.location_ref}.0")

    def document(self, number: str) -> str:
        """A business-transaction URN issued by this party (``urn:epcglobal:cbv:bt:{GLN}:{number}``)."""
        return f"urn:epcglobal:cbv:bt:{self.gln}:{number}"


@dataclass(frozen=True, slots=True)
class Product:
    """A trade item: company prefix plus a 6-digit item reference whose first digit is the indicator."""

    name: str
    company_prefix: str
    item_ref: str
    uom: str

    @property
    def gtin(self) -> str:
        """The GTIN-14 with its check digit."""
        return _with_check(self.item_ref[0] + self.company_prefix + self.item_ref[1:])

    def lgtin(self, lot: str) -> str:
        """The EPC class URN of one lot of this product."""
        return f"urn:epc:class:lgtin:{self.company_prefix}.{self.item_ref}.{lot}"


@dataclass(frozen=True, slots=True)
class Supplier:
    """A supplier and the one ingredient product it delivers."""

    partner: TradingPartner
    ingredient: str
    product: Product


@dataclass(frozen=True, slots=True)
class MasterData:
    """The plant's fixed world: parties, locations and products. Depends only on seed and counts."""

    bakery: TradingPartner
    read_points: dict[str, str]
    dough: Product
    cookie: Product
    suppliers: tuple[Supplier, ...]
    customers: tuple[TradingPartner, ...]

    def suppliers_of(self, ingredient: str) -> tuple[Supplier, ...]:
        """Suppliers that deliver ``ingredient``."""
        return tuple(s for s in self.suppliers if s.ingredient == ingredient)


_READ_POINTS = ("receiving", "mixing", "oven", "packing", "shipping")


def _with_check(digits: str) -> str:
    return digits + str(gs1_check_digit(digits))


def _company_prefixes(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct 7-digit GS1 company prefixes in 0100000-0999999 (clear of restricted ranges)."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        cp = f"0{rng.randrange(100000, 1000000)}"
        if cp not in seen:
            seen.add(cp)
            out.append(cp)
    return out


def master_data(config: PlantConfig) -> MasterData:
    """Build the parties and products of ``config``; the same seed gives the same prefixes and names."""
    rng = random.Random(f"{config.seed}:master")
    prefixes = _company_prefixes(rng, 1 + config.suppliers + config.customers)
    cp = prefixes[0]
    plant = TradingPartner("Lotline Bakery", cp, "00001", "00010")
    read_points = {step: f"urn:epc:id:sgln:{cp}.{11 + i:05d}.0" for i, step in enumerate(_READ_POINTS)}
    suppliers = []
    for i, sup_cp in enumerate(prefixes[1:1 + config.suppliers]):
        spec = config.ingredients[i % len(config.ingredients)]
        partner = TradingPartner(f"{spec.name.title()} supplier {i + 1}", sup_cp, "00001", "00002")
        product = Product(spec.name, sup_cp, f"0{rng.randrange(10000, 100000)}", KGM)
        suppliers.append(Supplier(partner, spec.name, product))
    customers = tuple(TradingPartner(f"Customer {i + 1} DC", c, "00001", "00002")
                      for i, c in enumerate(prefixes[1 + config.suppliers:]))
    return MasterData(plant, read_points, Product("cookie dough", cp, "000101", KGM),
                      Product("cookies, case of 24", cp, "100201", CASES), tuple(suppliers), customers)


# --------------------------------------------------------------------------------------------- simulation log

V = TypeVar("V")


class RecentDict(OrderedDict[str, V]):
    """An insertion-ordered dict that forgets its oldest entries beyond ``capacity`` (None: keep all)."""

    def __init__(self, capacity: int | None) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: str, value: V) -> None:
        super().__setitem__(key, value)
        if self.capacity is not None and len(self) > self.capacity:
            self.popitem(last=False)


@dataclass(slots=True)
class IngredientLotFacts:
    """A supplier lot as received."""

    epc_class: str
    supplier_pgln: str
    kg: Decimal
    receiving_event_id: str


@dataclass(slots=True)
class DoughLotFacts:
    """A dough lot and exactly what went into it (the inputs of its TransformationEvent)."""

    epc_class: str
    kg: Decimal
    transformation_event_id: str
    ingredient_inputs: dict[str, Decimal]
    rework_inputs: dict[str, int]
    cookie_lots: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CookieLotFacts:
    """A cookie lot: its lineage, and where its cases went.

    ``produced = reworked + packed + loose_shipped + in_stock`` always holds; ``packed`` is net of unpacking.
    ``customers`` maps a customer PGLN to the cases it received, net of retracted shipments.
    """

    epc_class: str
    produced: int
    transformation_event_id: str
    dough_lots: tuple[str, ...]
    ingredient_lots: frozenset[str]
    rework_inputs: frozenset[str]
    reworked: int = 0
    packed: int = 0
    loose_shipped: int = 0
    pallets: list[str] = field(default_factory=list)
    customers: dict[str, int] = field(default_factory=dict)

    @property
    def in_stock(self) -> int:
        """Cases still at the plant, neither packed, shipped loose nor sent to rework."""
        return self.produced - self.reworked - self.packed - self.loose_shipped

    @property
    def lot_key(self) -> LotKey:
        """The lot as ``(GTIN-14, lot)``."""
        return LotKey.parse(self.epc_class)


@dataclass(slots=True)
class PalletFacts:
    """An SSCC: its net contents (ADDs minus DELETEs) and the shipment that carried it."""

    sscc: str
    contents: dict[str, int]
    aggregation_event_ids: list[str]
    shipment_event_id: str | None = None
    customer_pgln: str | None = None
    load: str | None = None  # the SSCC of the load it was shipped in, if it was


@dataclass(slots=True)
class ShipmentFacts:
    """A shipping event as emitted; a retracted one names the corrective event that replaced it."""

    event_id: str
    event_time: datetime
    customer_pgln: str
    ssccs: tuple[str, ...]
    contents: dict[str, int]
    retracted: bool = False
    corrective_event_id: str | None = None
    corrects_event_id: str | None = None


class SimulationLog:
    """What the simulator did, kept so tests can check answers against the events.

    Each kind of record keeps at most ``capacity`` entries, newest last (None keeps everything, fine for
    small runs). Records are written before the event they describe is yielded, so when a stream is cut by
    ``limit`` the log describes exactly the events that were yielded. Updates to an evicted record are
    dropped.
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.master: MasterData | None = None
        self.event_count = 0
        self.event_types: Counter[str] = Counter()
        self.declarations = 0
        self.ingredient_lots: RecentDict[IngredientLotFacts] = RecentDict(capacity)
        self.dough_lots: RecentDict[DoughLotFacts] = RecentDict(capacity)
        self.cookie_lots: RecentDict[CookieLotFacts] = RecentDict(capacity)
        self.pallets: RecentDict[PalletFacts] = RecentDict(capacity)
        self.shipments: RecentDict[ShipmentFacts] = RecentDict(capacity)

    def count(self, event: EPCISEvent) -> None:
        """Count one yielded event."""
        self.event_count += 1
        self.event_types[event.type.value] += 1
        if event.error_declaration is not None:
            self.declarations += 1

    def corrective_event_ids(self) -> set[str]:
        """IDs of the corrective shipment events still in the log."""
        return {s.event_id for s in self.shipments.values() if s.corrects_event_id is not None}


# --------------------------------------------------------------------------------------------- plant state


@dataclass(slots=True)
class _OpenLot:
    epc_class: str
    remaining: Decimal


@dataclass(slots=True)
class _Cases:
    epc_class: str
    cases: int


@dataclass(slots=True)
class _Dough:
    epc_class: str
    kg: Decimal
    ingredient_lots: frozenset[str]
    rework_lots: frozenset[str]


@dataclass(slots=True)
class _Pallet:
    sscc: str
    contents: dict[str, int]


@dataclass(slots=True)
class _Correction:
    original: EPCISEvent
    right_customer: TradingPartner
    document_number: int


class _Clock:
    """Plant time: a random gap before every event, each production day starting at the shift start."""

    def __init__(self, config: PlantConfig, rng: random.Random) -> None:
        self.rng = rng
        probe = local_time(datetime(2000, 1, 1, tzinfo=UTC), config.tz_offset)
        self.offset = probe.utcoffset() or timedelta()
        local_start = datetime.combine(config.start_date, time(config.shift_start_hour))
        self.start = local_start.replace(tzinfo=timezone(self.offset)).astimezone(UTC)
        self.now = self.start
        self.mean_gap = config.shift_hours * 3600 / (config.dough_runs_per_day * EVENTS_PER_RUN_ESTIMATE)

    def start_day(self, day: int) -> None:
        """Jump to the shift start of ``day`` unless the previous day ran past it."""
        self.now = max(self.now, self.start + timedelta(days=day))

    def tick(self) -> datetime:
        """Advance by a random gap of at least one second and return the new time."""
        self.now += timedelta(seconds=max(1, round(self.mean_gap * self.rng.uniform(0.4, 1.6))))
        return self.now

    def local_date(self) -> date:
        """Today at the plant (lot codes and best-before dates are local)."""
        return (self.now + self.offset).date()


def _id(event: EPCISEvent) -> str:
    """The eventID of an event this simulator made (it always sets one)."""
    assert event.event_id is not None
    return event.event_id


def _qty(epc_class: str, quantity: Decimal | int, uom: str) -> QuantityElement:
    return QuantityElement(epc_class, Decimal(quantity), uom)


def _parties(partner: TradingPartner) -> tuple[PartyRef, PartyRef]:
    return PartyRef("owning_party", partner.pgln), PartyRef("location", partner.sgln)


def _take_cases(stock: deque[_Cases], wanted: int) -> dict[str, int]:
    """Take up to ``wanted`` cases from the front of ``stock`` (FIFO), merged per lot."""
    taken: dict[str, int] = {}
    while wanted > 0 and stock:
        head = stock[0]
        n = min(wanted, head.cases)
        taken[head.epc_class] = taken.get(head.epc_class, 0) + n
        head.cases -= n
        wanted -= n
        if head.cases == 0:
            stock.popleft()
    return taken


class _Plant:
    """The plant's working state and one method per business step; each step yields its events."""

    def __init__(self, config: PlantConfig, log: SimulationLog | None) -> None:
        self.cfg = config
        self.md = master_data(config)
        self.rng = random.Random(f"{config.seed}:plant")
        self.ids = random.Random(f"{config.seed}:ids")
        self.clock = _Clock(config, self.rng)
        self.log = log
        if log is not None:
            log.master = self.md
        self.open_lots: dict[str, deque[_OpenLot]] = {s.name: deque() for s in config.ingredients}
        self.on_hand_kg: dict[str, Decimal] = {s.name: Decimal(0) for s in config.ingredients}
        self.suppliers = {s.name: self.md.suppliers_of(s.name) for s in config.ingredients}
        self.rework: deque[_Cases] = deque()
        self.dough: list[_Dough] = []
        self.cookies: deque[_Cases] = deque()
        self.cookie_cases = 0
        self.pallets: deque[_Pallet] = deque()
        self.corrections: list[_Correction] = []
        self.seq: Counter[str] = Counter()

    # -- helpers

    def _next(self, kind: str) -> int:
        self.seq[kind] += 1
        return self.seq[kind]

    def _event_id(self) -> str:
        return f"urn:uuid:{uuid.UUID(int=self.ids.getrandbits(128), version=4)}"

    def _event(self, event_type: EventType, **fields: Any) -> EPCISEvent:
        """A new event at the next clock tick, counted in the log before anyone sees it."""
        event = EPCISEvent(type=event_type, event_time=self.clock.tick(),
                           event_time_zone_offset=self.cfg.tz_offset, event_id=self._event_id(), **fields)
        return self._counted(event)

    def _counted(self, event: EPCISEvent) -> EPCISEvent:
        if self.log is not None:
            self.log.count(event)
        return event

    def _lot_code(self, prefix: str, kind: str) -> str:
        return f"{prefix}{self.clock.local_date():%y%m%d}{self._next(kind):05d}"

    # -- the day

    def run(self, unbounded: bool) -> Iterator[EPCISEvent]:
        """Run ``config.days`` production days, or for ever when ``unbounded`` (the caller cuts it)."""
        for day in itertools.count():
            if not unbounded and day >= self.cfg.days:
                return
            yield from self._day(day)

    def _day(self, day: int) -> Iterator[EPCISEvent]:
        self.clock.start_day(day)
        runs = self.cfg.dough_runs_per_day
        for run in range(runs):
            needs = self._run_needs()
            yield from self._receive_shortages(needs)
            yield from self._mix(needs)
            if self._ready_to_bake(last=run == runs - 1):
                yield from self._bake()
            yield from self._pack()
            yield from self._ship()
        yield from self._issue_corrections()

    def _run_needs(self) -> dict[str, Decimal]:
        """The kilograms of each ingredient the next dough run uses (recipe ± 5 kg, to 0.1 kg)."""
        return {s.name: s.kg_per_run + Decimal(self.rng.randint(-50, 50)) / 10 for s in self.cfg.ingredients}

    # -- receiving

    def _receive_shortages(self, needs: dict[str, Decimal]) -> Iterator[EPCISEvent]:
        """Receive supplier lots until every ingredient covers the coming run."""
        for spec in self.cfg.ingredients:
            while self.on_hand_kg[spec.name] < needs[spec.name]:
                yield self._receive(spec)

    def _receive(self, spec: IngredientSpec) -> EPCISEvent:
        """ObjectEvent OBSERVE receiving: a supplier lot arrives, with its PO and the supplier's ASN."""
        supplier = self.rng.choice(self.suppliers[spec.name])
        kg = Decimal(25 * round(float(spec.delivery_kg) * self.rng.uniform(0.8, 1.2) / 25))
        epc_class = supplier.product.lgtin(self._lot_code(spec.lot_prefix, "supplier-lot"))
        self.open_lots[spec.name].append(_OpenLot(epc_class, kg))
        self.on_hand_kg[spec.name] += kg
        n = self._next("po")
        event = self._event(
            EventType.OBJECT, action=Action.OBSERVE, biz_step="receiving", disposition="in_progress",
            read_point=self.md.read_points["receiving"], biz_location=self.md.bakery.sgln,
            quantity_list=(_qty(epc_class, kg, KGM),),
            biz_transaction_list=(BizTransaction(self.md.bakery.document(f"PO{n:07d}"), "po"),
                                  BizTransaction(supplier.partner.document(f"ASN{n:07d}"), "desadv")),
            source_list=_parties(supplier.partner), destination_list=_parties(self.md.bakery))
        if self.log is not None:
            self.log.ingredient_lots[epc_class] = IngredientLotFacts(
                epc_class, supplier.partner.pgln, kg, _id(event))
        return event

    # -- mixing

    def _consume(self, ingredient: str, wanted: Decimal) -> dict[str, Decimal]:
        """Take ``wanted`` kg of an ingredient from its oldest open lots (FIFO; may span two lots)."""
        used: dict[str, Decimal] = {}
        lots = self.open_lots[ingredient]
        while wanted > 0:
            head = lots[0]
            n = min(wanted, head.remaining)
            used[head.epc_class] = used.get(head.epc_class, Decimal(0)) + n
            head.remaining -= n
            self.on_hand_kg[ingredient] -= n
            wanted -= n
            if head.remaining == 0:
                lots.popleft()
        return used

    def _mix(self, needs: dict[str, Decimal]) -> Iterator[EPCISEvent]:
        """TransformationEvent: ingredient lots (plus the oldest pending rework cases) → one new dough lot."""
        ingredients: dict[str, Decimal] = {}
        for name, wanted in needs.items():
            ingredients.update(self._consume(name, wanted))
        rework: dict[str, int] = {}
        if self.rework:
            returned = self.rework.popleft()
            rework[returned.epc_class] = returned.cases
        kg = sum(ingredients.values(), Decimal(0)) + sum(rework.values()) * self.cfg.kg_per_case
        epc_class = self.md.dough.lgtin(self._lot_code("D", "dough"))
        event = self._event(
            EventType.TRANSFORMATION, biz_step="creating_class_instance", disposition="active",
            read_point=self.md.read_points["mixing"], biz_location=self.md.bakery.sgln,
            input_quantity_list=tuple(_qty(c, q, KGM) for c, q in ingredients.items())
            + tuple(_qty(c, q, CASES) for c, q in rework.items()),
            output_quantity_list=(_qty(epc_class, kg, KGM),),
            biz_transaction_list=(BizTransaction(self.md.bakery.document(f"WO{self._next('wo'):07d}"),
                                                 "prodorder"),))
        self.dough.append(_Dough(epc_class, kg, frozenset(ingredients), frozenset(rework)))
        if self.log is not None:
            self.log.dough_lots[epc_class] = DoughLotFacts(epc_class, kg, _id(event), ingredients, rework)
        yield event

    # -- baking

    def _ready_to_bake(self, last: bool) -> bool:
        """Bake now, or hold a lone dough lot so the next one can merge with it (never past the day's end)."""
        if len(self.dough) >= 2 or last:
            return True
        return self.rng.random() >= self.cfg.merge_probability

    def _cookie_lot_sizes(self, kg: Decimal) -> list[int]:
        total = max(2, int(kg * Decimal("0.98") / self.cfg.kg_per_case))
        if self.rng.random() < self.cfg.split_probability:
            first = self.rng.randint(total * 3 // 10, total * 7 // 10)
            return [max(1, first), max(1, total - first)]
        return [total]

    def _bake(self) -> Iterator[EPCISEvent]:
        """TransformationEvent: the waiting dough lot(s) → one or two cookie lots, with a best-before date."""
        doughs, self.dough = self.dough, []
        sizes = self._cookie_lot_sizes(sum((d.kg for d in doughs), Decimal(0)))
        outputs = [(self.md.cookie.lgtin(self._lot_code("C", "cookie")), n) for n in sizes]
        best_before = self.clock.local_date() + timedelta(days=self.cfg.shelf_life_days)
        event = self._event(
            EventType.TRANSFORMATION, biz_step="creating_class_instance", disposition="active",
            read_point=self.md.read_points["oven"], biz_location=self.md.bakery.sgln,
            input_quantity_list=tuple(_qty(d.epc_class, d.kg, KGM) for d in doughs),
            output_quantity_list=tuple(_qty(c, n, CASES) for c, n in outputs),
            biz_transaction_list=(BizTransaction(self.md.bakery.document(f"WO{self._next('wo'):07d}"),
                                                 "prodorder"),),
            ilmd={"cbvmda:bestBeforeDate": best_before.isoformat()})
        self._log_bake(event, doughs, outputs)
        for epc_class, n in outputs:
            self.cookies.append(_Cases(epc_class, n))
            self.cookie_cases += n
        yield event
        self._maybe_rework(outputs)

    def _log_bake(self, event: EPCISEvent, doughs: list[_Dough], outputs: list[tuple[str, int]]) -> None:
        if self.log is None:
            return
        ingredient_lots = frozenset[str]().union(*(d.ingredient_lots for d in doughs))
        rework_lots = frozenset[str]().union(*(d.rework_lots for d in doughs))
        for epc_class, n in outputs:
            self.log.cookie_lots[epc_class] = CookieLotFacts(
                epc_class, n, _id(event), tuple(d.epc_class for d in doughs), ingredient_lots,
                rework_lots)
        for d in doughs:
            facts = self.log.dough_lots.get(d.epc_class)
            if facts is not None:
                facts.cookie_lots.extend(c for c, _ in outputs)

    def _maybe_rework(self, outputs: list[tuple[str, int]]) -> None:
        """Set aside a few cases of a fresh cookie lot (broken, misshapen) for a later dough run."""
        if self.rng.random() >= self.cfg.rework_probability:
            return
        epc_class, n = self.rng.choice(outputs)
        entry = next(c for c in self.cookies if c.epc_class == epc_class)
        cases = min(entry.cases - 1, self.rng.randint(2, max(2, n // 10)))
        if cases <= 0:
            return
        entry.cases -= cases
        self.cookie_cases -= cases
        self.rework.append(_Cases(epc_class, cases))
        facts = self.log.cookie_lots.get(epc_class) if self.log is not None else None
        if facts is not None:
            facts.reworked += cases

    # -- packing

    def _pack(self) -> Iterator[EPCISEvent]:
        """AggregationEvent ADD: full pallets of cases (FIFO, up to two lots), sometimes partly unpacked."""
        while self.cookie_cases >= self.cfg.cases_per_pallet:
            contents = _take_cases(self.cookies, self.cfg.cases_per_pallet)
            self.cookie_cases -= self.cfg.cases_per_pallet
            pallet = _Pallet(self._new_sscc(), contents)
            add = self._event(
                EventType.AGGREGATION, action=Action.ADD, biz_step="packing", disposition="in_progress",
                read_point=self.md.read_points["packing"], biz_location=self.md.bakery.sgln,
                parent_id=pallet.sscc,
                child_quantity_list=tuple(_qty(c, n, CASES) for c, n in contents.items()))
            self._log_packed(pallet.sscc, contents, add, sign=1)
            yield add
            if len(contents) > 1 and self.rng.random() < self.cfg.unpack_probability:
                yield self._unpack(pallet)
            self.pallets.append(pallet)

    def _new_sscc(self) -> str:
        serial = self._next("sscc")
        return f"urn:epc:id:sscc:{self.md.bakery.company_prefix}.0{serial:09d}"

    def _unpack(self, pallet: _Pallet) -> EPCISEvent:
        """AggregationEvent DELETE: take some cases of the pallet's last lot off again (back to stock)."""
        epc_class, on_pallet = list(pallet.contents.items())[-1]
        removed = self.rng.randint(1, on_pallet)
        if removed == on_pallet:
            del pallet.contents[epc_class]
        else:
            pallet.contents[epc_class] = on_pallet - removed
        self.cookies.appendleft(_Cases(epc_class, removed))
        self.cookie_cases += removed
        event = self._event(
            EventType.AGGREGATION, action=Action.DELETE, biz_step="unpacking", disposition="in_progress",
            read_point=self.md.read_points["packing"], biz_location=self.md.bakery.sgln,
            parent_id=pallet.sscc, child_quantity_list=(_qty(epc_class, removed, CASES),))
        self._log_packed(pallet.sscc, {epc_class: removed}, event, sign=-1)
        return event

    def _log_packed(self, sscc: str, cases: dict[str, int], event: EPCISEvent, sign: int) -> None:
        if self.log is None:
            return
        pallet = self.log.pallets.get(sscc)
        if pallet is None and sign > 0:
            pallet = self.log.pallets[sscc] = PalletFacts(sscc, {}, [])
        if pallet is not None:
            pallet.aggregation_event_ids.append(_id(event))
            for c, n in cases.items():
                pallet.contents[c] = pallet.contents.get(c, 0) + sign * n
                if pallet.contents[c] == 0:
                    del pallet.contents[c]
        for c, n in cases.items():
            facts = self.log.cookie_lots.get(c)
            if facts is not None:
                facts.packed += sign * n
                if sign > 0 and sscc not in facts.pallets:
                    facts.pallets.append(sscc)

    # -- shipping

    def _ship(self) -> Iterator[EPCISEvent]:
        """ObjectEvent OBSERVE shipping: pallets by SSCC (now and then loaded as one load SSCC first), or now and
        then a small loose-case order."""
        if self.cookie_cases >= 5 and self.rng.random() < self.cfg.loose_shipment_probability:
            loose = _take_cases(self.cookies, min(self.cookie_cases, self.rng.randint(5, 20)))
            self.cookie_cases -= sum(loose.values())
            yield self._shipment((), loose)
        while self.pallets:
            k = self.rng.randint(1, self.cfg.max_pallets_per_shipment)
            if len(self.pallets) < k:
                return
            pallets = [self.pallets.popleft() for _ in range(k)]
            contents: dict[str, int] = {}
            for p in pallets:
                for c, n in p.contents.items():
                    contents[c] = contents.get(c, 0) + n
            ssccs = tuple(p.sscc for p in pallets)
            if k > 1 and self.cfg.load_probability > 0 and self.rng.random() < self.cfg.load_probability:
                load = self._new_sscc()
                yield self._load(load, ssccs)
                yield self._shipment((load,), contents, pallets=ssccs)
            else:
                yield self._shipment(ssccs, contents)

    def _load(self, load: str, pallets: tuple[str, ...]) -> EPCISEvent:
        """AggregationEvent ADD (loading): pallets into one load with an SSCC of its own."""
        event = self._event(
            EventType.AGGREGATION, action=Action.ADD, biz_step="loading", disposition="in_progress",
            read_point=self.md.read_points["shipping"], biz_location=self.md.bakery.sgln,
            parent_id=load, child_epcs=pallets)
        if self.log is not None:
            for sscc in pallets:
                if (pallet := self.log.pallets.get(sscc)) is not None:
                    pallet.load = load
        return event

    def _shipment(self, ssccs: tuple[str, ...], contents: dict[str, int],
                  pallets: tuple[str, ...] | None = None) -> EPCISEvent:
        """The shipping event of ``ssccs`` (or of loose ``contents``); ``pallets``: the pallets inside them, when
        the SSCC shipped is a load."""
        customer = self.rng.choice(self.md.customers)
        n = self._next("bol")
        what: dict[str, Any] = {"epc_list": ssccs} if ssccs else {
            "quantity_list": tuple(_qty(c, q, CASES) for c, q in contents.items())}
        event = self._event(
            EventType.OBJECT, action=Action.OBSERVE, biz_step="shipping", disposition="in_transit",
            read_point=self.md.read_points["shipping"], biz_location=self.md.bakery.sgln, **what,
            biz_transaction_list=self._shipping_documents(n, customer),
            source_list=_parties(self.md.bakery), destination_list=_parties(customer))
        if self.rng.random() < self.cfg.error_probability:
            right = self.rng.choice([c for c in self.md.customers if c != customer])
            self.corrections.append(_Correction(event, right, n))
        self._log_shipment(event, customer, ssccs if pallets is None else pallets, contents, loose=not ssccs)
        return event

    def _shipping_documents(self, n: int, customer: TradingPartner) -> tuple[BizTransaction, ...]:
        return (BizTransaction(self.md.bakery.document(f"BOL{n:07d}"), "bol"),
                BizTransaction(customer.document(f"PO{n:07d}"), "po"))

    def _log_shipment(self, event: EPCISEvent, customer: TradingPartner, ssccs: tuple[str, ...],
                      contents: dict[str, int], loose: bool, corrects: str | None = None) -> None:
        if self.log is None:
            return
        event_id = _id(event)
        self.log.shipments[event_id] = ShipmentFacts(event_id, event.event_time, customer.pgln, ssccs,
                                                     dict(contents), corrects_event_id=corrects)
        for sscc in ssccs:
            pallet = self.log.pallets.get(sscc)
            if pallet is not None:
                pallet.shipment_event_id, pallet.customer_pgln = event_id, customer.pgln
        self._credit(contents, customer.pgln, +1, loose=loose if corrects is None else False)

    def _credit(self, contents: dict[str, int], customer_pgln: str, sign: int, loose: bool) -> None:
        """Add (or with ``sign=-1`` remove) shipped cases to each lot's per-customer tally."""
        assert self.log is not None
        for c, n in contents.items():
            facts = self.log.cookie_lots.get(c)
            if facts is None:
                continue
            facts.customers[customer_pgln] = facts.customers.get(customer_pgln, 0) + sign * n
            if facts.customers[customer_pgln] == 0:
                del facts.customers[customer_pgln]
            if loose:
                facts.loose_shipped += n

    # -- error declarations

    def _issue_corrections(self) -> Iterator[EPCISEvent]:
        """At the end of the day, retract shipments sent to the wrong customer and capture what happened.

        The declaration is the original event re-captured with ``errorDeclaration`` (reason
        ``incorrect_data``) naming the corrective event, which is the same shipment with a new eventID, the
        right destination and that customer's PO.
        """
        pending, self.corrections = self.corrections, []
        for fix in pending:
            corrective_id = self._event_id()
            declaration = replace(fix.original, error_declaration=ErrorDeclaration(
                self.clock.tick(), "incorrect_data", (corrective_id,)))
            yield self._counted(declaration)
            corrective = replace(fix.original, event_id=corrective_id,
                                 destination_list=_parties(fix.right_customer),
                                 biz_transaction_list=self._shipping_documents(fix.document_number,
                                                                               fix.right_customer))
            self._log_correction(fix, corrective)
            yield self._counted(corrective)

    def _log_correction(self, fix: _Correction, corrective: EPCISEvent) -> None:
        if self.log is None:
            return
        original = self.log.shipments.get(_id(fix.original))
        if original is None:
            return
        original.retracted = True
        original.corrective_event_id = corrective.event_id
        self._credit(original.contents, original.customer_pgln, -1, loose=False)
        self._log_shipment(corrective, fix.right_customer, original.ssccs, original.contents, loose=False,
                           corrects=original.event_id)


# --------------------------------------------------------------------------------------------- entry point


def simulate(config: PlantConfig, *, limit: int | None = None,
             log: SimulationLog | None = None) -> Iterator[EPCISEvent]:
    """Stream the events of ``config``'s plant, lazily and in capture order.

    Without ``limit`` the plant runs ``config.days`` days. With ``limit`` exactly ``limit`` events are
    yielded: the plant keeps producing past ``config.days`` if it must, and stops mid-day (possibly between
    a declaration and its corrective event) once the count is reached. ``log`` receives the facts tests
    check answers against; memory stays flat either way (a bounded log stays bounded).
    """
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")
    events = _Plant(config, log).run(unbounded=limit is not None)
    return itertools.islice(events, limit) if limit is not None else events
