"""The C staging and chaining of event-store rows (``store/_rows_native.c``) against the Python
functions in ``store/postgres.py``: the same bytes for the same rows, escapes, NULLs and zones
included. (Every contract test also ends with ``verify()``, which recomputes the chain in Python.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from store import _rows_native as native  # type: ignore[attr-defined]
from store import postgres
from store.port import GENESIS_HASH, NewEvent, SourceRef, row_hash
from tests.test_properties import PROPERTY_SETTINGS

tricky = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10) | st.sampled_from(
    ["", "\\", "\t", "\n", "\r", '"', '\\"', "a\\tb", "{x}", ",", "é", "\x1f", "\x00x"])
times = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30)).flatmap(
    lambda d: st.sampled_from([d.replace(tzinfo=UTC), d.replace(tzinfo=timezone(timedelta(hours=-6))),
                               d.replace(tzinfo=timezone(timedelta(minutes=330)))]))
new_events = st.builds(
    NewEvent, event_key=tricky, is_declaration=st.booleans(), event_id=st.none() | tricky, event_type=tricky,
    event_time=times, event_tz_offset=tricky, biz_step=st.none() | tricky,
    lot_keys=st.lists(tricky, max_size=3).map(tuple), body=tricky,
    source=st.none() | st.builds(SourceRef, tricky, st.integers(0, 2**31), st.integers(0, 2**62)))


@PROPERTY_SETTINGS
@given(new_events)
def test_a_row_is_staged_as_python_stages_it(event: NewEvent) -> None:
    assert native.stage(event) == postgres.stage(event)


@PROPERTY_SETTINGS
@given(st.lists(new_events, max_size=4), st.integers(0, 2**40), st.binary(min_size=32, max_size=32))
def test_rows_are_chained_as_python_chains_them(events: list[NewEvent], position: int, prev: bytes) -> None:
    staged = [postgres.stage(e) for e in events]
    recorded = "2026-12-03T12:00:00.123456+00:00"
    assert native.chain(prev, position, recorded, staged) == postgres.chain(prev, position, recorded, staged)


def test_the_chain_links_are_the_ports_row_hashes() -> None:
    recorded = datetime(2026, 12, 3, 12, 0, 0, 5, UTC)
    events = [NewEvent(f"k{i}", False, None, "ObjectEvent", recorded, "+00:00", None, (), "{}") for i in range(3)]
    data, last = native.chain(GENESIS_HASH, 0, recorded.isoformat(), [native.stage(e) for e in events])
    expected = GENESIS_HASH
    for position, e in enumerate(events, 1):
        expected = row_hash(expected, position, recorded, e)
        assert f"\\\\x{expected.hex()}\n".encode() in data
    assert last == expected


def test_the_adapter_uses_the_c_functions_where_they_are_built() -> None:
    assert postgres.NATIVE_ROWS
    assert postgres.STAGE is native.stage
