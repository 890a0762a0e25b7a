"""The plant simulator: deterministic, valid GS1/EPCIS, lossless on the wire, and truthful about lineage.

The lineage tests rebuild every answer from the events alone (transformations, ADD minus DELETE, shipments
minus retractions) and compare it with what the simulator says it did, so a bug on either side shows.
"""

from __future__ import annotations

import itertools
import tracemalloc
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest

from producers.simulate import (
    CASES,
    KGM,
    PlantConfig,
    SimulationLog,
    bakery,
    config_for_events,
    master_data,
    simulate,
)
from schemas.avro.codec import EventCodec
from schemas.epcis.identifiers import IdKind, gs1_check_digit, parse_identifier
from schemas.epcis.model import Action, EPCISEvent, EventType, QuantityElement
from schemas.formats.jsonld import dumps, event_from_json, event_to_json, loads
from schemas.formats.wire import validate_event


@dataclass
class Run:
    events: list[EPCISEvent]
    log: SimulationLog


def rich_config(seed: int = 3) -> PlantConfig:
    """A small plant with every irregularity turned up, so each test sees splits, merges, rework, etc."""
    return bakery(seed, days=8, split_probability=0.3, merge_probability=0.3, rework_probability=0.3,
                  unpack_probability=0.4, loose_shipment_probability=0.3, error_probability=0.15,
                  load_probability=0.3)


def pallets_of(events: list[EPCISEvent]) -> dict[str, tuple[str, ...]]:
    """The pallets each load SSCC was loaded with (AggregationEvents listing SSCCs as children)."""
    return {e.parent_id: e.child_epcs for e in events
            if e.type is EventType.AGGREGATION and e.child_epcs and e.parent_id is not None}


def unloaded(ssccs: tuple[str, ...], loads: dict[str, tuple[str, ...]]) -> list[str]:
    """The pallets a shipment of ``ssccs`` carried: each SSCC named, or the pallets of a load named."""
    return [p for sscc in ssccs for p in loads.get(sscc, (sscc,))]


@pytest.fixture(scope="module", params=[3, 8])
def run(request: pytest.FixtureRequest) -> Run:
    log = SimulationLog()
    events = list(simulate(rich_config(request.param), log=log))
    return Run(events, log)


def by_id(events: list[EPCISEvent]) -> dict[str, EPCISEvent]:
    """Primary events by eventID (declarations repeat an eventID and are left out)."""
    return {e.event_id: e for e in events if e.event_id and not e.is_declaration}


def lots(qs: tuple[QuantityElement, ...]) -> set[str]:
    return {q.epc_class for q in qs}


def nonzero(counts: Mapping[str, Decimal | int]) -> dict[str, Decimal]:
    """``counts`` as exact decimals without the zero entries (a lot fully unpacked is not on the pallet)."""
    return {k: Decimal(v) for k, v in counts.items() if v}


# --------------------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_events() -> None:
    assert list(simulate(bakery(11, days=3))) == list(simulate(bakery(11, days=3)))


def test_different_seed_gives_different_events() -> None:
    a, b = list(simulate(bakery(1, days=1))), list(simulate(bakery(2, days=1)))
    assert {e.event_id for e in a}.isdisjoint({e.event_id for e in b})
    assert master_data(bakery(1)).bakery.company_prefix != master_data(bakery(2)).bakery.company_prefix


def test_run_exercises_every_feature(run: Run) -> None:
    transforms = [e for e in run.events if e.type is EventType.TRANSFORMATION]
    bakes = [e for e in transforms if all(q.uom == CASES for q in e.output_quantity_list)]
    mixes = [e for e in transforms if e not in bakes]
    assert any(len(e.output_quantity_list) == 2 for e in bakes), "no split"
    assert any(len(e.input_quantity_list) == 2 for e in bakes), "no merge"
    assert any(q.uom == CASES for e in mixes for q in e.input_quantity_list), "no rework"
    assert any(e.action is Action.DELETE for e in run.events), "no unpacking"
    ships = [e for e in run.events if e.biz_step == "shipping"]
    assert any(e.epc_list for e in ships) and any(e.quantity_list for e in ships)
    assert any(e.is_declaration for e in run.events), "no error declaration"
    assert run.log.event_count == len(run.events)


# --------------------------------------------------------------------------------------------- validity


def test_every_event_validates_and_round_trips(run: Run) -> None:
    codec = EventCodec()
    for e in run.events:
        validate_event(e)
        assert codec.decode(codec.encode(e)) == e
        assert event_from_json(event_to_json(e)) == e
        assert event_from_json(loads(dumps(event_to_json(e)))) == e


def test_identifiers_are_valid_gs1(run: Run) -> None:
    for e in run.events:
        texts = [*e.all_epcs(), *(q.epc_class for q in e.all_quantities()),
                 *(p.value for p in (*e.source_list, *e.destination_list))]
        texts += [t for t in (e.read_point, e.biz_location) if t]
        for text in texts:
            ident = parse_identifier(text)
            assert ident.kind in (IdKind.LGTIN, IdKind.SSCC, IdKind.SGLN, IdKind.PGLN), text
            company_prefix, ref = text.split(":")[4].split(".")[:2]
            assert len(company_prefix) == 7
            if ident.kind is IdKind.LGTIN:
                assert len(ref) == 6
        for bt in e.biz_transaction_list:
            gln = bt.value.split(":")[4]
            assert len(gln) == 13 and int(gln[-1]) == gs1_check_digit(gln[:-1]), bt.value


def test_quantities_carry_units(run: Run) -> None:
    for e in run.events:
        for q in e.all_quantities():
            assert isinstance(q.quantity, Decimal) and q.quantity > 0
            assert q.uom in (KGM, CASES)


def test_event_ids_and_times(run: Run) -> None:
    primary = [e for e in run.events if not e.is_declaration]
    ids = [e.event_id for e in primary]
    assert len(set(ids)) == len(ids)
    for event_id in ids:
        assert event_id is not None and event_id.startswith("urn:uuid:")
        assert uuid.UUID(event_id[9:]).version == 4
    corrective = run.log.corrective_event_ids()
    times = [e.event_time for e in primary if e.event_id not in corrective]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert all(e.event_time_zone_offset == "-06:00" for e in run.events)


# --------------------------------------------------------------------------------------------- lineage


def test_cookie_lineage_matches_transformations(run: Run) -> None:
    events = by_id(run.events)
    assert run.log.cookie_lots
    for cookie in run.log.cookie_lots.values():
        bake = events[cookie.transformation_event_id]
        assert cookie.epc_class in lots(bake.output_quantity_list)
        assert lots(bake.input_quantity_list) == set(cookie.dough_lots)
        ingredients: set[str] = set()
        rework: set[str] = set()
        for dough_lot in cookie.dough_lots:
            dough = run.log.dough_lots[dough_lot]
            mix = events[dough.transformation_event_id]
            assert lots(mix.output_quantity_list) == {dough_lot}
            inputs = {q.epc_class: q.quantity for q in mix.input_quantity_list}
            assert inputs == {**dough.ingredient_inputs, **nonzero(dough.rework_inputs)}
            ingredients |= set(dough.ingredient_inputs)
            rework |= set(dough.rework_inputs)
        assert cookie.ingredient_lots == ingredients
        assert cookie.rework_inputs == rework
        assert rework <= set(run.log.cookie_lots)


def test_ingredient_lots_are_received_before_use(run: Run) -> None:
    received: dict[str, str] = {}
    for e in run.events:
        if e.biz_step == "receiving":
            (q,) = e.quantity_list
            received[q.epc_class] = e.source_list[0].value
        elif e.type is EventType.TRANSFORMATION:
            for q in e.input_quantity_list:
                if q.uom == KGM and q.epc_class not in run.log.dough_lots:
                    assert q.epc_class in received, f"{q.epc_class} used before it was received"
    for lot, facts in run.log.ingredient_lots.items():
        assert received[lot] == facts.supplier_pgln


def test_rework_consumes_only_cases_set_aside(run: Run) -> None:
    consumed: dict[str, int] = defaultdict(int)
    for dough in run.log.dough_lots.values():
        for lot, n in dough.rework_inputs.items():
            consumed[lot] += n
    for lot, n in consumed.items():
        assert n <= run.log.cookie_lots[lot].reworked


def test_pallets_shipped_contain_the_lots_aggregated(run: Run) -> None:
    loads = pallets_of(run.events)
    contents: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    shipped: set[str] = set()
    for e in run.events:
        if e.type is EventType.AGGREGATION:
            assert e.parent_id is not None and e.parent_id not in shipped, "packed after shipping"
            sign = 1 if e.action is Action.ADD else -1
            for q in e.child_quantity_list:
                assert q.quantity is not None
                contents[e.parent_id][q.epc_class] += sign * q.quantity
        elif e.biz_step == "shipping" and e.epc_list and not e.is_declaration:
            facts = run.log.shipments[e.event_id or ""]
            pallets = unloaded(e.epc_list, loads)
            assert tuple(pallets) == facts.ssccs
            if facts.corrects_event_id is None:
                assert shipped.isdisjoint(pallets), "an SSCC shipped twice"
                shipped.update(pallets)
            expected: dict[str, Decimal] = defaultdict(Decimal)
            for sscc in pallets:
                for lot, n in contents[sscc].items():
                    expected[lot] += n
            assert nonzero(expected) == nonzero(facts.contents)
    for sscc, pallet in run.log.pallets.items():
        assert nonzero(contents[sscc]) == nonzero(pallet.contents)
        if pallet.shipment_event_id is not None:
            assert (pallet.load or sscc) in by_id(run.events)[pallet.shipment_event_id].epc_list
    assert any(pallet.load for pallet in run.log.pallets.values()), "no load shipped: raise load_probability"


def test_error_declarations_name_their_correction(run: Run) -> None:
    events = by_id(run.events)
    declarations = [e for e in run.events if e.is_declaration]
    for d in declarations:
        assert d.error_declaration is not None and d.error_declaration.reason == "incorrect_data"
        original = events[d.event_id or ""]
        assert d == replace(original, error_declaration=d.error_declaration), "not a faithful re-capture"
        (corrective_id,) = d.error_declaration.corrective_event_ids
        corrective = events[corrective_id]
        assert corrective.epc_list == original.epc_list and corrective.quantity_list == original.quantity_list
        assert corrective.destination_list != original.destination_list
        facts = run.log.shipments[original.event_id or ""]
        assert facts.retracted and facts.corrective_event_id == corrective_id


def test_customers_and_mass_balance_agree_with_events(run: Run) -> None:
    loads = pallets_of(run.events)
    retracted = {e.event_id for e in run.events if e.is_declaration}
    pallet_lots: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    received: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    packed: dict[str, Decimal] = defaultdict(Decimal)
    for e in run.events:
        if e.type is EventType.AGGREGATION:
            sign = 1 if e.action is Action.ADD else -1
            for q in e.child_quantity_list:
                assert q.quantity is not None and e.parent_id is not None
                pallet_lots[e.parent_id][q.epc_class] += sign * q.quantity
                packed[q.epc_class] += sign * q.quantity
    for e in run.events:
        if e.biz_step != "shipping" or e.is_declaration or e.event_id in retracted:
            continue
        customer = next(p.value for p in e.destination_list if p.type == "owning_party")
        for q in e.quantity_list:
            assert q.quantity is not None
            received[q.epc_class][customer] += q.quantity
        for sscc in unloaded(e.epc_list, loads):
            for lot, n in pallet_lots[sscc].items():
                received[lot][customer] += n
    for lot, cookie in run.log.cookie_lots.items():
        assert cookie.produced == cookie.reworked + cookie.packed + cookie.loose_shipped + cookie.in_stock
        assert cookie.in_stock >= 0
        assert cookie.packed == packed[lot]
        assert nonzero(cookie.customers) == nonzero(received[lot])


# --------------------------------------------------------------------------------------------- API and scale


@pytest.mark.parametrize("n", [0, 1, 17, 1234])
def test_limit_gives_exactly_n_events(n: int) -> None:
    log = SimulationLog()
    assert sum(1 for _ in simulate(bakery(5, days=1), limit=n, log=log)) == n
    assert log.event_count == n


def test_log_describes_only_the_events_yielded() -> None:
    log = SimulationLog()
    events = list(simulate(rich_config(9), limit=333, log=log))
    ids = {e.event_id for e in events}
    assert all(s.event_id in ids for s in log.shipments.values())
    assert all(c.transformation_event_id in ids for c in log.cookie_lots.values())


def test_config_for_events_is_about_n() -> None:
    for n in (2_000, 20_000):
        produced = sum(1 for _ in simulate(config_for_events(n, seed=4)))
        assert 0.85 * n <= produced <= 1.15 * n


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        bakery(suppliers=2)
    with pytest.raises(ValueError):
        bakery(customers=1)
    with pytest.raises(ValueError):
        bakery(split_probability=1.5)
    with pytest.raises(ValueError):
        simulate(bakery(), limit=-1)


@pytest.mark.slow
def test_100k_events_stream_in_bounded_memory() -> None:
    log = SimulationLog(capacity=1000)
    tracemalloc.start()
    try:
        count = sum(1 for _ in simulate(config_for_events(100_000, seed=2), limit=100_000, log=log))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < 50 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    assert len(log.cookie_lots) <= 1000 and len(log.shipments) <= 1000
