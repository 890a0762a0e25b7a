"""The store's read API is the only way anything sees events: no SQL on the ``events`` table outside ``store/``.

Projections, replay, export, reports and benchmarks read through ``store.reads`` (cursor-level, inside their own
transactions) or the :class:`~store.port.EventStore` methods; ingest writes through the port. The check reads the
source text (docstrings and comments too: a statement quoted in prose tends to be copied back into code).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("schemas", "producers", "consumers", "projections", "lotline", "bench")
"""Every package but ``store`` (the owner of the table) and ``tests`` (which set up and inspect it)."""

EVENTS_SQL = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE|COPY|TABLE|LIKE|TRUNCATE)\s+(?:ONLY\s+)?(?:public\.)?\"?events\"?(?![\w.])"
    r"|\bevents\s+(?:WHERE|GROUP\s+BY|ORDER\s+BY)\b"
)
"""SQL that names the ``events`` table: as the table of a ``FROM``/``JOIN``/``COPY``/..., or followed by a
clause (case-sensitive: the house writes SQL keywords in capitals; ``lineage_events`` and ``events_copy`` are
other tables)."""


def offences(root: Path = ROOT) -> Iterator[str]:
    """``file:line: text`` of every line outside ``store/`` that matches :data:`EVENTS_SQL`."""
    for package in SCANNED:
        for path in sorted((root / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if EVENTS_SQL.search(line):
                    yield f"{path.relative_to(root)}:{number}: {line.strip()}"


def test_no_sql_on_the_events_table_outside_the_store() -> None:
    found = list(offences())
    assert not found, "SQL on the events table outside store/ (read through store.reads or the port):\n" + \
        "\n".join(found)


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "projections" / "bad.py"
    bad.parent.mkdir()
    bad.write_text('ok = "SELECT * FROM lineage_events"\n'
                   'q = "SELECT body FROM events WHERE position > 1"\n'
                   'c = f"COPY (SELECT {cols} FROM events) TO STDOUT"\n'
                   'n = "SELECT count(*) FROM public.events"\n'
                   'j = "SELECT 1 FROM lots JOIN events e ON true"\n'
                   'g = "SELECT biz_step, count(*) FROM x, events GROUP BY 1"\n'
                   'd = "rows from events, in order"  # prose\n')
    assert [o.split(":")[1] for o in offences(tmp_path)] == ["2", "3", "4", "5", "6"]
