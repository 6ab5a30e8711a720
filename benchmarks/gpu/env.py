"""What the machine has, checked before anything is measured, and said plainly when missing.

A GPU lease is short, so a missing package, a CPU-only torch or absent sample data must stop the
check in its first seconds with a line that says what to install, not minutes later with a
traceback. Nothing of the project is imported at module level: whether it imports is a check.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .profile import Profile

#: The repository root (``benchmarks/gpu/env.py`` → three levels up).
ROOT = Path(__file__).resolve().parents[2]
#: pyproject's torch floor: the oldest release the test suite has run on (CPU).
TORCH_FLOOR = (2, 13)
#: How to put the project on a machine whose own CUDA torch must stay (docs/gpu.md).
INSTALL_HINT = (
    "install the project without replacing the machine's torch: PYTHONPATH=src (from the "
    "checkout), or pip install --no-deps -e . (needs setuptools>=77), then pip install --no-deps "
    "nibabel nilearn pydicom pynrrd (offline: wheels carried with the checkout; docs/gpu.md)"
)
#: The checks whose failure :data:`INSTALL_HINT` answers.
INSTALL_CHECKS = ("torch", "napari_medgan", "packages", "MNI152 sample")
#: Module → distribution, for what the check imports beyond torch: the engine (numpy,
#: safetensors, tqdm), its metrics (scipy), ``napari_medgan.io`` (Pillow, nibabel, pydicom,
#: pynrrd) and the MNI152 sample (nilearn and its own needs).
NEEDED = {
    "numpy": "numpy",
    "safetensors": "safetensors",
    "tqdm": "tqdm",
    "scipy": "scipy",
    "PIL": "Pillow",
    "nibabel": "nibabel",
    "pydicom": "pydicom",
    "nrrd": "pynrrd",
    "nilearn": "nilearn",
    "sklearn": "scikit-learn",
    "pandas": "pandas",
    "joblib": "joblib",
}
#: Free device memory below which the 256 px runs may not fit (a note, not a stop).
LOW_MEMORY_BYTES = 8 * 2**30


@dataclass
class Check:
    """One line of the environment report; ``fatal`` failures stop the check before measuring."""

    name: str
    ok: bool
    detail: str
    fatal: bool = True

    def line(self) -> str:
        """``  ok       torch: 2.11.0+cu130 ...`` (``MISSING`` or ``note`` when not ok)."""
        status = "ok" if self.ok else ("MISSING" if self.fatal else "note")
        return f"  {status:<8} {self.name}: {self.detail}"


@dataclass
class Environment:
    """The checks, what they found (``info``, for the JSON) and the MNI152 volumes they loaded."""

    checks: list[Check] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    volumes: list | None = None
    precision: str | None = None

    @property
    def problems(self) -> list[Check]:
        """The failed checks that stop the run."""
        return [c for c in self.checks if not c.ok and c.fatal]

    def add(self, name: str, ok: bool, detail: str, fatal: bool = True) -> bool:
        self.checks.append(Check(name, ok, detail, fatal))
        return ok

    def report(self) -> str:
        """Every check on its own line, then what to do when something is missing."""
        lines = ["environment:", *(c.line() for c in self.checks)]
        if self.problems:
            lines.append(f"cannot measure: {len(self.problems)} problem(s) above")
        if any(c.name in INSTALL_CHECKS for c in self.problems):
            lines.append(INSTALL_HINT)
        return "\n".join(lines)


def check_environment(profile: Profile, out: Path) -> Environment:
    """Check Python, torch, the device, the project, its packages, the MNI152 data and ``out``.

    Parameters
    ----------
    profile : Profile
        Names the device (a GPU run needs CUDA; the dry run the CPU).
    out : Path
        The results folder; created when missing.

    Returns
    -------
    Environment
        ``problems`` is empty when the check can run; ``volumes`` then holds the MNI152 T1, GM
        and WM templates as engine volumes, and ``precision`` the arithmetic to train in.
    """
    env = Environment()
    env.info.update(_host())
    env.add("python", True, f"{platform.python_version()} at {sys.executable}")
    if _torch(env) and _package(env):
        _device(env, profile)
        if _modules(env):
            _mni152(env)
    _out_folder(env, out)
    return env


def _host() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"2.11.0+cu130"`` → ``(2, 11)``."""
    parts = version.split("+")[0].split(".")[:2]
    return tuple(int(p) for p in parts if p.isdigit())


def _torch(env: Environment) -> bool:
    try:
        import torch
    except ImportError as exc:
        return env.add("torch", False, f"cannot import torch ({exc}); install the machine's build")
    version = torch.__version__
    env.info.update(torch=version, torch_cuda=torch.version.cuda)
    env.add("torch", True, f"{version} (CUDA {torch.version.cuda or 'none'})")
    if _version_tuple(version) < TORCH_FLOOR:
        floor = ".".join(map(str, TORCH_FLOOR))
        env.add(
            "torch floor", False,
            f"{version} is older than pyproject's tested floor {floor}; this run is what tests "
            "it (keep the machine's torch: do not let pip replace it)", fatal=False,
        )  # fmt: skip
    return True


def _package(env: Environment) -> bool:
    """Import the engine; from the checkout's ``src/`` when the project is not installed."""
    try:
        importlib.import_module("napari_medgan.engine.runner")
        how = "installed"
    except ModuleNotFoundError as exc:
        if exc.name != "napari_medgan" or not (ROOT / "src" / "napari_medgan").is_dir():
            return env.add("napari_medgan", False, f"cannot import the engine: {exc}")
        sys.path.insert(0, str(ROOT / "src"))  # spawned children inherit sys.path
        return _package_from_src(env)
    except ImportError as exc:
        return env.add("napari_medgan", False, f"cannot import the engine: {exc}")
    import napari_medgan

    env.info["napari_medgan"] = str(Path(napari_medgan.__file__).parent)
    return env.add("napari_medgan", True, f"{how}, {env.info['napari_medgan']}")


def _package_from_src(env: Environment) -> bool:
    try:
        importlib.import_module("napari_medgan.engine.runner")
    except ImportError as exc:
        return env.add("napari_medgan", False, f"cannot import the engine from src/: {exc}")
    env.info["napari_medgan"] = str(ROOT / "src" / "napari_medgan")
    return env.add("napari_medgan", True, "not installed: using the checkout's src/")


def _device(env: Environment, profile: Profile) -> bool:
    import torch

    from napari_medgan.engine.devices import precision_for

    device = torch.device(profile.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        return env.add(
            "device", False,
            f"no CUDA device visible to torch {torch.__version__} (CUDA build: "
            f"{torch.version.cuda or 'none, a CPU-only build'}); --dry-run rehearses on the CPU",
        )  # fmt: skip
    env.precision = precision_for(device)
    env.info["precision"] = env.precision
    if device.type != "cuda":
        env.info["device_name"] = f"CPU ({platform.processor() or platform.machine()})"
        return env.add("device", True, f"cpu (dry run), precision {env.precision}")
    index = device.index or 0
    props = torch.cuda.get_device_properties(index)
    free, total = torch.cuda.mem_get_info(index)
    env.info.update(
        device_name=props.name,
        capability=f"{props.major}.{props.minor}",
        memory_total_bytes=total,
        memory_free_bytes=free,
        cudnn=torch.backends.cudnn.version(),
    )
    env.add(
        "device", True,
        f"{props.name} (sm_{props.major}{props.minor}), {free / 2**30:.1f} of "
        f"{total / 2**30:.1f} GiB free, precision {env.precision}"
        + ("" if env.precision == "bf16" else " (no native bf16: fp16 with a gradient scaler)"),
    )  # fmt: skip
    if props.major >= 8 and env.precision != "bf16":
        env.add(
            "precision", False,
            f"sm_{props.major}{props.minor} computes bf16, but the engine chose {env.precision} "
            "(torch.cuda.is_bf16_supported(including_emulation=False) failed?)", fatal=False,
        )  # fmt: skip
    if free < LOW_MEMORY_BYTES:
        env.add("device memory", False, "under 8 GiB free: 256 px may not fit", fatal=False)
    return True


def _modules(env: Environment) -> bool:
    missing = [dist for mod, dist in NEEDED.items() if not _importable(mod)]
    if missing:
        return env.add(
            "packages", False, f"missing {', '.join(missing)}: pip install --no-deps "
            + " ".join(missing),
        )  # fmt: skip
    return env.add("packages", True, ", ".join(NEEDED.values()))


def _importable(module: str) -> bool:
    """Whether ``module`` can be found (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked (sys.modules[module] is None)
        return False


def _mni152(env: Environment) -> bool:
    """Load the demo's volumes (nilearn's offline MNI152 templates) once, for every section."""
    try:
        from napari_medgan.cli.demo import load_demo_volumes

        env.volumes = load_demo_volumes()
    except Exception as exc:  # an import inside nilearn, a broken install, absent data files
        return env.add("MNI152 sample", False, f"cannot load nilearn's templates: {exc!r}")
    shapes = ", ".join(f"{v.condition} {tuple(v.data.shape)}" for v in env.volumes)
    return env.add("MNI152 sample", True, shapes)


def _out_folder(env: Environment, out: Path) -> bool:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return env.add("results folder", False, f"cannot write to {out}: {exc}")
    return env.add("results folder", True, str(out))
