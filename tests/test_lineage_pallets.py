"""What a shipped SSCC held, against a reference model: generated packing histories (lots added to and taken
off SSCCs by quantity, SSCCs put into and taken out of one another, SSCCs emptied, cycles included), stored in
a shuffled order, projected, and traced forward from each lot.

The model states domain.md's rule directly: an SSCC ships what its ADDs minus DELETEs say as of the shipment's
eventTime, counted after its last emptying, and every SSCC inside it then ships with it, each counted once.
Content of the lots' GTIN with no lot (``*``, scenario 12) follows the same rule, and every lot's trace reports
it, ambiguous, after the lot's own line.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.epcis.identifiers import sscc_of
from schemas.epcis.model import Action, EPCISEvent
from store.postgres import PostgresEventStore
from tests.lineage_builders import aggregate, append_and_project, lgtin, moves_of, pgln, ship, sscc, tr

LOTS = ("A", "B", "*")  # "*": a quantity of the lots' GTIN, no lot said
SSCCS = 3
CUSTOMER = 60
_histories = itertools.count(1)

# ("lot", ADD|DELETE, sscc index, lot, quantity) | ("child", ADD|DELETE, parent index, child index) | ("empty", i)
# | ("all", sscc index, lot): a DELETE of all of a lot, no quantity
Step = tuple[object, ...]
_STEP = st.one_of(
    st.tuples(st.just("lot"), st.sampled_from(("ADD", "DELETE")), st.integers(0, SSCCS - 1),
              st.sampled_from(LOTS), st.integers(1, 5)),
    st.tuples(st.just("child"), st.sampled_from(("ADD", "DELETE")), st.integers(0, SSCCS - 1),
              st.integers(0, SSCCS - 1)).filter(lambda s: s[2] != s[3]),
    st.tuples(st.just("empty"), st.integers(0, SSCCS - 1)),
    st.tuples(st.just("all"), st.integers(0, SSCCS - 1), st.sampled_from(LOTS)),
)


def _net(steps: list[Step], box: int) -> dict[str, int]:
    """What ``box`` holds itself (not through other SSCCs), from the steps before the shipment."""
    out: dict[str, int] = {}
    for lot in LOTS:
        cleared = [i for i, s in enumerate(steps)
                   if s[0] in ("empty", "all") and s[1] == box and (s[0] == "empty" or s[2] == lot)]
        lines = [s for i, s in enumerate(steps)
                 if s[0] == "lot" and s[2] == box and s[3] == lot and i > (cleared[-1] if cleared else -1)]
        net = sum(int(s[4]) if s[1] == "ADD" else -int(s[4]) for s in lines)
        if any(s[1] == "ADD" for s in lines) and net > 0:
            out[lot] = net
    return out


def _inside(steps: list[Step], box: int) -> set[int]:
    """The SSCCs directly inside ``box``: those whose last ADD into it came after every removal and emptying."""
    present = set()
    for child in range(SSCCS):
        last = None
        for s in steps:
            if s[0] == "child" and s[2] == box and s[3] == child:
                last = s[1]
            elif s[0] == "empty" and s[1] == box:
                last = "DELETE"
        if last == "ADD":
            present.add(child)
    return present


def expected(steps: list[Step], shipped: int) -> dict[str, int]:
    """Per lot, the quantity a shipment of SSCC ``shipped`` carried after ``steps``."""
    nodes, todo = {shipped}, [shipped]
    while todo:
        for child in _inside(steps, todo.pop()) - nodes:
            nodes.add(child)
            todo.append(child)
    out: dict[str, int] = {}
    for box in nodes:
        for lot, n in _net(steps, box).items():
            out[lot] = out.get(lot, 0) + n
    return out


def _content(run: int, lot: object) -> str:
    """A lot of this run's own GTIN (item reference 1 + the run), or that GTIN with no lot."""
    item = f"1{run:05d}"
    return f"urn:epc:idpat:sgtin:0614141.{item}.*" if lot == "*" else lgtin(f"H{run}{lot}", item)


def events_of(steps: list[Step], shipped: int, at: int, run: int) -> tuple[list[EPCISEvent], list[str]]:
    """The EPCIS events of a history (step i at minute 2i + 2, the shipment at 2 * at + 1, between two steps), in
    this run's own SSCCs, lots and GTIN; and those SSCCs."""
    boxes = [sscc(run * 100 + i) for i in range(SSCCS)]
    events = []
    for i, s in enumerate(steps):
        minute, name = 2 * i + 2, f"h{run}-{i}"
        if s[0] == "lot":
            action = Action(s[1])
            events.append(aggregate(name, action, boxes[s[2]], [(_content(run, s[3]), s[4], "CS")],
                                    minute=minute))
        elif s[0] == "child":
            events.append(replace(aggregate(name, Action(s[1]), boxes[s[2]], [], minute=minute),
                                  child_epcs=(boxes[s[3]],)))
        elif s[0] == "all":
            events.append(replace(aggregate(name, Action.DELETE, boxes[s[1]], [], minute=minute),
                                  child_epcs=(_content(run, s[2]),)))
        else:
            events.append(aggregate(name, Action.DELETE, boxes[s[1]], [], minute=minute))
    events.append(ship(f"h{run}-ship", customer=CUSTOMER, minute=2 * at + 1, epcs=(boxes[shipped],)))
    return events, boxes


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_STEP, min_size=1, max_size=14), shipped=st.integers(0, SSCCS - 1),
       at=st.integers(0, 14), seed=st.integers(0, 2**16))
# the rules one at a time: emptying a parent takes the SSCCs in it out too; an SSCC taken out and put back;
# a cycle; two levels with a lot at each; more taken off than was put on; a lot put back after an emptying
@example(steps=[("child", "ADD", 0, 1), ("lot", "ADD", 1, "A", 3), ("empty", 0)], shipped=0, at=3, seed=0)
@example(steps=[("lot", "ADD", 1, "A", 3), ("child", "ADD", 0, 1), ("child", "DELETE", 0, 1),
                ("child", "ADD", 0, 1)], shipped=0, at=4, seed=0)
@example(steps=[("child", "ADD", 0, 1), ("child", "ADD", 1, 0), ("lot", "ADD", 0, "A", 1),
                ("lot", "ADD", 1, "B", 2)], shipped=1, at=4, seed=0)
@example(steps=[("lot", "ADD", 2, "A", 2), ("child", "ADD", 1, 2), ("child", "ADD", 0, 1),
                ("lot", "ADD", 0, "A", 1)], shipped=0, at=4, seed=0)
@example(steps=[("lot", "ADD", 0, "A", 2), ("lot", "DELETE", 0, "A", 3)], shipped=0, at=2, seed=0)
@example(steps=[("lot", "ADD", 0, "A", 2), ("empty", 0), ("lot", "ADD", 0, "A", 1)], shipped=0, at=3, seed=0)
@example(steps=[("lot", "ADD", 0, "A", 2), ("lot", "ADD", 1, "*", 4), ("child", "ADD", 0, 1),
                ("lot", "DELETE", 1, "*", 1), ("empty", 1), ("lot", "ADD", 1, "*", 2)], shipped=0, at=6, seed=0)
@example(steps=[("lot", "ADD", 0, "A", 2), ("lot", "ADD", 0, "*", 3), ("all", 0, "*"), ("lot", "ADD", 0, "B", 1),
                ("all", 0, "A")], shipped=0, at=5, seed=0)
def test_a_shipped_sscc_carries_what_the_model_says(pg_store: PostgresEventStore, steps: list[Step], shipped: int,
                                                     at: int, seed: int) -> None:
    run = next(_histories)  # each example in SSCCs and lots of its own: they share the test's database
    at = min(at, len(steps))  # the shipment comes after step ``at`` (0: before them all)
    events, boxes = events_of(steps, shipped, at, run)
    random.Random(seed).shuffle(events)  # the order they arrive in
    append_and_project(pg_store, events)
    want = expected(steps[:at], shipped)
    lots_seen = {s[3] if s[0] == "lot" else s[2] for s in steps if s[0] in ("lot", "all")} - {"*"}
    pallet = sscc_of(boxes[shipped])
    lotless = [(None, pgln(CUSTOMER), want["*"], pallet)] if "*" in want else []
    for lot in sorted(lots_seen):
        got = moves_of(tr(pg_store.engine, _content(run, lot), "forward"))
        assert got == ([(f"H{run}{lot}", pgln(CUSTOMER), want[lot], pallet)] if lot in want else []) + lotless, \
            (steps, shipped, at)
