"""The event-store port: what ingest needs from the system of record, independent of the technology.

The store is append-only. Each appended event gets the next global ``position`` (gapless, in commit
order), a ``recorded_at`` time that never decreases along the positions, and a ``row_hash`` extending a
SHA-256 chain over every stored row, so an auditor can prove that nothing was changed. Consumed Kafka offsets
are saved in the same transaction as the events they produced: that is what makes ingest exactly-once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

GENESIS_HASH = bytes(32)


class SourceRef(NamedTuple):
    """Where an event was consumed from: topic, partition and offset. (Named tuples, as :class:`NewEvent`:
    ingest makes one of each per message, and a frozen dataclass costs several times as much to build.)"""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class NewEvent(NamedTuple):
    """An event ready to append. ``body`` is the event's EPCIS JSON-LD text, stored exactly as given."""

    event_key: str
    is_declaration: bool
    event_id: str | None
    event_type: str
    event_time: datetime
    event_tz_offset: str
    biz_step: str | None
    lot_keys: tuple[str, ...]
    body: str
    source: SourceRef | None = None

    @property
    def identity(self) -> tuple[str, bool]:
        """What makes two deliveries the same event: its key, and whether it is an error declaration."""
        return (self.event_key, self.is_declaration)

    @property
    def content_hash(self) -> bytes:
        return hashlib.sha256(self.body.encode()).digest()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A row of the event store."""

    position: int
    recorded_at: datetime
    event: NewEvent
    row_hash: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event the store refused: same identity as a stored event but different content."""

    event: NewEvent
    reason: str


@dataclass(slots=True)
class AppendResult:
    """What one append did."""

    stored: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    last_position: int = 0


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of walking the hash chain."""

    rows: int
    ok: bool
    first_bad_position: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which stored events a selection returns (:meth:`EventStore.select`). Empty tuples and ``None`` mean "no
    restriction": ``time_from`` is inclusive and ``time_to`` exclusive, both on the event time; ``types``,
    ``biz_steps`` and ``lot_keys`` (``GTIN14/LOT``, as stored) match any of the values given."""

    time_from: datetime | None = None
    time_to: datetime | None = None
    types: tuple[str, ...] = ()
    biz_steps: tuple[str, ...] = ()
    lot_keys: tuple[str, ...] = ()
    include_declarations: bool = True

    def matches(self, event: NewEvent) -> bool:
        """Whether ``event`` passes the filter (the in-memory form of the SQL ``store.reads.where`` writes)."""
        return ((self.time_from is None or event.event_time >= self.time_from)
                and (self.time_to is None or event.event_time < self.time_to)
                and (not self.types or event.event_type in self.types)
                and (not self.biz_steps or event.biz_step in self.biz_steps)
                and (not self.lot_keys or not set(self.lot_keys).isdisjoint(event.lot_keys))
                and (self.include_declarations or not event.is_declaration))


@dataclass(frozen=True, slots=True)
class KindCount:
    """Stored events of one event type and business step (``lotline store stats``)."""

    event_type: str
    biz_step: str | None
    events: int
    declarations: int
    first_event_time: datetime
    last_event_time: datetime


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What the store holds: its head, the distinct lots its events touch, and counts per type and bizStep
    (ordered by type, then bizStep with none as ``-``)."""

    head: int
    lots: int
    kinds: tuple[KindCount, ...]


STREAM_CHUNK = 10_000
"""Rows per chunk of :meth:`EventStore.stream` unless the caller says otherwise (the lineage rebuild's
default read, ``projections.lineage.bulk.CHUNK``, is the same)."""

OffsetKey = tuple[str, int]  # (topic, partition)


def pages(read: Callable[[int, int], list[StoredEvent]], after: int, until: int, chunk: int
          ) -> Iterator[list[StoredEvent]]:
    """Rows with ``after < position <= until``, ``chunk`` at a time, by ``read(after, limit)`` (an adapter's
    :meth:`EventStore.read`): the one paging loop of every adapter's :meth:`EventStore.stream` and walk of the
    chain. Stops early at an empty page (a store shorter than ``until``)."""
    if chunk < 1:
        raise ValueError(f"chunk must be positive, not {chunk}")
    while after < until:
        rows = read(after, min(chunk, until - after))
        if not rows:
            return
        yield rows
        after = rows[-1].position
BeforeCommit = Callable[[list[Rejected]], None]


def dedupe(events: Sequence[NewEvent]) -> tuple[list[NewEvent], int]:
    """Drop repeats of the same identity within one batch, keeping the first; return (kept, dropped)."""
    seen: set[tuple[str, bool]] = set()
    kept = []
    for e in events:
        if e.identity not in seen:
            seen.add(e.identity)
            kept.append(e)
    return kept, len(events) - len(kept)


def classify(events: Sequence[NewEvent], stored: Mapping[tuple[str, bool], bytes], result: AppendResult
             ) -> list[NewEvent]:
    """Split deduplicated ``events`` against the content hashes already ``stored`` under their identities:
    return the new ones; count repeats of identical content as duplicates; reject the rest."""
    fresh = []
    for e in events:
        existing = stored.get(e.identity)
        if existing is None:
            fresh.append(e)
        elif existing == e.content_hash:
            result.duplicates += 1
        else:
            result.rejected.append(Rejected(e, f"event {e.event_key} is already stored with different content; "
                                               "send an error declaration to correct it"))
    return fresh


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch as :meth:`EventStore.prepare` returns it: its events without repeats of an identity
    (:func:`dedupe`; ``duplicates`` says how many were dropped), and what the adapter computes of their rows
    before appending them (``rows``, one per event, of the adapter's own type)."""

    events: Sequence[NewEvent]
    rows: Sequence[Any]
    duplicates: int = 0

    @classmethod
    def of(cls, events: Sequence[NewEvent], row: Callable[[NewEvent], Any]) -> Prepared:
        """``events`` deduplicated, each with its ``row(event)``."""
        kept, dupes = dedupe(events)
        return cls(kept, [row(e) for e in kept], dupes)


class EventStore(Protocol):
    """The append-only event store."""

    def prepare(self, events: Sequence[NewEvent]) -> Prepared:
        """What :meth:`append` can compute of the rows of ``events`` without the append lock or a connection
        (their encoding and hashes), so that a caller appending from another thread can do it on its own, e.g.
        while the previous batch is appended. Optional: :meth:`append` prepares the events it is given."""
        ...

    def append(
        self,
        events: Sequence[NewEvent] | Prepared,
        *,
        group: str | None = None,
        offsets: Mapping[OffsetKey, int] | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> AppendResult:
        """Append ``events`` and save ``offsets`` (next offset to read, per topic partition, for ``group``)
        in one transaction.

        Events whose identity is already stored are skipped (redelivery is harmless); one whose identity
        is stored with *different* content is rejected. ``before_commit`` is called with the rejected events
        (often none) inside the transaction, just before it commits: the consumer dead-letters there, so a
        dead-letter topic that is down rolls the whole batch back instead of losing a message.
        """
        ...

    def stored_offsets(self, group: str, topic: str) -> dict[int, int]:
        """Next offset to consume per partition, as last committed with events."""
        ...

    def bound_topic(self, group: str, topic: str, topic_id: str) -> str:
        """The broker's id of the topic the group's stored offsets belong to: the one bound before, else
        ``topic_id``, bound now. A different answer than ``topic_id`` means the topic was created again."""
        ...

    def reset_offsets(self, group: str, topic: str) -> int:
        """Forget the group's stored offsets of ``topic`` and the topic they belonged to (the group then reads the
        topic from its start; what is stored already is recognised and not stored twice). Returns how many
        partitions had offsets. An operator's deliberate act (``lotline ingest --reset-offsets``)."""
        ...

    def read(self, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """Rows with ``position > after`` in position order. Never skips a row that commits later."""
        ...

    def head(self) -> int:
        """The highest committed position (0 when empty)."""
        ...

    def stream(self, after: int = 0, until: int | None = None, chunk: int = STREAM_CHUNK
               ) -> Iterator[list[StoredEvent]]:
        """Rows with ``after < position <= until`` in position order, ``chunk`` rows at a time (the last chunk
        may be shorter; no empty chunk). ``until`` defaults to the head when the stream starts, so the stream
        is bounded: rows appended meanwhile are not in it. Positions up to the head are gapless and immutable,
        so each chunk is complete whenever it is read."""
        ...

    def position_at(self, when: datetime) -> int:
        """The last position recorded at or before ``when`` (0 when none was): what the store held then.
        Record times never decrease along the positions, so adapters may bisect."""
        ...

    def select(self, flt: EventFilter) -> Iterator[StoredEvent]:
        """The rows ``flt`` matches, in position order."""
        ...

    def stats(self) -> StoreStats:
        """Counts of what the store holds (:class:`StoreStats`)."""
        ...

    def count(self) -> int:
        ...

    def verify(self) -> VerifyResult:
        """Walk the whole hash chain."""
        ...
