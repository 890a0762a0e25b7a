"""The lineage commands as an operator runs them: ``lotline project``, ``trace``, ``replay`` in subprocesses."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime

from lotline.settings import Settings
from lotline.wiring import Runtime
from schemas.epcis.model import Action
from store.records import to_new_event
from tests.cli import lotline_env, run_lotline
from tests.lineage_builders import aggregate, declare, eid, pgln, receive, ship, sscc, transform

EVENTS = [
    receive("r1", [("L1", 1000, "LBR")], supplier=50, minute=0),
    transform("pack", [("L1", 1000, "LBR")], [("C1", 100, "CS")], minute=10),
    aggregate("pal", Action.ADD, sscc(7), [("C1", 30, "CS")], minute=15),
    ship("s1", [("C1", 60, "CS")], customer=10, minute=20),
    ship("s2", customer=11, minute=25, epcs=(sscc(7),)),
]


def _run(settings: Settings, *args: str) -> tuple[int, str, str]:
    proc = run_lotline(list(args), lotline_env(settings))
    return proc.returncode, proc.stdout, proc.stderr


def test_project_then_trace_json_csv_and_unknown_lot(runtime: Runtime, settings: Settings) -> None:
    runtime.store.append([to_new_event(e) for e in EVENTS])
    code, _, err = _run(settings, "project", "--until-idle")
    assert code == 0, err
    code, out, err = _run(settings, "trace", "forward", "https://id.gs1.org/01/10614141073464/10/L1")
    assert code == 0, err
    answer = json.loads(out)  # json is the default when stdout is not a terminal
    assert answer["direction"] == "forward" and answer["position"] == 5
    assert [(x["lot_number"], x["depth"]) for x in answer["lots"]] == [("L1", 0), ("C1", 1)]
    assert [(s["party"], s["quantity"], s["pallet"]) for s in answer["shipments"]] == [
        (pgln(10), 60, None), (pgln(11), 30, "006141410000000074")]
    assert [p["party"] for p in answer["parties"]] == [pgln(10), pgln(11)]
    code, out, _ = _run(settings, "trace", "backward", "10614141073464/C1", "--format", "csv")
    assert code == 0
    assert list(csv.DictReader(io.StringIO(out))) == [
        {"gtin": "10614141073464", "lot_number": "C1", "depth": "0",
         "identifiers": "urn:epc:class:lgtin:0614141.107346.C1"},
        {"gtin": "10614141073464", "lot_number": "L1", "depth": "1",
         "identifiers": "urn:epc:class:lgtin:0614141.107346.L1"}]
    code, out, _ = _run(settings, "trace", "forward", "urn:epc:class:lgtin:0614141.107346.L1", "--format", "csv",
                        "--rows", "shipments")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["party"], r["quantity"], r["uom"], r["date"]) for r in rows] == [
        (pgln(10), "60", "CS", "2026-06-01"), (pgln(11), "30", "CS", "2026-06-01")]
    code, out, err = _run(settings, "trace", "forward", "10614141073464/NOPE")
    assert code == 2 and out == "" and "not known" in err
    code, _, err = _run(settings, "trace", "forward", "not-a-lot")
    assert code == 2 and "does not name a lot" in err


def test_replay_and_as_of_from_the_command_line(runtime: Runtime, settings: Settings) -> None:
    runtime.store.append([to_new_event(e) for e in EVENTS])
    time.sleep(0.05)
    before = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    runtime.store.append([to_new_event(declare(EVENTS[3], "did_not_occur"))])
    code, out, err = _run(settings, "replay")
    assert code == 0, err
    assert "rebuilt and switched store position 6" in out
    code, out, _ = _run(settings, "trace", "forward", "10614141073464/L1")
    now = json.loads(out)
    assert [s["event_id"] for s in now["shipments"]] == [eid("s2")]
    assert [s["event_id"] for s in now["retracted"]] == [eid("s1")]
    code, out, err = _run(settings, "trace", "forward", "10614141073464/L1", "--as-of", before)
    assert code == 0, err
    then = json.loads(out)
    assert then["position"] == 5 and then["as_of"] is not None
    assert [s["event_id"] for s in then["shipments"]] == [eid("s1"), eid("s2")]
    code, out, err = _run(settings, "replay", "--position", "5")
    assert code == 0 and "built as of store position 5" in out, err


def test_a_lineage_of_another_layout_asks_for_a_replay(runtime: Runtime, settings: Settings) -> None:
    """A lineage written by another version of Lotline (here: a movements table without eventTime, the layout's
    mark changed) is refused by the projector and by traces, which name the command that rebuilds it; an as-of
    lineage in the old layout is built again; `lotline replay` mends the live one."""
    runtime.store.append([to_new_event(e) for e in EVENTS])
    assert _run(settings, "project", "--until-idle")[0] == 0
    assert _run(settings, "trace", "forward", "10614141073464/L1", "--position", "5")[0] == 0
    with runtime.engine.begin() as conn:
        for schema in ("lineage", "lineage_asof_p5"):
            conn.exec_driver_sql(f"ALTER TABLE {schema}.movements DROP COLUMN event_time")
            conn.exec_driver_sql(f"COMMENT ON SCHEMA {schema} IS 'lotline lineage layout 0123456789ab'")
    code, _, err = _run(settings, "project", "--until-idle")
    assert code == 2 and "written by another version of Lotline (tables of layout 0123456789ab" in err, err
    assert "lotline replay" in err
    code, out, err = _run(settings, "trace", "forward", "10614141073464/L1")
    assert code == 2 and out == "" and "layout 0123456789ab" in err and "lotline replay" in err, err
    code, out, err = _run(settings, "trace", "forward", "10614141073464/L1", "--position", "5")
    assert code == 0 and [s["event_id"] for s in json.loads(out)["shipments"]] == [eid("s1"), eid("s2")], err
    assert _run(settings, "replay")[0] == 0
    code, out, err = _run(settings, "trace", "forward", "10614141073464/L1")
    assert code == 0 and [s["event_id"] for s in json.loads(out)["shipments"]] == [eid("s1"), eid("s2")], err
    assert _run(settings, "project", "--until-idle")[0] == 0
