"""The quickstart path: ``lotline demo`` with no services configured runs on the embedded stack and
leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil

from lotline.embedded import free_port


def _leftovers(port: int) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if f"127.0.0.1:{port}" in cmd or "lotline-pg-" in cmd:
            found.append(cmd)
    return found


def test_demo_on_the_embedded_default_leaves_nothing_running() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTLINE_")}
    env.update({"LOTLINE_EMBEDDED_KAFKA_PORT": str(port), "LOTLINE_LOG_FORMAT": "json", "COLUMNS": "160"})
    done = subprocess.run([sys.executable, "-m", "lotline", "demo", "--events", "600"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "embedded stack for this command" in done.stderr
    assert "600 events published and stored" in done.stdout
    assert "hash chain: intact over 600 rows" in done.stdout
    assert "Three questions about cookie lot" in done.stdout
    assert "1. Which batch did it come from?" in done.stdout
    assert "suppliers" in done.stdout and "customers received product" in done.stdout
    assert _leftovers(port) == []
