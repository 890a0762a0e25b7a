"""EPCIS timestamps and time-zone offsets: parsed strictly, printed one way."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, timezone

import orjson

from schemas.epcis.errors import EPCISError, shown

_TS = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:\d{2})"
)
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


def parse_timestamp(text: object, field: str) -> datetime:
    """Parse an xsd:dateTime with a mandatory offset into an aware UTC datetime.

    Fractions beyond microseconds are truncated: truncation keeps the half-up decision the CBV hash makes
    at milliseconds, where rounding twice would not.
    """
    if not isinstance(text, str):
        raise EPCISError(f"must be a timestamp string, got {type(text).__name__}", field=field)
    m = _TS.fullmatch(text.strip())
    if m is None:
        raise EPCISError(f"{shown(text)!r} is not an xsd:dateTime with a time-zone offset: "
                         f"{_timestamp_problem(text.strip())} (e.g. 2025-01-01T08:00:00Z)", field=field)
    frac = (m.group("frac") or "")[:6].ljust(6, "0")
    tz = m.group("tz")
    try:
        local = datetime.fromisoformat(f"{m.group('date')}T{m.group('time')}.{frac}")
        offset = UTC if tz in "Zz" else timezone(_offset_delta(tz, field))
    except ValueError as exc:
        raise EPCISError(f"{shown(text)!r} is not a valid timestamp: {exc}", field=field) from None
    return local.replace(tzinfo=offset).astimezone(UTC)


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")


def _timestamp_problem(text: str) -> str:
    """What is missing from a timestamp ``_TS`` refused, as far as a reader can be told."""
    if not _DATE_TIME.match(text):
        return "expected a date, 'T' and a time (YYYY-MM-DDThh:mm:ss)"
    if not re.match(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}", text):
        return "the seconds are missing (hh:mm:ss)"
    if not re.search(r"([Zz]|[+-]\d{2}:\d{2})$", text):
        return "the time-zone offset is missing (Z or ±hh:mm)"
    return "its parts are not in the form YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)"


def _offset_delta(text: str, field: str) -> timedelta:
    m = _OFFSET.fullmatch(text)
    if m is None:
        raise EPCISError(f"{shown(text)!r} is not a time-zone offset of the form +hh:mm or -hh:mm", field=field)
    sign, hh, mm = m.groups()
    minutes = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minutes > 14 * 60:
        raise EPCISError(f"{shown(text)!r} is outside -14:00..+14:00", field=field)
    return timedelta(minutes=-minutes if sign == "-" else minutes)


def parse_offset(text: object, field: str = "eventTimeZoneOffset") -> str:
    """Validate an ``eventTimeZoneOffset`` (``±hh:mm``, -14:00..+14:00) and return it unchanged."""
    if not isinstance(text, str):
        raise EPCISError("is required: a time-zone offset such as +01:00", field=field)
    text = text.strip()
    if text == "Z":
        return "+00:00"
    _checked_offset(text, field)
    return text


@functools.lru_cache(maxsize=256)
def _checked_offset(text: str, field: str) -> None:
    """Raise unless ``text`` is a valid offset (cached: a plant sends the same few offsets all day)."""
    _offset_delta(text, field)


def format_timestamp(value: datetime) -> str:
    """Print a UTC timestamp as EPCIS JSON does: ``2025-01-01T08:00:00.123Z`` (microseconds only when set).

    orjson prints a datetime in a sixth of the time ``isoformat`` takes (every stored event has one); only
    the fraction is trimmed to milliseconds here. Years are four digits (``0999-...``), as xsd:dateTime needs.
    """
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    us = value.microsecond
    text = orjson.dumps(value, option=orjson.OPT_UTC_Z)  # b'"2025-01-01T08:00:00[.ffffff]Z"'
    if not us:
        return text[1:-2].decode() + ".000Z"
    return text[1:-1].decode() if us % 1000 else text[1:-5].decode() + "Z"


def utc_text(value: datetime) -> str:
    """ISO 8601 text of an instant in UTC, exactly as ``value.astimezone(UTC).isoformat()`` writes it
    (``2025-01-01T08:00:00.123000+00:00``; no fraction when it is zero), via orjson for speed."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return orjson.dumps(value)[1:-1].decode()


def local_time(value: datetime, offset: str) -> datetime:
    """The event's wall-clock time at its ``eventTimeZoneOffset`` (FSMA dates are local dates)."""
    return value.astimezone(_zone(offset))


@functools.lru_cache(maxsize=256)
def _zone(offset: str) -> timezone:
    return timezone(_offset_delta(offset, "eventTimeZoneOffset"))
