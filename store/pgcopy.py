"""PostgreSQL's COPY text format, as the event store and the lineage bulk load both write it.

One codec for both, so that a value COPYed into the store and one COPYed into a lineage table are escaped
the same way: fields are separated by tabs, rows end with a newline, ``\\N`` is NULL, and backslash, tab,
newline and carriage return inside a value are backslash-escaped. Arrays are ``text[]`` literals with every
element double-quoted.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

NULL = "\\N"

COPY_CHUNK = 1 << 20
"""Bytes handed to libpq per COPY message. Large, because psycopg2 takes the GIL for every piece it reads and
each time may wait for another thread to give it up (its default of 8 KB meant hundreds of waits per ingest
batch); bounded, because libpq moves what a partial send leaves over to the front of its buffer, which for one
message the size of a large batch is quadratic (measured: 100K event rows, 150 MB, sent as one piece ran at
1.9K rows/s, in 1 MB pieces at 46-59K)."""

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """``value`` as one field (most values need no escaping, and are returned as they are)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def copy_field(value: str | None) -> str:
    """Like :func:`copy_text`, with None as NULL."""
    return NULL if value is None else copy_text(value)


def text_array(items: Sequence[str]) -> str:
    """A ``text[]`` literal with every element quoted (still to be passed through :func:`copy_text`)."""
    inner = '","'.join(items)
    if "\\" in inner or '"' in inner:  # only then does an element need escaping
        inner = '","'.join(i.replace("\\", "\\\\").replace('"', '\\"') for i in items)
    return '{"' + inner + '"}' if items else "{}"


def copy_from(cur: Any, statement: str, data: bytes) -> None:
    """Run ``statement`` (a ``COPY ... FROM STDIN``) on the psycopg2 cursor ``cur`` over ``data``, sent in
    :data:`COPY_CHUNK` pieces."""
    cur.copy_expert(statement, io.BytesIO(data), size=COPY_CHUNK)


def copy_to(cur: Any, statement: str) -> bytes:
    """The text a ``COPY ... TO STDOUT`` ``statement`` run on the psycopg2 cursor ``cur`` writes."""
    out = io.BytesIO()
    cur.copy_expert(statement, out)
    return out.getvalue()
