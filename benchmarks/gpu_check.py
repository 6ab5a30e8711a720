"""Measure every GPU claim of napari-medgan on one NVIDIA GPU in about 6 minutes (8 at most).

    python benchmarks/gpu_check.py                 # on the GPU machine (docs/gpu.md)
    python benchmarks/gpu_check.py --dry-run       # the same code on the CPU, tiny, < 1 minute

Rows (one table, ``benchmarks/gpu_results/gpu_check.md`` and ``.json``): images per second and
peak memory of the ``gpu`` preset at 128 and 256 px and of the quality benchmark's textbook loop
at 128 px, in one run and one precision (bf16 where the GPU has it, else fp16 with a gradient
scaler), and their ratio (target ≥ 3×); host synchronisations per training step outside the
reports; the held-out SWD ratio after 2 and 4 minutes at 128 px on the MNI152 sample; device
memory not returned after a child-process run started as the Train widget starts it, one that
ends and one that is stopped (target ≤ 100 MB).

The environment is checked first (torch and CUDA, the project, its packages, nilearn's MNI152
templates, the results folder) and anything missing is named before a minute of device time is
spent. The machine's own CUDA torch is kept: put the project on the path with
``PYTHONPATH=src`` (the script also falls back to the checkout's ``src/`` by itself) or
``pip install --no-deps -e .``; beyond torch it needs numpy, safetensors, tqdm, scipy, Pillow,
nibabel, pydicom, pynrrd and nilearn (docs/gpu.md lists how to carry them to an offline machine).

The code is the package ``benchmarks/gpu/``. Exit status: 0 when every section ran, 1 when one
failed (its rows say why; the others are still written), 2 when the environment is incomplete.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from gpu.env import ROOT, Environment, check_environment
from gpu.profile import DRY_RUN, GPU, Profile
from gpu.table import build_rows, write

DEFAULT_OUT = ROOT / "benchmarks" / "gpu_results"
#: In the order they run: the longest (held-out budgets) last.
SECTIONS = ("speed", "child", "heldout")
#: The issue's limit for a GPU run, all sections together.
LIMIT_S = 8 * 60


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="rehearse on the CPU at tiny sizes")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    p.add_argument("--device", default="cuda", help="cuda or cuda:N (ignored by --dry-run)")
    p.add_argument(
        "--budgets", default="2,4", help="two training times in minutes for the held-out SWD"
    )
    p.add_argument(
        "--speed-seconds", type=float, default=GPU.speed_s, help="timed seconds per speed row"
    )
    p.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    args = p.parse_args(argv)
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    budgets = [float(b) * 60 for b in args.budgets.split(",") if b]
    if len(budgets) != 2 or min(budgets) <= 0:
        p.error(f"--budgets takes two positive numbers of minutes (got {args.budgets!r})")
    args.budgets = tuple(sorted(budgets))
    return args


def make_profile(args: argparse.Namespace) -> Profile:
    """:data:`DRY_RUN` as it is, or :data:`GPU` with the command line's device and times."""
    if args.dry_run:
        return DRY_RUN
    return GPU.with_changes(device=args.device, budgets_s=args.budgets, speed_s=args.speed_seconds)


def expected_s(profile: Profile) -> float:
    """A GPU run's rough length: three timed runners, two child runs, the longer budget."""
    return 3 * (profile.speed_s + 8) + 2 * 25 + max(profile.budgets_s) + 25


def words(profile: Profile) -> dict[str, Any]:
    """What the rows' labels and targets are formatted with."""

    def span(s: float) -> str:
        return f"{s / 60:g} min" if s >= 60 else f"{s:g} s"

    small, large = profile.sizes
    short, long = profile.budgets_s
    return dict(
        small=small, large=large, short=span(short), long=span(long),
        sync_every=_sync_every(),
    )  # fmt: skip


def _sync_every() -> int | str:
    """Steps between the trainer's loss reads on a GPU ("N" when the engine does not import)."""
    try:
        from napari_medgan.engine.trainer import Trainer
    except ImportError:
        return "N"
    return Trainer.sync_every_gpu


def _sections() -> dict[str, Any]:
    """The sections' functions (imported once the environment has been checked)."""
    from gpu.budgets import heldout_section
    from gpu.child import child_section
    from gpu.measure import speed_section

    return {"speed": speed_section, "child": child_section, "heldout": heldout_section}


def _environment_payload(env: Environment) -> dict[str, Any]:
    return {
        "info": env.info,
        "lines": [c.line() for c in env.checks],
        "problems": [c.line() for c in env.problems],
    }


def run_sections(
    env: Environment, profile: Profile, names: list[str], payload: dict, save: Any
) -> None:
    """Run each section in turn; a failure is recorded in its rows and the next one runs."""
    functions = _sections()
    if profile.threads:
        import torch

        torch.set_num_threads(profile.threads)
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        for name in names:
            t0 = time.perf_counter()
            print(f"[{name}] ...", flush=True)
            try:
                payload["sections"][name] = functions[name](env, profile, work)
            except Exception as exc:  # keep the other sections' results
                payload["errors"][name] = f"failed: {exc!r}"
                payload["tracebacks"][name] = traceback.format_exc()
                print(payload["tracebacks"][name], file=sys.stderr, flush=True)
            payload["section_s"][name] = time.perf_counter() - t0
            print(f"[{name}] {payload['section_s'][name]:.1f} s", flush=True)
            save()  # what is measured survives a run cut short
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    args = parse_args(argv)
    profile = make_profile(args)
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/gpu_check.py", *given])
    if profile.dry_run:
        print("dry run: the GPU check's code on the CPU at tiny sizes (not GPU numbers)")
    else:
        print(f"GPU check: expected about {expected_s(profile) / 60:.1f} min (limit 8)")
    env = check_environment(profile, args.out)
    print(env.report(), flush=True)
    payload: dict[str, Any] = {
        "dry_run": profile.dry_run,
        "command": command,
        "profile": profile.to_dict(),
        "environment": _environment_payload(env),
        "sections": {},
        "errors": {},
        "tracebacks": {},
        "section_s": {},
        "rows": [],
        "wall_s": 0.0,
    }

    def save() -> tuple[Path, Path]:
        payload["wall_s"] = time.perf_counter() - t0
        payload["rows"] = build_rows(payload["sections"], payload["errors"], words(profile))
        return write(payload, args.out)

    if env.problems:
        payload["errors"] = dict.fromkeys(SECTIONS, "not run: environment incomplete")
        save()
        return 2
    payload["errors"] = {s: "not run (--sections)" for s in SECTIONS if s not in args.sections}
    run_sections(env, profile, args.sections, payload, save)
    md, js = save()
    print(md.read_text())
    print(f"written {md} and {js} in {payload['wall_s']:.0f} s")
    if not profile.dry_run and payload["wall_s"] > LIMIT_S:
        print(f"note: longer than the {LIMIT_S // 60} minutes asked for", file=sys.stderr)
    failed = [s for s in args.sections if s in payload["errors"]]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
