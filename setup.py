"""Builds Lotline's compiled fast path: mypyc compiles the Python modules that ``lotline/buildinfo.py`` lists
(``COMPILED_MODULES``), which stay the one definition of their rules; pyproject.toml builds the C Avro decoder.

mypyc type-checks what it compiles. The build environment holds only setuptools and mypy, so third-party imports
are left untyped here (``--ignore-missing-imports``) and pyproject's mypy settings (strict, with the pydantic
plugin) serve the type check of ``./dev test``, not this build.
"""

import runpy
from pathlib import Path

from mypyc.build import mypycify
from setuptools import setup

HERE = Path(__file__).parent
MODULES = runpy.run_path(str(HERE / "lotline" / "buildinfo.py"))["COMPILED_MODULES"].values()
SOURCES = [module.replace(".", "/") + ".py" for module in MODULES]

setup(ext_modules=mypycify(["--config-file=", "--ignore-missing-imports", "--follow-imports=silent", *SOURCES],
                           opt_level="3", group_name="lotline_compiled"))
