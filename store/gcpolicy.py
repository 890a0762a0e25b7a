"""How Lotline's long loops use Python's cyclic garbage collector.

Ingest, the projector, traces and recall scopes create hundreds of thousands of tuples, dicts and lists per
batch or answer that hold no reference cycles: reference counting frees them all. The cyclic collector, though,
runs a pass every 700 allocations and its older generations walk the whole, growing heap. Measured: py-spy
put its passes at ~8% of ingest's CPU; a 200K-lot trace took 3.1-3.7 s with it running and 1.6-1.8 s with it
paused; the lineage projection's parse of 2,000-event batches cost 79 µs an event with it and 45 µs with
:func:`collecting_rarely`.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

RARE_THRESHOLDS = (50_000, 20, 20)
"""Collector thresholds inside :func:`collecting_rarely`: a young-generation pass every 50,000 net allocations
(the default is 700), so one a batch rather than a hundred."""


@contextlib.contextmanager
def collecting_rarely() -> Iterator[None]:
    """Run the block with the collector passing rarely, what exists at its start (modules, schemas, caches)
    frozen out of its scans; restores thresholds and unfreezes afterwards."""
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*RARE_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block, then restore it as it was (so blocks nest)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
