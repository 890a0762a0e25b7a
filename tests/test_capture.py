"""``lotline capture`` and ``lotline hash``: clear errors naming document, event and field; the two capture
modes of the standard (reject the whole document, or ``--partial``); schema options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lotline.settings import Settings
from producers.capture import parse_document, read_document
from schemas.epcis.errors import EPCISError
from schemas.formats.validation import SchemaValidator
from tests.cli import lotline_env, run_lotline
from tests.conftest import shared_path
from tests.kafka_util import read_topic

GOOD = {
    "type": "ObjectEvent",
    "eventTime": "2026-06-01T08:00:00.000-06:00",
    "eventTimeZoneOffset": "-06:00",
    "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
    "action": "OBSERVE",
    "bizStep": "shipping",
    "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.0"},
}

BAD_EVENTS: dict[str, tuple[dict[str, Any], str, str]] = {
    # case: (event 1, field, words the message must contain)
    "wrong check digit": ({**GOOD, "epcList": ["https://id.gs1.org/01/10614141073465/21/2017"]}, "epcList/0",
                          "check digit"),
    "unknown event type": ({**GOOD, "type": "FooEvent"}, "type", "unknown event type 'FooEvent'"),
    "missing eventTime": ({k: v for k, v in GOOD.items() if k != "eventTime"}, "eventTime", "is required"),
    "malformed offset": ({**GOOD, "eventTimeZoneOffset": "+2:00"}, "eventTimeZoneOffset",
                         "'+2:00' is not a time-zone offset of the form +hh:mm or -hh:mm"),
    "offset out of range": ({**GOOD, "eventTimeZoneOffset": "+25:00"}, "eventTimeZoneOffset",
                            "'+25:00' is outside -14:00..+14:00"),
}


def document(*events: dict[str, Any]) -> bytes:
    return json.dumps({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-06-01T09:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }).encode()


def xml_document(event_xml: str) -> bytes:
    return ('<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0" '
            'creationDate="2026-06-01T09:00:00Z"><EPCISBody><EventList>'
            f"{event_xml}</EventList></EPCISBody></epcis:EPCISDocument>").encode()


XML_GOOD = ("<ObjectEvent><eventTime>2026-06-01T08:00:00.000-06:00</eventTime>"
            "<eventTimeZoneOffset>{offset}</eventTimeZoneOffset><epcList><epc>{epc}</epc></epcList>"
            "<action>OBSERVE</action></ObjectEvent>")


def validator() -> SchemaValidator:
    return SchemaValidator(shared_path("gs1-epcis", "EPCIS-JSON-Schema.json"),
                           shared_path("gs1-epcis", "XSD", "EPCglobal-epcis-query-2_0.xsd"))


@pytest.mark.parametrize("case", sorted(BAD_EVENTS))
def test_model_errors_name_document_event_and_field(case: str) -> None:
    bad, field, words = BAD_EVENTS[case]
    with pytest.raises(EPCISError) as info:
        parse_document(document(GOOD, bad), "plant.jsonld")
    err = info.value
    assert (err.document, err.event_index, err.field) == ("plant.jsonld", 1, field)
    assert words in err.message
    assert str(err).startswith(f"plant.jsonld: event 1: {field}: ")


@pytest.mark.parametrize("case", sorted(BAD_EVENTS))
def test_with_the_gs1_schema_the_same_events_are_rejected(case: str) -> None:
    """The GS1 JSON schema catches most of these first; the check digit only the model knows."""
    bad, field, _ = BAD_EVENTS[case]
    result = read_document(document(GOOD, bad), "plant.jsonld", validator())
    assert {p.event_index for p in result.problems} == {1}
    assert any(p.field == field for p in result.problems), [str(p) for p in result.problems]
    assert len(result.events) == 1


def test_xml_errors_are_located_too() -> None:
    data = xml_document(XML_GOOD.format(offset="-06:00", epc="urn:epc:id:sgtin:0614141.107346.2017")
                        + XML_GOOD.format(offset="-06:00", epc="https://id.gs1.org/01/10614141073465/21/2017")
                        + XML_GOOD.format(offset="-6:00", epc="urn:epc:id:sgtin:0614141.107346.2017"))
    result = read_document(data, "plant.xml")
    assert [(p.event_index, p.field) for p in result.problems] == [(1, "epcList/0"), (2, "eventTimeZoneOffset")]
    assert len(result.events) == 1
    xsd_result = read_document(data, "plant.xml", validator())
    assert [p.event_index for p in xsd_result.problems] == [1, 2]
    assert xsd_result.problems[1].field == "eventTimeZoneOffset"  # a plain string in the XSD: the model


def test_unknown_xml_event_type_is_a_document_error() -> None:
    result = read_document(xml_document("<FooEvent/>"), "plant.xml")
    assert result.document_error
    assert "<FooEvent> is not a supported EPCIS 2.0 event type" in str(result.problems[0])


def test_not_a_document() -> None:
    for data, words in ((b"hello", "neither a JSON-LD nor an XML document"), (b"{oops", "is not valid JSON"),
                        (b"<a><b></a>", "is not well-formed XML"),
                        (b'{"type": "EPCISDocument"}', "is not an EPCISDocument")):
        result = read_document(data, "x")
        assert result.document_error and words in str(result.problems[0])


# --- the CLI -------------------------------------------------------------------------------------------


def _published(settings: Settings) -> int:
    return len(read_topic(settings.kafka_bootstrap or "", settings.events_topic, timeout=5))


def test_capture_rejects_the_whole_document_by_default(settings: Settings, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonld"
    good.write_bytes(document(GOOD))
    bad = tmp_path / "bad.jsonld"
    bad.write_bytes(document(GOOD, *(BAD_EVENTS[c][0] for c in sorted(BAD_EVENTS))))
    env = lotline_env(settings)
    proc = run_lotline(["capture", str(good), str(bad)], env)
    assert proc.returncode == 2, proc.stderr
    for i, case in enumerate(sorted(BAD_EVENTS), start=1):
        assert f"error: {bad}: event {i}: {BAD_EVENTS[case][1]}: " in proc.stderr
    assert f"{bad} (5 of 6 event(s) invalid); nothing was published" in proc.stderr
    # nothing was published, not even the good document (the topic may not even exist)
    ok = run_lotline(["capture", str(good)], env)
    assert ok.returncode == 0, ok.stderr
    assert _published(settings) == 1


def test_capture_partial_publishes_the_valid_events(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonld"
    bad.write_bytes(document(GOOD, BAD_EVENTS["missing eventTime"][0], {**GOOD, "bizStep": "receiving"}))
    schema = shared_path("gs1-epcis", "EPCIS-JSON-Schema.json")
    proc = run_lotline(["capture", "--partial", "--json-schema", str(schema), str(bad)], lotline_env(settings))
    assert proc.returncode == 1, proc.stderr
    assert f"error: {bad}: event 1: eventTime: is required (GS1 EPCIS JSON schema)" in proc.stderr
    assert f"{bad}: 2 event(s) published to {settings.events_topic}, 1 rejected" in proc.stdout
    assert _published(settings) == 2


def test_capture_schema_from_environment(settings: Settings, tmp_path: Path) -> None:
    doc = tmp_path / "urn-typo.jsonld"
    doc.write_bytes(document({**GOOD, "bizStep": "urn:epcglobal:cbv:bizstep:shiping"}))
    env = lotline_env(settings, LOTLINE_EPCIS_JSON_SCHEMA=str(shared_path("gs1-epcis", "EPCIS-JSON-Schema.json")))
    proc = run_lotline(["capture", str(doc)], env)
    assert proc.returncode == 2
    assert f"{doc}: event 0: bizStep: 'urn:epcglobal:cbv:bizstep:shiping' (read as 'shiping')" in proc.stderr
    missing = run_lotline(["capture", "--xsd", str(tmp_path / "nope.xsd"), str(doc)], env)
    assert missing.returncode == 2 and "is not a file" in missing.stderr


def test_hash_prints_one_id_per_event(tmp_path: Path) -> None:
    """GS1's identical-hash set: six XML spellings and a JSON one of the same event (doc 2 has another offset,
    which is part of the pre-hash; see test_event_hash)."""
    folder = shared_path("gs1-epcis", "XML", "WithEventHashID")
    files = sorted(str(p) for p in folder.iterdir() if p.suffix in (".xml", ".json"))
    proc = run_lotline(["hash", *files], {"PATH": "", "LOTLINE_LOG_LEVEL": "WARNING"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert len(lines) == 7 and all(line.startswith("ni:///sha-256;") and line.endswith("?ver=CBV2.0")
                                   for line in lines)
    assert len(set(lines)) == 2 and lines.count(lines[0]) == 6
    bad = tmp_path / "bad.jsonld"
    bad.write_bytes(document(GOOD, BAD_EVENTS["wrong check digit"][0]))
    failed = run_lotline(["hash", str(bad)], {"PATH": "", "LOTLINE_LOG_LEVEL": "WARNING"})
    assert failed.returncode == 2 and f"{bad}: event 1: epcList/0" in failed.stderr
