"""Exactly-once under crashes: ingest processes SIGKILLed mid-batch while a producer keeps publishing."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from lotline.wiring import Runtime
from tests.cli import lotline_env
from tests.factories import shipment

N_EVENTS = 50_000
KILLS = 10


def _publish(runtime: Runtime, delivered: set[str], done: threading.Event) -> None:
    with runtime.publisher(on_delivered=delivered.add) as pub:  # record what the broker acknowledged
        for start in range(0, N_EVENTS, 250):
            for i in range(start, start + 250):
                pub.publish(shipment(i, lot=f"L{i % 97}"))
            time.sleep(0.025)  # ~10K events/s: the producer outlives the kill loop
    done.set()


@pytest.mark.slow
def test_sigkill_mid_batch_loses_nothing_and_stores_nothing_twice(runtime: Runtime) -> None:
    s = runtime.settings
    env = lotline_env(s, LOTLINE_KAFKA_CONFIG=json.dumps({"session.timeout.ms": 3000,
                                                          "heartbeat.interval.ms": 500}),
                      LOTLINE_BATCH_SIZE="400")
    delivered: set[str] = set()
    done = threading.Event()
    producer = threading.Thread(target=_publish, args=(runtime, delivered, done), daemon=True)
    producer.start()
    store = runtime.store
    rng = random.Random(42)
    kills = 0
    while kills < KILLS:
        proc = subprocess.Popen([sys.executable, "-m", "lotline", "ingest"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = store.count()
        deadline = time.monotonic() + 30
        while store.count() == before and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)  # wait until this process is storing batches, then kill it mid-stream
        assert proc.poll() is None, "ingest exited on its own"
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    producer.join(timeout=300)
    assert done.is_set() and len(delivered) == N_EVENTS
    final = subprocess.run([sys.executable, "-m", "lotline", "ingest", "--until-idle"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    keys = [r.event.event_key for r in store.read(0, N_EVENTS + 1000)]
    assert len(keys) == len(set(keys)) == N_EVENTS
    assert set(keys) == delivered
    offsets = store.stored_offsets(s.consumer_group, s.events_topic)
    assert sum(offsets.values()) == N_EVENTS  # each message consumed into the store exactly once
    assert store.verify().ok
