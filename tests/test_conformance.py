"""Capture documents checked against GS1's EPCIS 2.0 JSON schema and XSD (from ../shared), and the model.

Every GS1 example capture document must pass; broken documents must fail with an error naming the document,
the event index and the field. The GS1 artefacts are not copied into the project: tests point
:class:`~schemas.formats.validation.SchemaValidator` at ``../shared/gs1-epcis`` and skip when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lotline.settings import load_settings
from producers.capture import parse_document, read_document
from schemas.epcis.errors import EPCISError
from schemas.formats.validation import SchemaValidator, normalise_cbv_urns
from tests.conftest import SHARED, shared_path

GS1 = SHARED / "gs1-epcis"

NOT_CAPTURE_DOCUMENTS = {
    "XML/CBV/CBV-11.4-2020-06-16a.xml": "an EPCISMasterDataDocument (master data only, no events)",
    "XML/Mimasu/Example-masterData.xml": "an EPCISMasterDataDocument (master data only, no events)",
    "XML/CaptureJob/Example-CaptureJobRunning.xml": "an EPCISCaptureJob status report of the REST binding",
    "XML/CaptureJob/Example-CaptureJobSuccess.xml": "an EPCISCaptureJob status report of the REST binding",
    "XML/CaptureJob/Example-CaptureJobWithErrorFile.xml": "an EPCISCaptureJob status report of the REST binding",
    "XML/CaptureJob/Example-CaptureJobWithErrors.xml": "an EPCISCaptureJob status report of the REST binding",
}
"""GS1 documents under XML/ that are not capture documents, and why they are left out."""


def gs1_documents() -> list[str]:
    """Every JSON-LD document under JSON/, every XML document under XML/, and XML/'s one JSON document."""
    if not GS1.is_dir():
        return []
    names = [p for p in GS1.joinpath("JSON").rglob("*.jsonld")]
    names += [p for p in GS1.joinpath("XML").rglob("*.xml")]
    names += [p for p in GS1.joinpath("XML").rglob("*.json")]
    return sorted(str(p.relative_to(GS1)) for p in names)


def capture_documents() -> list[str]:
    return [n for n in gs1_documents() if n not in NOT_CAPTURE_DOCUMENTS]


@pytest.fixture(scope="module")
def validator() -> SchemaValidator:
    return SchemaValidator(shared_path("gs1-epcis", "EPCIS-JSON-Schema.json"),
                           shared_path("gs1-epcis", "XSD", "EPCglobal-epcis-query-2_0.xsd"))


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    """GS1's Example 9.6.1 (two ObjectEvents), as parsed JSON."""
    data = json.loads(shared_path("gs1-epcis", "JSON", "Example_9.6.1-ObjectEvent.jsonld").read_text())
    assert isinstance(data, dict)
    return data


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def event(doc: dict[str, Any], index: int) -> dict[str, Any]:
    ev = doc["epcisBody"]["eventList"][index]
    assert isinstance(ev, dict)
    return ev


@pytest.mark.parametrize("name", capture_documents() or ["<../shared absent>"])
def test_every_gs1_capture_document_passes_schema_and_model(name: str, validator: SchemaValidator) -> None:
    path = shared_path("gs1-epcis", *Path(name).parts)
    result = read_document(path.read_bytes(), name, validator)
    assert result.problems == [], [str(p) for p in result.problems]
    assert len(result.events) == result.total


def test_non_capture_documents_are_rejected_as_a_whole(validator: SchemaValidator) -> None:
    for name in NOT_CAPTURE_DOCUMENTS:
        result = read_document(shared_path("gs1-epcis", *Path(name).parts).read_bytes(), name, validator)
        assert result.document_error and not result.events
        assert "is not an EPCIS 1.x/2.0 EPCISDocument" in str(result.problems[0])


def test_urn_vocabulary_in_json_is_checked_as_its_bare_term(validator: SchemaValidator) -> None:
    """GS1's schema forbids CBV URNs in JSON; GS1's own event_with_identical_hash_id_7.json uses them. They are
    read as the bare term: a real term passes, an unknown one is still an error naming the URN."""
    name = "XML/WithEventHashID/event_with_identical_hash_id_7.json"
    doc = json.loads(shared_path("gs1-epcis", *Path(name).parts).read_text())
    assert event(doc, 0)["bizStep"] == "urn:epcglobal:cbv:bizstep:receiving"
    assert parse_document(encode(doc), name, validator)
    checked, originals = normalise_cbv_urns(doc)
    assert event(checked, 0)["bizStep"] == "receiving"
    assert event(doc, 0)["bizStep"] == "urn:epcglobal:cbv:bizstep:receiving"  # the input is not modified
    assert ("epcisBody", "eventList", 0, "sourceList", 0, "type") in originals
    event(doc, 0)["bizStep"] = "urn:epcglobal:cbv:bizstep:recieving"
    with pytest.raises(EPCISError) as info:
        parse_document(encode(doc), "typo.json", validator)
    assert info.value.event_index == 0 and info.value.field == "bizStep"
    assert "urn:epcglobal:cbv:bizstep:recieving" in str(info.value)
    assert "neither a standard CBV value nor the URI of another vocabulary" in str(info.value)


def test_schema_errors_name_document_event_and_field(validator: SchemaValidator, example: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(example))
    del event(doc, 1)["action"]
    event(doc, 1)["quantityList"] = [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 2,
                                      "uom": "kg"}]
    event(doc, 1)["comment"] = "no prefix"
    result = read_document(encode(doc), "bad.jsonld", validator)
    assert [p.event_index for p in result.problems] == [1, 1, 1]
    rendered = [str(p) for p in result.problems]
    assert "bad.jsonld: event 1: action: is required (GS1 EPCIS JSON schema)" in rendered
    assert any(r.startswith("bad.jsonld: event 1: quantityList/0/uom: 'kg' does not match") for r in rendered)
    assert any(r.startswith("bad.jsonld: event 1: comment: 'comment' is not a field") for r in rendered)
    assert [e.event_id for e in result.events] == [event(doc, 0).get("eventID")]  # event 0 is still good
    assert result.rejected == 1 and result.total == 2


def test_document_level_schema_error_rejects_every_event(validator: SchemaValidator,
                                                          example: dict[str, Any]) -> None:
    doc = {k: v for k, v in example.items() if k != "creationDate"}
    result = read_document(encode(doc), "nodate.jsonld", validator)
    assert result.document_error and result.events == [] and result.rejected == 2
    assert str(result.problems[0]) == "nodate.jsonld: creationDate: is required (GS1 EPCIS JSON schema)"


def test_xsd_errors_name_event_and_element(validator: SchemaValidator) -> None:
    name = "XML/Example_9.6.1-ObjectEvent-2020_06_18a.xml"
    data = shared_path("gs1-epcis", *Path(name).parts).read_bytes()
    data = data.replace(b"<action>OBSERVE</action>", b"<action>LOOK</action>", 1)
    result = read_document(data, "bad.xml", validator)
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert (problem.event_index, problem.field) == (0, "action")
    assert "'LOOK' is not an element of the set" in problem.message and "GS1 EPCIS XSD" in problem.message
    assert len(result.events) == 1  # the second event is fine


def test_without_schemas_the_model_still_checks(example: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(example))
    event(doc, 0)["eventTimeZoneOffset"] = "+25:00"
    result = read_document(encode(doc), "model-only.jsonld", SchemaValidator())
    assert [str(p) for p in result.problems] == [
        "model-only.jsonld: event 0: eventTimeZoneOffset: '+25:00' is outside -14:00..+14:00"]


def test_validator_reads_paths_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = shared_path("gs1-epcis", "EPCIS-JSON-Schema.json")
    monkeypatch.setenv("LOTLINE_EPCIS_JSON_SCHEMA", str(schema))
    monkeypatch.delenv("LOTLINE_EPCIS_XSD", raising=False)
    settings = load_settings()
    v = SchemaValidator(settings.epcis_json_schema, settings.epcis_xsd)
    assert v.json_schema_path == schema and v.xsd_path is None


def test_unreadable_schema_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "schema.json"
    bad.write_text("{not json")
    with pytest.raises(EPCISError, match="cannot load the EPCIS JSON schema"):
        SchemaValidator(bad)
    with pytest.raises(EPCISError, match="cannot load the EPCIS XSD"):
        SchemaValidator(xsd=tmp_path / "missing.xsd")


def test_utf8_bom_is_accepted() -> None:
    name = "XML/Example-TransactionEvent-2020_07_03y.xml"
    data = shared_path("gs1-epcis", *Path(name).parts).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert len(parse_document(data, name)) == 2


def test_fast_path_and_reference_validator_agree(monkeypatch: pytest.MonkeyPatch, example: dict[str, Any]) -> None:
    """fastjsonschema (when installed) only decides "valid?"; jsonschema explains what it rejects. With the
    fast path off, the same documents give the same problems."""
    import schemas.formats.validation as validation

    doc = json.loads(json.dumps(example))
    del event(doc, 1)["action"]
    event(doc, 0)["bizStep"] = "urn:epcglobal:cbv:bizstep:bogus"
    agg = json.loads(shared_path("gs1-epcis", "JSON", "Example_9.6.3-AggregationEvent.jsonld").read_text())
    event(agg, 0)["persistentDisposition"] = {"set": ["completeness_verified"]}  # tolerated (domain §1)
    inputs = [(encode(doc), "bad.jsonld"), (encode(example), "good.jsonld"), (encode(agg), "agg.jsonld")]
    schema = shared_path("gs1-epcis", "EPCIS-JSON-Schema.json")

    def results() -> list[list[str]]:
        validation._json_validator.cache_clear()
        v = SchemaValidator(schema)
        return [[str(p) for p in read_document(data, name, v).problems] for data, name in inputs]

    with_fast = results()
    monkeypatch.setattr(validation, "_fast_compile", lambda schema: None)
    assert results() == with_fast
    validation._json_validator.cache_clear()
    assert [len(r) for r in with_fast] == [2, 0, 0]
