"""Commands that a test runs: every ``console`` block of ``docs/*.md``, run against a real stack.

The convention for the pages in ``docs/``:

* A fenced block tagged ``console`` holds commands an operator types, one a line, as ``$ lotline ...``. The
  lines after a command, up to the next ``$`` line, are its expected output: shown to the reader, not checked.
  Only ``lotline`` commands go in such blocks.
* A command must exit 0, unless its line ends with the comment ``# exit N``: then it must exit ``N``.
* ``$LOT`` stands for a supplier's lot (received, then used by production whose products were shipped) and
  ``$PRODUCT`` for a finished lot (made from such lots, packed on pallets and shipped), both ``GTIN14/LOT``
  lots of the simulated bakery below; the test substitutes them. Any other ``$NAME`` is an error.
* Relative file names are in a scratch directory, one per page.
* Examples that no test runs (other tools, settings of a real deployment) go in ``bash`` blocks.

Each page gets a stack of its own, prepared once (the ``settings`` fixture: the session's broker, a fresh
database and topic; recall alerts on a topic of their own): ``db upgrade``, ``simulate --events 500 --seed 3``,
``ingest --until-idle`` and ``project --until-idle``. Its commands then run in document order, so a command
sees what the ones before it did (a recall ingested, a file exported).
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from lotline.settings import Settings
from producers.simulate import config_for_events, simulate
from tests.cli import lotline_env, run_lotline

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EVENTS, SEED = 500, 3
PREPARE = (["db", "upgrade"], ["simulate", "--events", str(EVENTS), "--seed", str(SEED)],
           ["ingest", "--until-idle"], ["project", "--until-idle"])
CAPABILITY_PAGES = ("store.md", "ingest.md", "lineage.md", "recalls.md", "formats.md")

FENCE = re.compile(r"^```(\S*)\s*$")
EXIT_COMMENT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Command:
    """One ``$ lotline ...`` line of a page."""

    page: str
    line: int
    text: str
    args: tuple[str, ...]
    exit_code: int = 0


def commands(path: Path) -> list[Command]:
    """The ``lotline`` commands of the ``console`` blocks of one page, in document order."""
    found: list[Command] = []
    in_console = in_block = False
    seen_command = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = FENCE.match(line)
        if fence is not None:
            if in_block:
                in_block = in_console = False
            else:
                in_block, in_console, seen_command = True, fence.group(1) == "console", False
            continue
        if not in_console:
            continue
        if not line.startswith("$ "):
            assert seen_command or not line.strip(), (
                f"{path.name}:{number}: a console block starts with a `$ lotline ...` line, not {line!r}")
            continue
        seen_command = True
        text = line[2:].strip()
        code = 0
        comment = EXIT_COMMENT.search(text)
        if comment is not None:
            code, text = int(comment.group(1)), text[:comment.start()]
        args = shlex.split(text, comments=True)
        assert args and args[0] == "lotline", f"{path.name}:{number}: only lotline commands go in console blocks"
        found.append(Command(path.name, number, text, tuple(args[1:]), code))
    assert not in_block, f"{path.name}: a fenced block is not closed"
    return found


def pages() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if commands(p))


@functools.cache
def placeholders() -> dict[str, str]:
    """``$LOT`` and ``$PRODUCT`` in the simulated bakery (the same events ``simulate`` publishes for the page)."""
    events = list(simulate(config_for_events(EVENTS, seed=SEED), limit=EVENTS))
    received = {str(k) for e in events if e.biz_step == "receiving" for k in e.lot_keys()}
    first_run = next(e for e in events if e.type.value == "TransformationEvent")
    supplier_lot = min(str(k) for k in first_run.lot_keys() if str(k) in received)
    first_packed = next(e for e in events if e.biz_step == "packing" and e.lot_keys())
    product = min(str(k) for k in first_packed.lot_keys())
    return {"LOT": supplier_lot, "PRODUCT": product}


def substitute(command: Command, values: dict[str, str]) -> list[str]:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"{command.page}:{command.line}: unknown placeholder ${name}"
        return values[name]

    return [PLACEHOLDER.sub(one, arg) for arg in command.args]


def _tail(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def test_every_capability_page_has_commands_a_test_runs() -> None:
    missing = [name for name in CAPABILITY_PAGES if not (DOCS / name).exists() or not commands(DOCS / name)]
    assert not missing, f"pages without a console block: {missing}"


def test_the_placeholders_name_lots_of_the_simulation() -> None:
    values = placeholders()
    assert values["LOT"] != values["PRODUCT"]
    assert all(re.fullmatch(r"\d{14}/\S+", v) for v in values.values()), values


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_the_commands_of_a_page_run(page: Path, settings: Settings, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = lotline_env(settings, LOTLINE_RECALL_ALERTS_TOPIC=f"{settings.events_topic}.alerts",
                      PYTHONPATH=python_path)
    monkeypatch.chdir(tmp_path)  # relative file names of the page land in its scratch directory
    for args in PREPARE:
        done = run_lotline(args, env)
        assert done.returncode == 0, f"preparing the stack: lotline {' '.join(args)}\n{_tail(done.stderr)}"
    values = placeholders()
    for command in commands(page):
        args = substitute(command, values)
        done = run_lotline(args, env)
        assert done.returncode == command.exit_code, (
            f"{command.page}:{command.line}: $ {command.text}\n(run as: lotline {shlex.join(args)})\n"
            f"exit {done.returncode}, expected {command.exit_code}\n"
            f"stdout:\n{_tail(done.stdout)}\nstderr:\n{_tail(done.stderr)}")
