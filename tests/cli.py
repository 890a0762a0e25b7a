"""Running the real ``lotline`` console command in a subprocess, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from lotline.settings import Settings


def lotline_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment variables that point ``lotline`` at the test's broker, database and topic."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTLINE_")}
    env.update({
        "LOTLINE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "LOTLINE_DATABASE_URL": settings.database_url or "",
        "LOTLINE_EVENTS_TOPIC": settings.events_topic,
        "LOTLINE_CONSUMER_GROUP": settings.consumer_group,
        "LOTLINE_BATCH_SIZE": str(settings.batch_size),
        "LOTLINE_BATCH_TIMEOUT_S": str(settings.batch_timeout_s),
        "LOTLINE_LOG_FORMAT": "json",
    })
    env.update(extra)
    return env


def run_lotline(args: list[str], env: Mapping[str, str], *, input: bytes | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lotline", *args], env=dict(env), input=input.decode()
                          if input is not None else None, capture_output=True, text=True, timeout=timeout)
