"""Several ingest processes in one consumer group share the partitions; SIGTERM finishes the batch in hand."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from lotline.wiring import Runtime
from tests.cli import lotline_env
from tests.factories import shipment


def test_two_ingest_processes_share_the_partitions(runtime: Runtime) -> None:
    s = runtime.settings
    with runtime.publisher() as pub:
        pub.publish_many(shipment(i, lot=f"L{i % 13}") for i in range(3000))
    env = lotline_env(s)
    procs = [subprocess.Popen([sys.executable, "-m", "lotline", "ingest", "--until-idle"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    logs = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert runtime.store.count() == 3000
    assigned = [line for log in logs for line in log.splitlines() if "partitions assigned" in line]
    assert assigned, logs
    # both members reported storing part of the stream
    consumed = [int(log.rsplit("consumed ", 1)[1].split(",")[0]) for log in logs]
    assert sum(consumed) >= 3000 and all(c > 0 for c in consumed), consumed
    offsets = runtime.store.stored_offsets(s.consumer_group, s.events_topic)
    assert sum(offsets.values()) == 3000 and len(offsets) == s.events_partitions


def test_sigterm_finishes_the_batch_in_hand_and_exits_cleanly(runtime: Runtime) -> None:
    s = runtime.settings
    with runtime.publisher() as pub:
        pub.publish_many(shipment(i) for i in range(2000))
    proc = subprocess.Popen([sys.executable, "-m", "lotline", "ingest"], env=lotline_env(s),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while runtime.store.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "finishing the batch in hand" in err and "ingest stopped" in err
    stored = runtime.store.count()
    offsets = runtime.store.stored_offsets(s.consumer_group, s.events_topic)
    assert sum(offsets.values()) == stored  # what was committed is exactly what was stored
