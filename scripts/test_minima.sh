#!/usr/bin/env bash
# Test the dependency floors that pyproject.toml claims: build a venv holding the LOWEST allowed
# version of every direct dependency (each "name>=X" pinned to "name==X"; their own dependencies
# resolve normally), then run the engine, I/O and CLI tests in it (no napari / Qt there: the GUI
# floors are not exercised by this script).
#
#   scripts/test_minima.sh [pytest args...]
#
# Environment: PYTHON (interpreter for the venv, default python3), MINIMA_VENV (venv folder,
# default .venv-minima; reused when it exists), EXTRA_PINS (more "name==version" pins, e.g. to
# try a lower torch than pyproject.toml allows before lowering its floor).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MINIMA_VENV:-$ROOT/.venv-minima}
PY=${PYTHON:-python3}

pins=$("$PY" - "$ROOT/pyproject.toml" <<'PYEOF'
import re, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
deps = list(project["dependencies"]) + list(project["optional-dependencies"]["samples"])
for dep in deps:
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:>=\s*([^,;\s]+))?.*", dep)
    name, low = m.group(1), m.group(2)
    print(f"{name}=={low}" if low else name)
PYEOF
)
echo "lowest allowed versions: $(echo $pins | tr '\n' ' ')"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC2086
# test-only: nibabel 5.0's test-data helper (used by the I/O fixtures) imports pkg_resources
"$VENV/bin/python" -m pip install --quiet --only-binary=:all: $pins ${EXTRA_PINS:-} pytest \
    "setuptools<81"
"$VENV/bin/python" -m pip list --format=freeze > "$VENV/minima-freeze.txt"
cd "$ROOT"
tests=(tests/test_engine_*.py tests/test_io_nifti.py tests/test_io_dicom.py tests/test_io_nrrd.py
       tests/test_cli.py tests/test_run_folder.py tests/test_metrics_unit.py)
PYTHONPATH="$ROOT/src" "$VENV/bin/python" -m pytest "${tests[@]}" -p no:cacheprovider -q \
    -m "not gui" "$@"
