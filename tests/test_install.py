"""``deploy/install.sh``, the one way the production image installs Lotline, run here into a fresh venv (no
container runtime is available): it builds the compiled fast path or fails, and the installed package works
from outside the source tree (package data, migrations, the console script)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lotline.buildinfo import NATIVE_MODULES, missing_native
from store import schema as store_schema

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "deploy" / "install.sh"


def test_this_installation_runs_the_compiled_fast_path() -> None:
    """Every compiled module is importable here: a missing one is a failed build, never a skipped test."""
    assert not missing_native(), "reinstall: ./dev test rebuilds the C modules"


def test_a_missing_module_is_named() -> None:
    from lotline import buildinfo

    saved = dict(buildinfo.NATIVE_MODULES)
    try:
        buildinfo.NATIVE_MODULES["a module never built"] = "schemas._never_built"
        assert buildinfo.missing_native() == ["a module never built (schemas._never_built)"]
        assert "INCOMPLETE, missing a module never built" in buildinfo.version_line()
        assert buildinfo.main(["--check"]) == 1
    finally:
        buildinfo.NATIVE_MODULES.clear()
        buildinfo.NATIVE_MODULES.update(saved)


@pytest.mark.slow
def test_install_script_builds_the_fast_path_into_a_fresh_venv(tmp_path: Path, database_url: str) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    done = subprocess.run(["sh", str(INSTALL), str(ROOT), str(py)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fast path: compiled (C: " + ", ".join(NATIVE_MODULES) in done.stdout

    # the installed copy, not the source tree: run from elsewhere, with the package data it needs
    version = subprocess.run([str(venv / "bin" / "lotline"), "--version"], capture_output=True, text=True,
                             cwd=tmp_path, timeout=60)
    assert version.returncode == 0 and "fast path: compiled" in version.stdout, version.stderr
    where = subprocess.run([str(py), "-c", "import store, schemas.avro.codec as c; print(store.__file__); "
                            "print(c.EVENT_SCHEMA.fingerprint.hex())"], capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0 and str(venv) in where.stdout, where.stderr
    upgrade = subprocess.run([str(venv / "bin" / "lotline"), "db", "upgrade"], capture_output=True, text=True,
                             cwd=tmp_path, timeout=120, env={"LOTLINE_DATABASE_URL": database_url,
                                                             "LOTLINE_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    assert store_schema.MIGRATIONS.name == "migrations"


def test_install_script_refuses_without_a_source() -> None:
    done = subprocess.run(["sh", str(INSTALL)], capture_output=True, text=True)
    assert done.returncode == 2 and "usage: deploy/install.sh SOURCE" in done.stderr
