"""The outbox relay: publishes recall alerts from ``recalls.outbox`` to the recall-alerts topic.

At least once, with a stable identity: a row is marked published only after the broker acknowledged it, so
a relay killed between the two publishes that row again on restart — with the same alert id in the
``lotline.alert.id`` header and in the body, which is what subscribers deduplicate on. Messages are keyed
by the recalled lot (``GTIN14/LOT``): one recall's alerts share a partition and arrive in sequence order.
The relay sleeps on ``LISTEN lotline_recall_outbox`` and wakes when the projection writes an alert.
"""

from __future__ import annotations

import select
import threading
import time
from typing import Any

import structlog
from confluent_kafka import KafkaError, Message, Producer
from sqlalchemy.engine import Engine

from projections.framework import LOCK_NAMESPACE, lock_key, quote_ident
from projections.recall.ddl import SCHEMA, create_tables
from projections.recall.projection import NAME, NOTIFY_CHANNEL
from schemas.recall import AlertCodec

log = structlog.get_logger("lotline.recall_relay")

ALERT_ID = "lotline.alert.id"
RECALL_ID = "lotline.recall.id"
SEQUENCE = "lotline.alert.sequence"
KIND = "lotline.alert.kind"
MAX_ALERT_BYTES = 32 * 1024 * 1024
"""An alert carries a recall's whole scope in one message (a 10K-lot scope is ~4 MB before compression);
the alerts topic is created with this ``max.message.bytes`` (:meth:`lotline.wiring.Runtime.ensure_topics`)."""


class OutboxRelay:
    """Moves outbox rows to Kafka, oldest first."""

    def __init__(self, engine: Engine, kafka_config: dict[str, Any], topic: str, codec: AlertCodec | None = None,
                 *, schema: str = SCHEMA, batch_size: int = 500, poll_s: float = 5.0, flush_timeout_s: float = 30.0,
                 pause_after_publish_s: float = 0.0) -> None:
        self.engine = engine
        self.topic = topic
        self.codec = codec or AlertCodec()
        self.schema = schema
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.flush_timeout_s = flush_timeout_s
        self.pause_after_publish_s = pause_after_publish_s
        self.published = 0
        self._errors: list[str] = []
        self._stop = threading.Event()
        self._producer = Producer({"enable.idempotence": True, "acks": "all", "linger.ms": 5,
                                   "compression.type": "lz4", "message.max.bytes": MAX_ALERT_BYTES, **kafka_config})

    def stop(self) -> None:
        self._stop.set()

    def publish_pending(self) -> int:
        """Publish one batch of unpublished alerts; returns how many. Raises if the broker refused any."""
        s = quote_ident(self.schema)
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(f"SELECT id, alert_id, recall_id, lot_key, sequence, kind, body FROM {s}.outbox "
                        "WHERE published_at IS NULL ORDER BY id LIMIT %s", (self.batch_size,))
            rows = cur.fetchall()
            raw.commit()
            if not rows:
                return 0
            for _id, aid, rid, lot_key, seq, kind, body in rows:
                headers: list[tuple[str, str | bytes | None]] = [
                    (ALERT_ID, aid.encode()), (RECALL_ID, rid.encode()), (SEQUENCE, str(seq).encode()),
                    (KIND, kind.encode())]
                value = self.codec.framing.frame(self.codec.schema, bytes(body))
                self._producer.produce(self.topic, key=lot_key.encode(), value=value, headers=headers,
                                       on_delivery=self._delivered)
            remaining = self._producer.flush(self.flush_timeout_s)
            errors, self._errors = self._errors, []
            if remaining or errors:
                raise RuntimeError(f"recall alerts not acknowledged by the broker ({remaining} pending): "
                                   f"{'; '.join(errors[:3])}")
            if self.pause_after_publish_s:
                time.sleep(self.pause_after_publish_s)  # fault injection: widen the publish/bookkeeping gap
            cur.execute(f"UPDATE {s}.outbox SET published_at = clock_timestamp() WHERE id = ANY(%s)",
                        ([r[0] for r in rows],))
            raw.commit()
        finally:
            raw.close()
        for _id, aid, rid, lot_key, seq, kind, _body in rows:
            log.info("recall alert published", alert_id=aid, recall_id=rid, lot=lot_key, sequence=seq,
                     kind=kind, topic=self.topic)
        self.published += len(rows)
        return len(rows)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(err.str())

    def run(self, *, until_idle: bool = False, poll_s: float | None = None) -> int:
        """Publish until stopped (``until_idle``: until the outbox is empty), sleeping at most ``poll_s`` (default:
        the relay's) between checks of an empty outbox. Returns alerts published."""
        poll_s = self.poll_s if poll_s is None else poll_s
        listener = self.engine.raw_connection()
        try:
            cur = listener.cursor()
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, lock_key(self.schema, NAME)))
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.schema)}")
            create_tables(cur, self.schema)  # the relay may start before the projection has run
            cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
            listener.commit()
            conn: Any = listener.dbapi_connection
            while not self._stop.is_set():
                if self.publish_pending():
                    continue
                if until_idle:
                    break
                if select.select([conn], [], [], poll_s)[0]:
                    conn.poll()
                    conn.notifies.clear()
        finally:
            listener.close()
            self._producer.flush(10)
        return self.published
