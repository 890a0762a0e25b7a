"""The extraction of lineage rows (projections/lineage/extract.py), as every installation runs it: compiled.

Chunk boundaries do not change the rows (the extractor keeps what spans chunks), and any stored body, with values
of every JSON type where the store's would be and numbers of up to 45 digits, is read without an error into
well-formed COPY lines: one stored event must never stop a rebuild. (What the rows mean is checked against the
incremental projection and the answers of domain.md in test_lineage_bulk.py and test_lineage_scenarios.py.)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lotline.buildinfo import COMPILED_MODULES
from projections.lineage import extract
from projections.lineage.extract import READ_COLUMNS, STREAMED, Extractor
from schemas.epcis.jsontext import dumps
from store.pgcopy import copy_text, copy_to
from store.postgres import PostgresEventStore
from tests.test_lineage_bulk import _load
from tests.test_properties import PROPERTY_SETTINGS

_LOT_COLUMNS = {"items": (1,), "transformation_io": (3,), "aggregations": (4,), "movement_lines": (1,),
                "lot_edges": (0, 1)}
"""Which fields of each table's lines are lot ids."""

_WIDTHS = {"items": 2, "lineage_events": 2, "retractions": 5, "transformation_io": 7, "aggregations": 11,
           "movements": 11, "movement_lines": 6, "movement_ssccs": 2, "lot_edges": 3}
"""The fields of each table's COPY lines."""


def _extract(chunks: list[bytes]) -> dict[str, list[tuple[str, ...]]]:
    """Every table's lines (sorted; lot ids as GTIN/lot) for the chunks read in order."""
    ex = Extractor()
    texts = [ex.chunk(data) for data in chunks]
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


def test_the_extraction_runs_compiled() -> None:
    assert extract.__name__ in COMPILED_MODULES.values()
    assert extract.__file__ is not None and not extract.__file__.endswith(".py"), \
        "projections/lineage/extract.py is not compiled: reinstall (./dev test rebuilds it)"


def test_chunk_boundaries_do_not_change_the_rows(pg_store: PostgresEventStore) -> None:
    _load(pg_store, n=2000, seed=21)
    raw = pg_store.engine.raw_connection()
    try:
        cur = raw.cursor()
        head = pg_store.head()
        whole = copy_to(cur, f"COPY (SELECT {READ_COLUMNS} FROM events ORDER BY position) TO STDOUT")
        chunks = [copy_to(cur, f"COPY (SELECT {READ_COLUMNS} FROM events WHERE position > {lo}"
                               f" AND position <= {lo + 700} ORDER BY position) TO STDOUT")
                  for lo in range(0, head, 700)]
    finally:
        raw.close()
    rows = _extract([whole])
    assert all(rows[t] for t in STREAMED)
    assert _extract(chunks) == rows


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
def test_any_body_is_extracted_into_well_formed_lines(events: list[tuple[str, bool, Any]]) -> None:
    lines = [_line(i + 1, etype, decl and i % 4 == 0, body) for i, (etype, decl, body) in enumerate(events)]
    half = len(lines) // 2
    chunks = [c for c in ("".join(lines[:half]).encode(), "".join(lines[half:]).encode()) if c]
    rows = _extract(chunks)
    assert _extract(["".join(lines).encode()]) == rows
    assert len(rows["lineage_events"]) + len(rows["retractions"]) == len(lines)
    for table, width in _WIDTHS.items():
        assert all(len(fields) == width for fields in rows[table]), table
