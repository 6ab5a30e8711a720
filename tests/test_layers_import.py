"""The package's layers: no module imports a higher layer, and the headless ones no Qt or napari.

Layers, low to high: engine < io < cli, and engine < io < napari_glue < widgets. The engine runs
headless and under torchrun, io is the readers and writers the CLI uses too, cli is the command
line; napari_glue is what napari calls (npe2 hooks, reader preferences, session state) and the
widgets build on it. Every ``.py`` file is parsed (no import runs), so a lazy import inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "napari_medgan"

# What each layer may import of the package ("root": napari_medgan/__init__.py).
ALLOWED = {
    "root": {"root"},
    "engine": {"root", "engine"},
    "io": {"root", "engine", "io"},
    "cli": {"root", "engine", "io", "cli"},
    "napari_glue": {"root", "engine", "io", "napari_glue"},
    "widgets": {"root", "engine", "io", "napari_glue", "widgets"},
}
# Top-level modules: the sample data is an npe2 contribution over io, like the napari glue.
MODULE_LAYER = {"__init__": "root", "_sample_data": "napari_glue"}
GUI = {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "superqt", "vispy"}
HEADLESS = {"engine", "io", "cli"}  # layers that must import no GUI package


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside napari_medgan (KeyError: not in the table)."""
    parts = module.split(".")
    assert parts[0] == "napari_medgan", module
    if len(parts) == 1:
        return "root"
    head = parts[1]
    if head in ALLOWED:
        return head
    return MODULE_LAYER[head]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, source: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``source`` (relative ones resolved)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                out.append((node.lineno, node.module))
                continue
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                out.append((node.lineno, ".".join([*base, node.module])))
            else:
                out += [(node.lineno, ".".join([*base, a.name])) for a in node.names]
    return out


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Every import in ``source`` (of ``module``) that its layer may not make."""
    own = layer_of(module)
    bad = []
    for line, target in imported(module, source, is_package):
        top = target.split(".")[0]
        if top == "napari_medgan":
            if target == "napari_medgan":
                continue
            try:
                other = layer_of(target)
            except KeyError:
                bad.append(f"{module}:{line} imports {target}: not in the layer table")
                continue
            if other not in ALLOWED[own]:
                bad.append(f"{module}:{line} imports {target} ({own} may not import {other})")
        elif own in HEADLESS and top in GUI:
            bad.append(f"{module}:{line} imports {target} ({own} must run without Qt or napari)")
    return bad


def package_files() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50, f"found only {len(files)} modules under {PACKAGE}"
    return files


def test_every_module_imports_only_its_own_or_lower_layers():
    bad = []
    for path in package_files():
        source = path.read_text(encoding="utf-8")
        bad += violations(module_name(path), source, path.name == "__init__.py")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("napari_medgan.io.nifti", "from napari_medgan.widgets.train import widget"),
        ("napari_medgan.io.nifti", "from ..napari_glue import hooks"),
        ("napari_medgan.engine.data", "def f():\n    from ..io import read_image"),
        ("napari_medgan.engine.metrics.report", "from ...cli import main"),
        ("napari_medgan.cli.train", "import napari_medgan.widgets"),
        ("napari_medgan.cli.train", "from napari.utils import progress"),
        ("napari_medgan.io.types", "import qtpy.QtWidgets"),
        ("napari_medgan.napari_glue.hooks", "from ..widgets.common import jobs"),
        ("napari_medgan.napari_glue.hooks", "from ..cli import main"),
        ("napari_medgan.widgets.train.widget", "from ...cli.common import load"),
        ("napari_medgan.widgets.train.widget", "from napari_medgan.nowhere import x"),
    ],
)
def test_the_check_catches_an_upward_import(module, source):
    assert violations(module, source), source


def test_the_check_allows_downward_and_sibling_imports():
    assert not violations("napari_medgan.widgets.train.widget", "from ..common import jobs")
    widget = "napari_medgan.widgets.train.widget"
    assert not violations(widget, "from ...napari_glue import session")
    assert not violations("napari_medgan.napari_glue.hooks", "from napari_medgan.io import nifti")
    assert not violations("napari_medgan.cli.train", "from ..engine import Trainer\nimport torch")
    assert not violations("napari_medgan.widgets", "from . import common", is_package=True)


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


def test_io_imports_without_qt_or_napari():
    modules = sorted(p.stem for p in (PACKAGE / "io").glob("*.py") if p.stem != "__init__")
    code = GUARD.replace(
        "import napari_medgan.engine,",
        "".join(f"import napari_medgan.io.{m};" for m in modules) + "import napari_medgan.engine,",
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
