"""An in-memory event store: the reference adapter of the port, for unit tests and single-process tools.

It follows the same contract as the PostgreSQL adapter (the shared contract suite runs on both) but keeps
nothing across processes.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime

from store.port import (
    GENESIS_HASH,
    STREAM_CHUNK,
    AppendResult,
    BeforeCommit,
    EventFilter,
    KindCount,
    NewEvent,
    OffsetKey,
    Prepared,
    StoredEvent,
    StoreStats,
    VerifyResult,
    classify,
    pages,
)
from store.rows import row_hash, verify_chain


class InMemoryEventStore:
    """Append-only list of :class:`StoredEvent` guarded by a lock (the lock serialises writers)."""

    def __init__(self) -> None:
        self._rows: list[StoredEvent] = []
        self._index: dict[tuple[str, bool], bytes] = {}
        self._offsets: dict[tuple[str, str, int], int] = {}
        self._topics: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def prepare(self, events: Sequence[NewEvent]) -> Prepared:
        return Prepared.of(events, lambda e: None)  # nothing to encode: rows are kept as they are

    def append(
        self,
        events: Sequence[NewEvent] | Prepared,
        *,
        group: str | None = None,
        offsets: Mapping[OffsetKey, int] | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> AppendResult:
        prepared = events if isinstance(events, Prepared) else self.prepare(events)
        kept, dupes = prepared.events, prepared.duplicates
        with self._lock:
            result = AppendResult(duplicates=dupes)
            fresh = classify(kept, self._index, result)
            if before_commit is not None:
                before_commit(result.rejected)
            prev = self._rows[-1].row_hash if self._rows else GENESIS_HASH
            now = max(datetime.now(UTC), self._rows[-1].recorded_at) if self._rows else datetime.now(UTC)
            for e in fresh:
                pos = len(self._rows) + 1
                prev = row_hash(prev, pos, now, e)
                self._rows.append(StoredEvent(pos, now, e, prev))
                self._index[e.identity] = e.content_hash
            if group is not None and offsets:
                for (topic, partition), nxt in offsets.items():
                    key = (group, topic, partition)
                    self._offsets[key] = max(nxt, self._offsets.get(key, 0))
            result.stored = len(fresh)
            result.last_position = len(self._rows)
            return result

    def stored_offsets(self, group: str, topic: str) -> dict[int, int]:
        with self._lock:
            return {p: o for (g, t, p), o in self._offsets.items() if g == group and t == topic}

    def bound_topic(self, group: str, topic: str, topic_id: str) -> str:
        with self._lock:
            return self._topics.setdefault((group, topic), topic_id)

    def reset_offsets(self, group: str, topic: str) -> int:
        with self._lock:
            keys = [k for k in self._offsets if k[0] == group and k[1] == topic]
            for k in keys:
                del self._offsets[k]
            self._topics.pop((group, topic), None)
            return len(keys)

    def read(self, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
        with self._lock:
            return self._rows[after:after + limit]

    def head(self) -> int:
        with self._lock:
            return len(self._rows)

    def stream(self, after: int = 0, until: int | None = None, chunk: int = STREAM_CHUNK
               ) -> Iterator[list[StoredEvent]]:
        return pages(self.read, after, self.head() if until is None else until, chunk)

    def position_at(self, when: datetime) -> int:
        with self._lock:  # record times never decrease along the positions: bisect them
            return bisect.bisect_right(self._rows, when, key=lambda r: r.recorded_at)

    def select(self, flt: EventFilter) -> Iterator[StoredEvent]:
        with self._lock:
            rows = list(self._rows)
        return (r for r in rows if flt.matches(r.event))

    def stats(self) -> StoreStats:
        with self._lock:
            rows = list(self._rows)
        kinds: dict[tuple[str, str | None], list[StoredEvent]] = {}
        for r in rows:
            kinds.setdefault((r.event.event_type, r.event.biz_step), []).append(r)
        counts = [KindCount(t, step, len(of), sum(r.event.is_declaration for r in of),
                            min(r.event.event_time for r in of), max(r.event.event_time for r in of))
                  for (t, step), of in kinds.items()]
        counts.sort(key=lambda k: (k.event_type, k.biz_step or "-"))
        lots = {k for r in rows for k in r.event.lot_keys}
        return StoreStats(len(rows), len(lots), tuple(counts))

    def count(self) -> int:
        return len(self._rows)

    def verify(self) -> VerifyResult:
        with self._lock:
            rows = list(self._rows)
        return verify_chain(iter(rows))
