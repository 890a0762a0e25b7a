"""The hash chain over the stored rows (every adapter's, and ``store verify``'s), and a row's COPY line as the
PostgreSQL adapter appends it.

Each row's ``row_hash`` is SHA-256 over the previous row's hash, its position, its record time and every other
column (:func:`row_hash`), so an auditor can prove that nothing was changed. Every appended event passes through
:func:`stage` (before the append lock) and :func:`chain` (under it), so this module is compiled by mypyc where
Lotline is installed (``lotline/buildinfo.py``); the source here is the one definition either way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime

from schemas.epcis.timefmt import utc_text
from store.pgcopy import NULL, copy_field, copy_text, text_array
from store.port import GENESIS_HASH, NewEvent, StoredEvent, VerifyResult


def row_hash(prev_hash: bytes, position: int, recorded_at: datetime, event: NewEvent) -> bytes:
    """The chain hash of one row: SHA-256 over the previous row's hash and every column of this row."""
    return chain_link(prev_hash, position, utc_text(recorded_at), hash_tail(event))


def hash_tail(event: NewEvent, event_time: str | None = None) -> bytes:
    """What a row's chain hash covers after its position and record time: every other column, which is
    known before the row has a place in the chain. An append computes it before it takes the append lock;
    :func:`chain_link` adds the place. ``event_time`` may be given as its :func:`utc_text` already."""
    src = event.source
    return "\x1f".join((
        "",  # the separator after the record time
        event.event_key,
        "1" if event.is_declaration else "0",
        event.event_id or "",
        event.event_type,
        utc_text(event.event_time) if event_time is None else event_time,
        event.event_tz_offset,
        event.biz_step or "",
        ",".join(event.lot_keys),
        "" if src is None else f"{src.topic}|{src.partition}|{src.offset}",
        event.content_hash.hex(),
    )).encode()


def chain_link(prev_hash: bytes, position: int, recorded: str, tail: bytes) -> bytes:
    """SHA-256 over the previous hash, ``position``, the record time text and the row's :func:`hash_tail`."""
    h = hashlib.sha256(prev_hash)
    h.update(f"{position}\x1f{recorded}".encode())
    h.update(tail)
    return h.digest()


def verify_chain(rows: Iterator[StoredEvent]) -> VerifyResult:
    """Walk rows in position order and name the first whose position or hash does not match the chain."""
    prev, expected_pos, count = GENESIS_HASH, 1, 0
    for row in rows:
        count += 1
        if row.position != expected_pos:
            return VerifyResult(count, False, expected_pos,
                                f"position {expected_pos} is missing (next row found is {row.position})")
        if row_hash(prev, row.position, row.recorded_at, row.event) != row.row_hash:
            return VerifyResult(count, False, row.position,
                                f"row {row.position} ({row.event.event_key}) does not match its hash")
        prev, expected_pos = row.row_hash, expected_pos + 1
    return VerifyResult(count, True)


def copy_middle(e: NewEvent, event_time: str) -> str:
    """The columns of ``e``'s ``COPY events FROM STDIN`` line (text format) between its record time and its
    hash, i.e. all that is known before the row has a place in the chain (``event_time`` as :func:`utc_text`
    gives it)."""
    src = e.source
    return "\t".join((
        copy_text(e.event_key),
        "t" if e.is_declaration else "f",
        copy_field(e.event_id),
        e.event_type,
        event_time,
        e.event_tz_offset,
        copy_field(e.biz_step),
        copy_text(text_array(e.lot_keys)),
        NULL if src is None else copy_text(src.topic),
        NULL if src is None else str(src.partition),
        NULL if src is None else str(src.offset),
        copy_text(e.body),
    ))


Staged = tuple[bytes, bytes]
"""What an append needs of a row before it has a place in the chain, computed before the append lock is taken
so that the lock is held for little more than the COPY: the row's :func:`hash_tail` and its
:func:`copy_middle` (UTF-8)."""


def stage(e: NewEvent) -> Staged:
    """The :data:`Staged` parts of ``e``'s row."""
    event_time = utc_text(e.event_time)
    return hash_tail(e, event_time), copy_middle(e, event_time).encode()


def chain(prev: bytes, position: int, recorded: str, staged: Sequence[Staged]) -> tuple[bytes, bytes]:
    """The COPY data of ``staged`` rows placed after ``position`` at record time ``recorded`` (the
    :func:`utc_text`), each linked to the one before by :func:`chain_link` starting from ``prev``; and the last
    row's hash."""
    when = recorded.encode()
    lines = []
    for tail, middle in staged:
        position += 1
        prev = chain_link(prev, position, recorded, tail)
        lines.append(b"%d\t%s\t%s\t\\\\x%s\n" % (position, when, middle, prev.hex().encode()))
    return b"".join(lines), prev
