"""The COPY text codec, checked against PostgreSQL itself: what it writes, COPY reads back unchanged."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from store.pgcopy import COPY_CHUNK, NULL, copy_field, copy_from, copy_text, text_array

AWKWARD = ["plain", "tab\there", "new\nline", "cr\rhere", "back\\slash", 'quote"d', "{brace,comma}", "", "NULL",
           "\\N", "ünïcödé ✓", " spaced "]


TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
"""What a text column can hold: any character but NUL, and no lone surrogates (not encodable as UTF-8)."""


def _round_trip(engine: Engine, rows: list[tuple[str | None, list[str]]]) -> list[tuple[Any, ...]]:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("CREATE TEMP TABLE t (n integer, v text, a text[])")
        data = "".join(f"{i}\t{copy_field(v)}\t{copy_text(text_array(a))}\n" for i, (v, a) in enumerate(rows))
        copy_from(cur, "COPY t FROM STDIN", data.encode())
        cur.execute("SELECT v, a FROM t ORDER BY n")
        return [tuple(r) for r in cur.fetchall()]
    finally:
        raw.rollback()
        raw.close()


def test_awkward_values_and_arrays_come_back_unchanged(engine: Engine) -> None:
    rows: list[tuple[str | None, list[str]]] = [(v, [v, "x"]) for v in AWKWARD] + [(None, [])]
    assert _round_trip(engine, rows) == [(v, a) for v, a in rows]


def test_plain_values_are_returned_as_they_are() -> None:
    value = "urn:epc:class:lgtin:4012345.012345.L1"
    assert copy_text(value) is value
    assert copy_field(None) == NULL
    assert text_array([]) == "{}"


def test_data_larger_than_one_piece_arrives_whole(engine: Engine) -> None:
    big = "x" * 1000
    rows: list[tuple[str | None, list[str]]] = [(f"{i}{big}", [str(i)]) for i in range(3 * COPY_CHUNK // 1000)]
    assert _round_trip(engine, rows) == [(v, a) for v, a in rows]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # each
# example's temporary table goes with its rolled-back transaction
@given(st.lists(st.tuples(st.one_of(st.none(), st.text(TEXT)), st.lists(st.text(TEXT), max_size=3)), max_size=20))
def test_any_text_comes_back_unchanged(engine: Engine, rows: list[tuple[str | None, list[str]]]) -> None:
    assert _round_trip(engine, rows) == [(v, a) for v, a in rows]
