"""Nothing skipped without an operator saying so: a topic created again under the same name is detected (its
id, and offsets beyond its partitions' ends), and ``--until-idle`` succeeds only when every partition of the topic
is stored, failing by name on partitions another member of the group holds without storing them."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from confluent_kafka.admin import AdminClient

from consumers.ingest import IngestError
from lotline.wiring import Runtime
from tests.factories import shipment


def _recreate_events_topic(rt: Runtime) -> None:
    admin = AdminClient(rt.kafka_config())
    for fut in admin.delete_topics([rt.settings.events_topic], operation_timeout=10).values():
        fut.result()
    deadline = time.monotonic() + 20
    while True:  # the broker may take a moment to forget the old topic
        try:
            rt.ensure_topics()
            break
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_topic_created_again_is_refused_until_the_offsets_are_reset(runtime: Runtime) -> None:
    s = runtime.settings
    with runtime.publisher() as pub:
        pub.publish_many([shipment(i) for i in range(60)])
    runtime.ingest_worker(until_idle=True, idle_timeout_s=3).run()
    assert runtime.store.count() == 60
    before = runtime.store.stored_offsets(s.consumer_group, s.events_topic)

    _recreate_events_topic(runtime)
    with runtime.publisher() as pub:  # fewer events than before: old offsets would skip every one of them
        pub.publish_many([shipment(i) for i in range(100, 120)])
    with pytest.raises(IngestError, match=r"was deleted and created again .* Nothing was skipped\. "
                                          r"`lotline ingest --reset-offsets`"):
        runtime.ingest_worker(until_idle=True, idle_timeout_s=3).run()
    assert runtime.store.count() == 60
    assert runtime.store.stored_offsets(s.consumer_group, s.events_topic) == before

    assert runtime.store.reset_offsets(s.consumer_group, s.events_topic) == len(before)
    runtime.ingest_worker(until_idle=True, idle_timeout_s=3).run()
    assert runtime.store.count() == 80
    assert runtime.store.verify().ok


_STALLED = """
import sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "session.timeout.ms": 6000,
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe([sys.argv[3]])
while True:  # takes its share of the partitions and stores nothing, until it is killed
    c.poll(0.2)
    if c.assignment():
        print("assigned", flush=True)
"""


def test_until_idle_fails_naming_the_partitions_a_killed_member_still_holds(runtime: Runtime) -> None:
    """A member killed with kill -9 keeps its partitions until its session expires: ``--until-idle`` must not
    report success with them unread. It waits ``topic_wait_s``, then fails naming them; run again once the
    session has expired, it stores everything."""
    s = runtime.settings
    with runtime.publisher() as pub:
        pub.publish_many([shipment(i) for i in range(120)])
    stalled = subprocess.Popen([sys.executable, "-c", _STALLED, s.kafka_bootstrap or "", s.consumer_group,
                                s.events_topic], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert stalled.stdout is not None and stalled.stdout.readline().strip() == "assigned"
        with pytest.raises(IngestError, match=r"partitions [\d, ]+ hold \d+ messages not yet stored .* another "
                                              r"member of group"):
            runtime.ingest_worker(until_idle=True, idle_timeout_s=3, topic_wait_s=3).run()
        assert runtime.store.count() < 120
    finally:
        stalled.kill()
        stalled.wait(10)
    runtime.ingest_worker(until_idle=True, idle_timeout_s=3, topic_wait_s=45).run()
    assert runtime.store.count() == 120
