#!/usr/bin/env bash
# Test the dependency floors that pyproject.toml claims: build a venv holding the LOWEST allowed
# version of every direct dependency (each "name>=X" pinned to "name==X"; their own dependencies
# resolve normally), then run the engine, I/O and CLI tests in it. With MINIMA_GUI=1 it also
# installs the GUI extra at its floors (napari, PyQt6, superqt) and runs the widget tests.
#
#   scripts/test_minima.sh [pytest args...]
#
# Environment: PYTHON (interpreter for the venv, default python3), MINIMA_VENV (venv folder,
# default .venv-minima; reused when it exists), MINIMA_GUI=1 (GUI floors and widget tests too),
# EXTRA_PINS (more "name==version" pins, e.g. to try a lower torch than pyproject.toml allows
# before lowering its floor).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MINIMA_VENV:-$ROOT/.venv-minima}
PY=${PYTHON:-python3}

floors() {  # the lowest allowed version of each requirement in the given pyproject lists
    "$PY" - "$ROOT/pyproject.toml" "$@" <<'PYEOF'
import re, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
for key in sys.argv[2:]:
    deps = project["dependencies"] if key == "core" else project["optional-dependencies"][key]
    for dep in deps:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:>=\s*([^,;\s]+))?.*", dep)
        name, low = m.group(1), m.group(2)
        print(f"{name}=={low}" if low else name)
PYEOF
}
pins=$(floors core samples)
tests=(tests/engine/test_engine_*.py tests/io/test_io_nifti.py tests/io/test_io_dicom.py
       tests/io/test_io_nrrd.py tests/io/test_io_synthetic.py tests/cli/test_cli.py
       tests/engine/test_run_folder.py tests/engine/metrics/test_metrics_unit.py tests/test_layers_import.py)
marks=(-m "not gui")
if [ "${MINIMA_GUI:-0}" = 1 ]; then
    pins="$pins $(floors gui) pytest-qt pytest-xvfb npe2"
    tests+=(tests/widgets/train/test_widget_train.py tests/widgets/train/test_widget_resume.py
            tests/widgets/generate/test_widget_generate.py tests/napari_glue tests/io/test_io_labels.py
            tests/io/test_io_placement.py tests/napari_glue/test_sample_data.py)
    marks=()
fi
echo "lowest allowed versions: $(echo $pins | tr '\n' ' ')"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
# test-only: nibabel 5.0's test-data helper (used by the I/O fixtures) imports pkg_resources
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet --only-binary=:all: $pins ${EXTRA_PINS:-} pytest \
    "setuptools<81"
# the plugin itself (entry point + napari.yaml, so napari finds it), without touching the pins
"$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
rm -rf "$ROOT"/src/*.egg-info  # build leftovers: other venvs would see a second napari-medgan
"$VENV/bin/python" -m pip list --format=freeze > "$VENV/minima-freeze.txt"
cd "$ROOT"
PYTHONPATH="$ROOT/src" "$VENV/bin/python" -m pytest "${tests[@]}" -p no:cacheprovider -q \
    "${marks[@]}" "$@"
