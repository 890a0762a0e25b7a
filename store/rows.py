"""A stored row's COPY line and its place in the hash chain, as the PostgreSQL adapter appends it.

Every appended event passes through :func:`stage` (before the append lock) and :func:`chain` (under it), so this
module is compiled by mypyc where Lotline is installed (``lotline/buildinfo.py``); the source here is the one
definition either way.
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas.epcis.timefmt import utc_text
from store.pgcopy import NULL, copy_field, copy_text, text_array
from store.port import NewEvent, chain_link, hash_tail


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
