"""Timestamps are printed one way: the fast orjson-based printers agree with ``isoformat`` everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.epcis.errors import EPCISError
from schemas.epcis.timefmt import format_timestamp, parse_timestamp, utc_text

instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-6)), timezone(timedelta(hours=14))]))


def _reference_epcis(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat(timespec="microseconds" if value.microsecond % 1000 else "milliseconds")
    return text[:-6] + "Z"


@given(instants)
def test_format_timestamp_is_the_epcis_form(value: datetime) -> None:
    text = format_timestamp(value)
    assert text == _reference_epcis(value)
    assert parse_timestamp(text, "eventTime") == value


@given(instants)
def test_utc_text_is_isoformat_in_utc(value: datetime) -> None:
    assert utc_text(value) == value.astimezone(UTC).isoformat()


def test_fractions_are_trimmed_to_milliseconds_only_when_exact() -> None:
    base = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    assert format_timestamp(base) == "2025-01-01T08:00:00.000Z"
    assert format_timestamp(base.replace(microsecond=120_000)) == "2025-01-01T08:00:00.120Z"
    assert format_timestamp(base.replace(microsecond=120_001)) == "2025-01-01T08:00:00.120001Z"
    assert utc_text(base) == "2025-01-01T08:00:00+00:00"
    assert format_timestamp(base.replace(year=999)) == "0999-01-01T08:00:00.000Z"  # xsd:dateTime: 4-digit years


@pytest.mark.parametrize(("text", "problem"), [
    ("2006-11-07T13:00Z", "the seconds are missing"),
    ("2006-11-07T13:00:00", "the time-zone offset is missing"),
    ("07.11.2006 13:00:00Z", "expected a date, 'T' and a time"),
    ("2006-11-07T13:00:00+1:00", "the time-zone offset is missing"),
])
def test_a_refused_timestamp_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(EPCISError, match=problem) as info:
        parse_timestamp(text, "eventTime")
    assert info.value.field == "eventTime" and "is not an xsd:dateTime" in str(info.value)
