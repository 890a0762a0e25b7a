"""A rebuild's extraction (projections/lineage/extract.py): the C module against its definition in Python.

The C module serves the lines it can and hands the rest back to Python, on the same extractor state; the
COPY text both produce must be the same, line for line, with lot ids read as the lots they stand for (the two
may meet lots in a different order: a line handed back is done after the chunk). On a simulated bakery plus
the crafted edge cases of the bulk-load test (where the C module must serve every ordinary event), and on
generated bodies with values of every JSON type where the store's would be, and numbers of up to 45 digits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from projections.lineage import extract
from projections.lineage.extract import NATIVE, READ_COLUMNS, STREAMED, Extractor, _classify
from schemas.epcis.jsontext import dumps
from store.pgcopy import copy_text, copy_to
from store.postgres import PostgresEventStore
from tests.test_lineage_bulk import _load
from tests.test_properties import PROPERTY_SETTINGS

assert NATIVE, "the C extraction is built by every installation (pyproject.toml: optional = false)"

_LOT_COLUMNS = {"items": (1,), "transformation_io": (3,), "aggregations": (4,), "movement_lines": (1,),
                "lot_edges": (0, 1)}
"""Which fields of each table's lines are lot ids."""


def _extract(chunks: list[bytes], native: bool) -> dict[str, list[tuple[str, ...]]] | type[Exception]:
    """Every table's lines (sorted; lot ids as GTIN/lot) for the chunks read in order, or the exception type."""
    ex = Extractor(native=native)
    try:
        texts = [ex.chunk(data) for data in chunks]
    except Exception as e:  # compared: both paths must fail alike
        return type(e)
    lots, identifiers = ex.lots()
    lot_of = {line.split("\t")[0]: "/".join(line.split("\t")[1:3]) for line in lots.splitlines()}
    out: dict[str, list[tuple[str, ...]]] = {}
    for table in STREAMED:
        rows = []
        for text in texts:
            for line in text[table].decode().splitlines():
                fields = line.split("\t")
                for i in _LOT_COLUMNS.get(table, ()):
                    if fields[i] != "\\N":
                        fields[i] = lot_of[fields[i]]
                rows.append(tuple(fields))
        out[table] = sorted(rows)
    out["lots"] = sorted(tuple(line.split("\t")[1:]) for line in lots.splitlines())
    out["lot_identifiers"] = sorted((lot_of[line.split("\t")[0]], line.split("\t")[1])
                                    for line in identifiers.splitlines())
    assert ex.events == sum(text.count(b"\n") for text in chunks)
    return out


def test_c_and_python_extract_the_same_rows_from_the_store(pg_store: PostgresEventStore) -> None:
    _load(pg_store, n=2000, seed=21)
    raw = pg_store.engine.raw_connection()
    try:
        cur = raw.cursor()
        head = pg_store.head()
        chunks = [copy_to(cur, f"COPY (SELECT {READ_COLUMNS} FROM events WHERE position > {lo}"
                               f" AND position <= {lo + 700} ORDER BY position) TO STDOUT")
                  for lo in range(0, head, 700)]
        cur.execute("SELECT count(*) FROM events WHERE is_declaration")
        (declarations,) = cur.fetchone()
    finally:
        raw.close()
    python, native = _extract(chunks, native=False), _extract(chunks, native=True)
    assert isinstance(native, dict) and all(native[t] for t in STREAMED)
    assert native == python
    ex = Extractor()
    handed_back: list[list[bytes]] = []
    for data in chunks:
        _, deferred, _, _ = extract._native.chunk(data, ex._ids, ex._lgtin, ex.lot_ids.known, ex.lot_ids.number,
                                                  ex._items, _classify, orjson.loads)
        handed_back += [line.split(b"\t") for line in deferred]
    # every ordinary event of the bakery and the edge cases is served in C, but the one with a quantity of
    # more digits than a double holds and the six that name a GTIN without a lot (rare: left to Python)
    assert sum(fields[2] == b"t" for fields in handed_back) == declarations
    ordinary = [fields[7] for fields in handed_back if fields[2] == b"f"]
    assert sum(b"1234567.891234567891" in body for body in ordinary) == 1
    assert sum(b"idpat:sgtin" in body or b'id.gs1.org/01/10614141073464"' in body for body in ordinary) == 6
    assert len(ordinary) == 7


_IDS = st.sampled_from([
    "urn:epc:class:lgtin:0614141.107346.L1", "urn:epc:class:lgtin:0614141.107346.L2",
    "urn:epc:class:lgtin:4012345.012345.A\\B", "urn:epc:class:lgtin:0614141.107346.caf\u00e9",
    "urn:epc:class:lgtin:0614141.107346.", "URN:EPC:CLASS:LGTIN:0614141.107346.UP",
    "urn:epc:id:sscc:0614141.1234567890", "urn:epc:id:sscc:0614141.123456789",
    "urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/10/DL1/21/7",
    "https://id.gs1.org/01/10614141073464/21/99", "urn:epc:id:sgln:0614141.00001.0", "", "not an id",
])
_NUMBERS = st.one_of(  # as the store writes them (schemas.epcis.jsontext.dumps: exact decimals, never a float)
    st.integers(-(2**63), 2**63 - 1),
    *(st.decimals(min_value=Decimal("-1e21"), max_value=Decimal("1e21"), places=p) for p in (0, 2, 9, 24)))
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=4), _IDS)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=2), st.dictionaries(st.sampled_from(["id", "type"]),
                                                                               _SCALARS, max_size=2))
_QTY = st.one_of(st.fixed_dictionaries({"epcClass": st.one_of(_IDS, _SCALARS)},
                                       optional={"quantity": st.one_of(_NUMBERS, _SCALARS),
                                                 "uom": st.one_of(st.sampled_from(["KGM", "C\\S"]), _SCALARS)}),
                 _SCALARS)
_EPCS = st.one_of(st.lists(st.one_of(_IDS, _IDS, _SCALARS), max_size=4), _SCALARS)
_QTYS = st.one_of(st.lists(_QTY, max_size=3), _SCALARS)
_PARTY = st.one_of(st.fixed_dictionaries({"type": st.sampled_from(["owning_party", "location", "other"])},
                                         optional={"source": st.one_of(_IDS, _SCALARS),
                                                   "destination": st.one_of(_IDS, _SCALARS)}), _SCALARS)
_DOCS = st.one_of(st.lists(st.one_of(st.fixed_dictionaries(
    {}, optional={"type": st.one_of(st.sampled_from(["po", "b\"o\\l\t"]), _SCALARS),
                  "bizTransaction": st.one_of(st.sampled_from(["urn:doc:1", "d\u00e9\n"]), _SCALARS)}),
    _SCALARS), max_size=3), _SCALARS)
_LOCATION = st.one_of(st.fixed_dictionaries({}, optional={"id": st.one_of(_IDS, _SCALARS)}), _SCALARS)
_BODY = st.fixed_dictionaries({}, optional={
    "action": st.sampled_from(["ADD", "OBSERVE", "DELETE", 1]), "bizStep": st.sampled_from(
        ["receiving", "shipping", "packing", None]),
    "epcList": _EPCS, "quantityList": _QTYS, "childEPCs": _EPCS, "childQuantityList": _QTYS,
    "inputEPCList": _EPCS, "inputQuantityList": _QTYS, "outputEPCList": _EPCS, "outputQuantityList": _QTYS,
    "parentID": st.one_of(_IDS, _SCALARS), "transformationID": st.one_of(st.sampled_from(["urn:tx:1", "t\\x"]),
                                                                         _SCALARS),
    "ilmd": st.one_of(st.fixed_dictionaries({}, optional={"cbvmda:lotNumber": _SCALARS, "lotNumber": _SCALARS}),
                      _VALUES),
    "bizLocation": _LOCATION, "readPoint": _LOCATION, "sourceList": st.lists(_PARTY, max_size=3),
    "destinationList": st.one_of(st.lists(_PARTY, max_size=3), _SCALARS), "bizTransactionList": _DOCS,
    "errorDeclaration": st.fixed_dictionaries({}, optional={"reason": _SCALARS, "declarationTime": _SCALARS,
                                                            "correctiveEventIDs": _EPCS}),
})
_TYPES = st.sampled_from(["ObjectEvent", "AggregationEvent", "TransformationEvent", "TransactionEvent",
                          "AssociationEvent"])


def _line(i: int, etype: str, decl: bool, body: Any) -> str:
    return "\t".join([str(i), copy_text(f"urn:k\\{i}"), "t" if decl else "f", etype,
                      "\\N" if i % 3 else f"urn:id:{i}", "2026-06-01 08:14:00+00", "-06:00",
                      copy_text(dumps(body))]) + "\n"


@PROPERTY_SETTINGS
@given(st.lists(st.tuples(_TYPES, st.booleans(), st.one_of(_BODY, _VALUES)), min_size=1, max_size=6))
def test_c_and_python_extract_the_same_rows_from_any_body(events: list[tuple[str, bool, Any]]) -> None:
    lines = [_line(i + 1, etype, decl and i % 4 == 0, body) for i, (etype, decl, body) in enumerate(events)]
    half = len(lines) // 2
    chunks = [c for c in ("".join(lines[:half]).encode(), "".join(lines[half:]).encode()) if c]
    assert _extract(chunks, native=True) == _extract(chunks, native=False)
