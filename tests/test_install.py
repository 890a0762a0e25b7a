"""``deploy/install.sh``, the one way the production image installs Lotline, run here into a fresh venv (no
container runtime is available): it builds the compiled fast path or fails, and the installed package works
from outside the source tree (package data, migrations, the console script)."""

from __future__ import annotations

import importlib.machinery
import subprocess
import sys
import types
from pathlib import Path

import pytest

from lotline.buildinfo import C_MODULES, COMPILED_MODULES, missing_native
from store import schema as store_schema

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "deploy" / "install.sh"


def test_this_installation_runs_the_compiled_fast_path() -> None:
    """Every compiled module is importable here: a missing one is a failed build, never a skipped test."""
    assert not missing_native(), "reinstall: ./dev test rebuilds the compiled modules"


def test_a_module_not_compiled_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from lotline import buildinfo

    monkeypatch.setitem(buildinfo.C_MODULES, "a module never built", "schemas._never_built")
    monkeypatch.setitem(buildinfo.COMPILED_MODULES, "settings", "lotline.settings")
    missing = buildinfo.missing_native()
    assert missing[0] == "settings (lotline.settings) runs interpreted"
    assert missing[1].startswith("a module never built (schemas._never_built) cannot be imported")
    assert "INCOMPLETE: settings (lotline.settings) runs interpreted;" in buildinfo.version_line()
    assert buildinfo.main(["--check"]) == 1


def test_a_compiled_module_older_than_its_source_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In an editable checkout Python keeps importing the compiled module after its source changed: that is
    a build to redo, and said so. An installed wheel (no setup.py above its packages) is never stale."""
    import os

    from lotline import buildinfo

    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    so = tmp_path / "pkg" / f"mod{suffix}"
    so.write_bytes(b"")
    os.utime(so, (1, 1))
    monkeypatch.setattr(buildinfo.importlib, "import_module", lambda name: types.SimpleNamespace(__file__=str(so)))
    monkeypatch.setitem(buildinfo.COMPILED_MODULES, "stale", "pkg.mod")
    assert not [m for m in buildinfo.missing_native() if m.startswith("stale ")], "a wheel is never stale"
    (tmp_path / "setup.py").write_text("")
    assert "stale (pkg.mod) is stale (its source changed after the build)" in buildinfo.missing_native()


@pytest.mark.slow
def test_install_script_builds_the_fast_path_into_a_fresh_venv(tmp_path: Path, database_url: str) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    done = subprocess.run(["sh", str(INSTALL), str(ROOT), str(py)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"fast path: compiled (mypyc: {len(COMPILED_MODULES)} modules" in done.stdout, done.stdout
    assert "; C: " + ", ".join(C_MODULES) in done.stdout

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
