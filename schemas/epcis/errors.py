"""Errors raised when input does not conform to the EPCIS contract.

Every error names *where* the problem is (document, event index, field) and *what* is wrong, so that a
plant operator reading a log line or a dead-letter header can fix the producing system without a debugger.
"""

from __future__ import annotations


def shown(text: str) -> str:
    """``text`` as an error quotes it: whole up to 40 characters, else its start and its length (a hostile value
    of 100K characters must not become a 100K-character reason)."""
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


class EPCISError(ValueError):
    """An EPCIS document, event or identifier is not valid.

    ``field`` is a JSON-pointer-like path inside the event (``quantityList/0/uom``), ``event_index`` the
    position of the event in its document and ``document`` the document's name (a file path, ``-`` or a
    Kafka coordinate).
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        event_index: int | None = None,
        document: str | None = None,
    ) -> None:
        self.message = message
        self.field = field
        self.event_index = event_index
        self.document = document
        super().__init__(self.describe())

    def describe(self) -> str:
        """Render ``document: event N: field: message`` with the parts that are known."""
        parts: list[str] = []
        if self.document is not None:
            parts.append(self.document)
        if self.event_index is not None:
            parts.append(f"event {self.event_index}")
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)

    def located(
        self, *, event_index: int | None = None, document: str | None = None, field_prefix: str | None = None
    ) -> EPCISError:
        """Return a copy of this error with the location filled in by an outer caller."""
        field = self.field
        if field_prefix:
            field = f"{field_prefix}/{field}" if field else field_prefix
        return type(self)(
            self.message,
            field=field,
            event_index=self.event_index if event_index is None else event_index,
            document=self.document if document is None else document,
        )


class IdentifierError(EPCISError):
    """A GS1 identifier (EPC URN or Digital Link URI) is malformed or has a wrong check digit."""


class CodecError(ValueError):
    """Bytes on the wire cannot be decoded as a Lotline Avro message."""
