"""The engine must import with neither Qt nor napari (it runs headless and under torchrun)."""

import subprocess
import sys

GUARD = (
    "import napari_medgan.engine, napari_medgan.engine.trainer, napari_medgan.engine.sampling, sys;"
    "bad = [m for m in sys.modules if m.split('.')[0] in "
    "('qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'napari', 'magicgui')];"
    "assert not bad, bad"
)


def test_engine_imports_without_qt_or_napari():
    result = subprocess.run([sys.executable, "-c", GUARD], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cli_parser_imports_without_qt_or_napari():
    code = GUARD.replace(
        "import napari_medgan.engine,",
        "import napari_medgan.cli as c;c.build_parser(); import napari_medgan.engine,",
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
