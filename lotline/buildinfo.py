"""Which compiled fast path this installation runs: what ``lotline --version`` reports and ``deploy/install.sh``
checks (``python -m lotline.buildinfo --check`` exits 1 naming each compiled module that cannot be imported).

The C modules are built by every install (pyproject.toml makes them mandatory); one that is missing means a
broken installation, not a slower one, and this is where that is said.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

NATIVE_MODULES: dict[str, str] = {
    "Avro decoder": "schemas.avro._avro_native",
    "wire record check and row": "schemas.formats._wire_native",
    "store COPY rows and hash chain": "store._rows_native",
    "lineage extraction (projector and rebuilds)": "projections.lineage._extract_native",
}
"""What each compiled module does, and its import name."""


def lotline_version() -> str:
    try:
        return version("lotline")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def missing_native() -> list[str]:
    """The compiled modules (by what they do) that this installation cannot import."""
    missing = []
    for what, module in NATIVE_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(f"{what} ({module})")
    return missing


def version_line(missing: list[str] | None = None) -> str:
    """``lotline X.Y.Z, fast path: ...``, naming the active path (``missing``: :func:`missing_native`, if known)."""
    missing = missing_native() if missing is None else missing
    if not missing:
        path = "compiled (C: " + ", ".join(NATIVE_MODULES) + ")"
    else:
        path = "INCOMPLETE, missing " + "; ".join(missing) + " — reinstall with deploy/install.sh"
    return f"lotline {lotline_version()}, Python {sys.version.split()[0]}, fast path: {path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lotline.buildinfo", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 unless every compiled module imports")
    args = parser.parse_args(argv)
    missing = missing_native()
    print(version_line(missing))
    if args.check and missing:
        print("error: the compiled fast path is not built: " + "; ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
