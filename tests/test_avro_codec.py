"""Avro encoding: the schema file, single-object framing, Confluent framing with a registry over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from lotline.registry import SchemaRegistry
from lotline.settings import Settings
from lotline.wiring import Runtime
from schemas.avro.codec import EVENT_SCHEMA, ConfluentFraming, EventCodec
from schemas.epcis.errors import CodecError
from schemas.formats.jsonld import document_events, loads
from tests.conftest import shared_path
from tests.factories import declared, shipment


def test_schema_file_declares_the_lineage_fields() -> None:
    names = {f["name"] for f in json.loads(EVENT_SCHEMA.canonical_form)["fields"]}
    for field in ("type", "eventID", "eventTime", "eventTimeZoneOffset", "action", "bizStep", "disposition",
                  "readPoint", "bizLocation", "epcList", "quantityList", "parentID", "childEPCs",
                  "childQuantityList", "inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList",
                  "transformationID", "bizTransactionList", "sourceList", "destinationList", "errorDeclaration",
                  "ilmdJson", "extensionsJson", "sensorElementListJson", "certificationInfoJson"):
        assert field in names


def test_single_object_round_trip_and_header() -> None:
    codec = EventCodec()
    event = declared(shipment(3), corrective=("urn:uuid:x",))
    data = codec.encode(event)
    assert data[:2] == b"\xc3\x01" and data[2:10] == EVENT_SCHEMA.fingerprint
    assert codec.decode(data) == event


def test_every_gs1_json_example_round_trips_through_avro() -> None:
    folder = shared_path("gs1-epcis", "JSON")
    codec = EventCodec()
    count = 0
    for path in sorted(folder.rglob("*.jsonld")):
        for event in document_events(loads(path.read_bytes()), document=path.name):
            assert codec.decode(codec.encode(event)) == event, path.name
            count += 1
    assert count >= 50


@pytest.mark.parametrize("data,reason", [
    (b"", "not Avro single-object encoded"),
    (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "unknown Avro schema"),
    (b"{\"type\": \"ObjectEvent\"}", "not Avro single-object encoded"),
])
def test_undecodable_bytes_raise_codec_errors(data: bytes, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        EventCodec().decode(data)


class _Registry(BaseHTTPRequestHandler):
    """Speaks the two Schema Registry REST calls Lotline uses, over real HTTP."""

    schemas: ClassVar[dict[int, str]] = {}

    def _reply(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for sid, text in self.schemas.items():
            if text == body["schema"]:
                return self._reply({"id": sid})
        sid = 100 + len(self.schemas)
        self.schemas[sid] = body["schema"]
        self._reply({"id": sid})

    def do_GET(self) -> None:
        sid = int(self.path.rsplit("/", 1)[1])
        self._reply({"schema": self.schemas[sid]})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_confluent_framing_with_a_registry(registry_url: str) -> None:
    rt = Runtime(Settings(schema_registry_url=registry_url, events_topic="plant.events"))
    codec = rt.codec
    assert isinstance(codec.framing, ConfluentFraming)
    data = codec.encode(shipment(1))
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 100
    assert codec.decode(data) == shipment(1)
    # a reader in another process resolves the id through the registry
    other = EventCodec(ConfluentFraming(lambda s: SchemaRegistry(registry_url).register("x", s),
                                        SchemaRegistry(registry_url).matches))
    assert other.decode(data) == shipment(1)
    _Registry.schemas[999] = '{"type": "string"}'
    with pytest.raises(CodecError, match="schema id 999"):
        codec.decode(b"\x00" + (999).to_bytes(4, "big") + b"\x02a")
