"""Which compiled fast path this installation runs: what ``lotline --version`` reports and ``deploy/install.sh``
checks (``python -m lotline.buildinfo --check`` exits 1 naming each compiled module that is missing or stale).

Two kinds of compiled code, each the one definition of what it does, never a copy of Python kept equal by tests:

* :data:`COMPILED_MODULES`: Python modules that every installation compiles with mypyc (``setup.py`` reads this
  list). The source is the definition; compiled, the same rules run 1.5-3x faster (docs/performance.md).
* :data:`C_MODULES`: the Avro decoder, written in C (``schemas/avro/_avro_native.c``), Lotline's only decoder.

Every install builds both (an install that cannot fails), so a module that is not compiled means a broken
installation, not a slower one, and this is where that is said. In a checkout installed in editable mode (the
source tree, with ``setup.py``, holds the compiled modules) one whose source changed since the build is stale:
Python would keep running the old compiled code, so it counts as missing. (An installed wheel's sources are
copies, whatever their times.)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import os
import sys
from importlib.metadata import PackageNotFoundError, version

COMPILED_MODULES: dict[str, str] = {
    "EPCIS identifiers": "schemas.epcis.identifiers",
    "the lots an event names": "schemas.epcis.lots",
    "exact JSON text": "schemas.epcis.jsontext",
    "timestamps": "schemas.epcis.timefmt",
    "event identity": "schemas.formats.identity",
    "wire record check and body": "schemas.formats.wire",
    "COPY text": "store.pgcopy",
    "store rows": "store.records",
    "hash chain and COPY rows": "store.rows",
    "lineage extraction (projector and rebuilds)": "projections.lineage.extract",
}
"""The Python modules mypyc compiles (what each does, and its import name): ingest's and rebuilds' per-event work."""

C_MODULES: dict[str, str] = {
    "Avro decoder": "schemas.avro._avro_native",
}
"""The modules written in C (what each does, and its import name)."""


def lotline_version() -> str:
    try:
        return version("lotline")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _compiled(module: str) -> str | None:
    """Why ``module`` does not run compiled code, or None when it does."""
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        return f"cannot be imported ({exc})"
    path = getattr(loaded, "__file__", None) or ""
    if not path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        return "runs interpreted"
    source = os.path.join(os.path.dirname(path), module.rsplit(".", 1)[-1] + ".py")
    checkout = os.path.join(os.path.dirname(path), *[os.pardir] * module.count("."), "setup.py")
    if module in COMPILED_MODULES.values() and os.path.exists(checkout) and os.path.exists(source) and \
            os.path.getmtime(source) > os.path.getmtime(path):
        return "is stale (its source changed after the build)"
    return None


def missing_native() -> list[str]:
    """The compiled modules (by what they do) that this installation does not run compiled, and why."""
    missing = []
    for what, module in {**COMPILED_MODULES, **C_MODULES}.items():
        if (why := _compiled(module)) is not None:
            missing.append(f"{what} ({module}) {why}")
    return missing


def version_line(missing: list[str] | None = None) -> str:
    """``lotline X.Y.Z, fast path: ...``, naming the active path (``missing``: :func:`missing_native`, if known)."""
    missing = missing_native() if missing is None else missing
    if not missing:
        path = (f"compiled (mypyc: {len(COMPILED_MODULES)} modules, " + ", ".join(COMPILED_MODULES)
                + "; C: " + ", ".join(C_MODULES) + ")")
    else:
        path = "INCOMPLETE: " + "; ".join(missing) + " — reinstall with deploy/install.sh (or ./dev)"
    return f"lotline {lotline_version()}, Python {sys.version.split()[0]}, fast path: {path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lotline.buildinfo", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 unless every module runs compiled")
    parser.add_argument("--sources", action="store_true",
                        help="print the source path of each mypyc-compiled module, one a line (for ./dev)")
    args = parser.parse_args(argv)
    if args.sources:
        print("\n".join(m.replace(".", "/") + ".py" for m in COMPILED_MODULES.values()))
        return 0
    missing = missing_native()
    print(version_line(missing))
    if args.check and missing:
        print("error: the compiled fast path is not built: " + "; ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
