#!/bin/sh
# Installs Lotline with its compiled fast path, or fails loudly: the one way the production image (deploy/Dockerfile)
# and a test (tests/test_install.py) install it.
#
#   deploy/install.sh SOURCE [PYTHON]
#
# SOURCE is the repository root or a built wheel; PYTHON the interpreter of the target environment (default python3).
# pip builds the compiled fast path (mypyc compiles the modules lotline/buildinfo.py lists, and the C Avro decoder;
# a C compiler is needed where SOURCE is not a wheel, and a failed build fails the install), then
# `lotline.buildinfo --check` imports each of them and exits non-zero naming any that does not run compiled.
set -eu
if [ $# -lt 1 ]; then
    echo "usage: deploy/install.sh SOURCE [PYTHON]" >&2
    exit 2
fi
src=$1
py=${2:-python3}
"$py" -m pip install --disable-pip-version-check "$src"
"$py" -m lotline.buildinfo --check
