"""A minimal Confluent Schema Registry client: register a schema under a subject, match ids on read.

Only the two REST calls Lotline needs (``POST /subjects/{subject}/versions`` and ``GET /schemas/ids/{id}``),
over urllib, with results cached: every message would otherwise cost a round trip. (The registry client
inside confluent-kafka needs extras whose pinned versions are not all installable everywhere.)
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from schemas.avro.codec import AvroSchema

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistry:
    """Registers Lotline's writer schemas and checks reader compatibility by canonical form."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ids: dict[tuple[str, str], int] = {}
        self._by_id: dict[int, str] = {}

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return json.loads(resp.read())

    def register(self, subject: str, schema: AvroSchema) -> int:
        """The id of ``schema`` under ``subject``, registering it on first use."""
        key = (subject, schema.canonical_form)
        if key not in self._ids:
            reply = self._call("POST", f"/subjects/{subject}/versions", {"schema": schema.canonical_form})
            self._ids[key] = int(reply["id"])
            self._by_id[self._ids[key]] = schema.canonical_form
        return self._ids[key]

    def matches(self, schema_id: int, schema: AvroSchema) -> bool:
        """Whether the registry's schema ``schema_id`` has the same canonical form as ``schema``."""
        if schema_id not in self._by_id:
            from fastavro.schema import parse_schema, to_parsing_canonical_form

            text = self._call("GET", f"/schemas/ids/{schema_id}")["schema"]
            self._by_id[schema_id] = to_parsing_canonical_form(parse_schema(json.loads(text)))
        return self._by_id[schema_id] == schema.canonical_form
