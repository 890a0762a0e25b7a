"""Recalls as EPCIS events, and the recall-alert record.

A recall is an ordinary EPCIS ObjectEvent, so it lives in the immutable store like every other event and any
plant system may publish one: disposition ``recalled`` and ``persistentDisposition.set = [recalled]`` on a
quantity of the lot, the reason in the namespaced extension ``lotline:recallReason``. Lifting a recall is
the same event with ``persistentDisposition.unset = [recalled]``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from schemas.avro.codec import ALERT_SCHEMA, ALERT_SCHEMA_V1, Framing, RecordCodec
from schemas.epcis.identifiers import LotKey
from schemas.epcis.model import Action, EPCISEvent, EventType, PersistentDisposition, QuantityElement

LOTLINE_NS = "https://lotline.dev/ns/epcis/"
REASON_KEY = "lotline:recallReason"
RECALLED = "recalled"


def recall_event(lot: LotKey, reason: str, *, when: datetime | None = None, lift: bool = False,
                 read_point: str | None = None) -> EPCISEvent:
    """The event that declares (or, with ``lift``, ends) a recall of ``lot``."""
    when = when or datetime.now(UTC)
    pd = PersistentDisposition(unset=(RECALLED,)) if lift else PersistentDisposition(set=(RECALLED,))
    return EPCISEvent(
        type=EventType.OBJECT,
        event_id=f"urn:uuid:{uuid.uuid4()}",
        event_time=when,
        event_time_zone_offset="+00:00",
        action=Action.OBSERVE,
        disposition="active" if lift else RECALLED,
        persistent_disposition=pd,
        read_point=read_point,
        quantity_list=(QuantityElement(lot.digital_link),),
        extensions={REASON_KEY: reason} if reason else {},
        namespaces={"lotline": LOTLINE_NS},
    )


def declares_recall(event: EPCISEvent) -> bool:
    """Whether ``event`` marks its lots recalled (persistently)."""
    pd = event.persistent_disposition
    return pd is not None and RECALLED in pd.set


def lifts_recall(event: EPCISEvent) -> bool:
    """Whether ``event`` ends the recall of its lots."""
    pd = event.persistent_disposition
    return pd is not None and RECALLED in pd.unset


def recall_reason(event: EPCISEvent) -> str | None:
    """The reason carried in the event, whatever prefix the producer bound the Lotline namespace to."""
    for key, value in event.extensions.items():
        prefix, _, local = key.partition(":")
        if local == "recallReason" and event.namespaces.get(prefix) == LOTLINE_NS and isinstance(value, str):
            return value
    return None


def alert_id(recall_id: str, sequence: int) -> str:
    """The stable id of the ``sequence``-th alert of a recall: the same alert always has the same id."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{recall_id}#alert-{sequence}')}"


class AlertCodec(RecordCodec):
    """Avro ``RecallAlert`` messages for the recall-alerts topic; alerts written with the schema's first version
    (before lot-less shipments) are read too, as the current schema (``ambiguous`` false)."""

    def __init__(self, framing: Framing | None = None) -> None:
        super().__init__(ALERT_SCHEMA, framing, earlier=(ALERT_SCHEMA_V1,))
