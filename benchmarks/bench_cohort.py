"""Cohort benchmark: peak memory and throughput of the streamed preparation, and a CLI cohort run.

Builds 10 synthetic CT-sized NIfTI volumes (512x512x400 int16, 210 MB each in memory) once under
``--data`` (default /tmp/medgan_bench_cohort; never in the repository), in two condition folders.
Each measurement runs in a fresh Python process so that its peak RSS (``ru_maxrss``) is its own:

- peak RSS preparing N = 1, 3, 10 volumes at 64 px (streamed, no cache), against the target
  2 x largest volume + prepared set + runtime baseline (RSS after imports, same process);
- the control: the in-memory ``build_dataset`` path on N = 1, 3 (what ``train`` did before);
- throughput (volumes/min, wall and CPU time) without cache, with 2 workers, and from the cache;
- ``napari-medgan train --cohort`` on the 10-scan, two-condition cohort for a few steps.

Run niced in the background: ``nice -n 10 python benchmarks/bench_cohort.py`` (CPU-heavy).
Writes ``benchmarks/results_cohort.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = (512, 512, 400)  # x, y, z as stored in the NIfTI
SPACING = (0.7, 0.7, 1.25)
HERE = Path(__file__).resolve().parent


def build_data(root: Path, n: int = 10) -> list[Path]:
    """ROOT/{healthy,lesion}/ctK.nii: a body ellipse in HU with noise; lesion adds a blob."""
    import nibabel as nib
    import numpy as np

    paths = []
    for k in range(n):
        cond = "healthy" if k % 2 == 0 else "lesion"
        path = root / cond / f"ct{k:02d}.nii"
        paths.append(path)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(k)
        x, y = np.ogrid[:512, :512]
        body = ((x - 256) / (200 + 5 * k)) ** 2 + ((y - 256) / 150) ** 2 < 1
        vol = np.full(SHAPE, -1000, np.int16)
        for z in range(SHAPE[2]):
            sl = np.where(body, 40, -1000).astype(np.int16)
            sl += rng.integers(-20, 21, (512, 512), dtype=np.int16)
            if cond == "lesion":
                r = 30 + 20 * np.sin(z / 60)
                sl[((x - 300) ** 2 + (y - 220) ** 2) < r * r] = 120
            vol[:, :, z] = sl
        tmp = path.with_suffix(".part.nii")
        nib.save(nib.Nifti1Image(vol, np.diag([*SPACING, 1.0])), tmp)
        os.replace(tmp, path)
        print(f"built {path}", file=sys.stderr, flush=True)
    return paths


# ---------------------------------------------------------------------- child measurements
def child(mode: str, n: int, root: Path, cache: str, workers: int) -> dict:
    """One measurement in this (fresh) process; returns a JSON-able dict."""
    import torch

    from napari_medgan.engine import build_dataset
    from napari_medgan.engine.prepare import prepare_streamed
    from napari_medgan.engine.slicecache import prepare_cached
    from napari_medgan.io.cohort import discover

    torch.set_num_threads(1)
    cohort = discover(root, modality="CT")
    chosen = {s.path.name for s in sorted(cohort.scans, key=lambda s: s.path.name)[:n]}
    scans = [s for s in cohort.scans if s.path.name in chosen]  # discovery order, as the CLI
    baseline = _rss_now_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    if mode == "streamed":
        if cache == "none":
            prepared = prepare_streamed(scans, 64, 0, 0.05, workers=workers)
        else:
            prepared = prepare_cached(scans, 64, 0, 0.05, cache_dir=cache, workers=workers)
        ds = prepared.dataset
        from_cache = prepared.from_cache
    else:  # the in-memory path: every volume read, then build_dataset
        vols = [s.load() for s in scans]
        ds = build_dataset(vols, 64, 0, 0.05)
        from_cache = False
    float(ds.images.sum())  # touch every slice (a cache hit maps the file lazily)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "mode": mode,
        "n": n,
        "workers": workers,
        "cache": cache,
        "from_cache": from_cache,
        "baseline_mb": baseline,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_peak_mb": kids.ru_maxrss / 1024,
        "child_cpu_s": kids.ru_utime + kids.ru_stime,
        "prepared_mb": ds.images.numel() * 4 / 2**20,
        "slices": len(ds),
        "wall_s": wall,
        "cpu_s": cpu,
    }


def _rss_now_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_child(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def train_cli(root: Path, out: Path, cache: Path, steps: int) -> dict:
    """``napari-medgan train --cohort`` in a fresh process that reports its own peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    argv = [
        "train", "--cohort", str(root), "--modality", "CT", "--size", "64", "--steps",
        str(steps), "--batch-size", "16", "--device", "cpu", "--out", str(out), "--cache-dir",
        str(cache), "--quiet", "--checkpoint-every", "0", "--preview-every", "0",
    ]  # fmt: skip
    code = (
        "import json, resource, sys, time\n"
        "from napari_medgan.cli import main\n"
        "t0, c0 = time.perf_counter(), time.process_time()\n"
        f"rc = main({argv!r})\n"
        "r = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(json.dumps({'rc': rc, 'peak_mb': r.ru_maxrss / 1024, "
        "'wall_s': time.perf_counter() - t0, 'cpu_s': time.process_time() - c0}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if proc.returncode == 0 else {"rc": proc.returncode}
    result.setdefault("peak_mb", float("nan"))
    result.setdefault("wall_s", float("nan"))
    result.setdefault("cpu_s", float("nan"))
    result["stderr_tail"] = proc.stderr.strip().splitlines()[-4:]
    result["stdout"] = "\n".join(lines[:-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="/tmp/medgan_bench_cohort")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--child", nargs=5, metavar=("MODE", "N", "ROOT", "CACHE", "WORKERS"))
    ap.add_argument("--out", default=str(HERE / "results_cohort.md"))
    a = ap.parse_args()
    if a.child:
        mode, n, root, cache, workers = a.child
        print(json.dumps(child(mode, int(n), Path(root), cache, int(workers))))
        return
    root = Path(a.data)
    build_data(root)
    load = [os.getloadavg()]
    rows = []
    for n in (1, 3, 10):
        rows.append(run_child("streamed", str(n), str(root), "none", "1"))
        print(rows[-1], file=sys.stderr, flush=True)
    for n in (1, 3):
        rows.append(run_child("inmemory", str(n), str(root), "none", "1"))
        print(rows[-1], file=sys.stderr, flush=True)
    rows.append(run_child("streamed", "10", str(root), "none", "2"))
    print(rows[-1], file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="medgan-cache-") as cache:
        cold = run_child("streamed", "10", str(root), cache, "1")
        warm = run_child("streamed", "10", str(root), cache, "1")
        rows += [cold, warm]
        print(cold, warm, file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="medgan-cache2-") as cache2:
        with tempfile.TemporaryDirectory(prefix="medgan-run-") as run_dir:
            train_cold = train_cli(root, Path(run_dir) / "run", Path(cache2), a.steps)
        print(train_cold, file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="medgan-run-") as run_dir:
            train = train_cli(root, Path(run_dir) / "run", Path(cache2), a.steps)
        print(train, file=sys.stderr, flush=True)
    load.append(os.getloadavg())
    Path(a.out).write_text(report(rows, train, train_cold, load, a.steps))
    print(a.out)


def report(rows: list[dict], train: dict, train_cold: dict, load, steps: int) -> str:
    vol_mb = SHAPE[0] * SHAPE[1] * SHAPE[2] * 2 / 2**20
    lines = [
        "# Cohort benchmark (`benchmarks/bench_cohort.py`)",
        "",
        f"Synthetic CT cohort: 10 NIfTI volumes of {SHAPE[0]}×{SHAPE[1]}×{SHAPE[2]} int16 "
        f"({vol_mb:.0f} MiB each in memory), uncompressed `.nii`, two condition folders; "
        "prepared at 64 px along axis 0, HU window (`--modality CT`). Every row is a fresh "
        "Python process (peak RSS = its `ru_maxrss`); baseline = its RSS after importing torch, "
        "the engine and the readers. Target = 2 × largest volume + prepared set + baseline. "
        f"Machine: 2 shared cores; load average {load[0][0]:.1f} at the start, "
        f"{load[1][0]:.1f} at the end (other helpers were running: wall times are noisy, "
        "CPU times less so).",
        "",
        "| path | N | workers | cache | slices | prepared MiB | baseline MiB | peak RSS MiB "
        "| target MiB | peak / target | worker peak MiB | wall s | CPU s | vol/min (wall) "
        "| vol/min (CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        target = 2 * vol_mb + r["prepared_mb"] + r["baseline_mb"]
        cache = "hit" if r["from_cache"] else ("miss" if r["cache"] != "none" else "off")
        path = "streamed" if r["mode"] == "streamed" else "in-memory (control)"
        kid = f"{r['child_peak_mb']:.0f}" if r["workers"] > 1 else "—"
        cpu = r["cpu_s"] + (r["child_cpu_s"] if r["workers"] > 1 else 0)
        lines.append(
            f"| {path} | {r['n']} | {r['workers']} | {cache} | {r['slices']} | "
            f"{r['prepared_mb']:.1f} | {r['baseline_mb']:.0f} | {r['peak_mb']:.0f} | "
            f"{target:.0f} | {r['peak_mb'] / target:.2f} | {kid} | {r['wall_s']:.2f} | "
            f"{cpu:.2f} | {60 * r['n'] / r['wall_s']:.0f} | {60 * r['n'] / max(cpu, 1e-3):.0f} |"
        )
    lines += [
        "",
        "With 2 workers the main process only assembles results; each worker process holds one "
        "volume at a time, so the memory of the whole preparation is about the main process "
        "plus 2 × a worker's peak (listed as worker peak; `RUSAGE_CHILDREN` gives the largest).",
        "",
        f"## Training from the CLI on the 10-scan, two-condition cohort ({steps} steps, 64 px)",
        "",
        "Each run is a fresh process (`napari_medgan.cli.main` in `python -c`), timed from "
        "the call to `main` (imports excluded); peak RSS is its own `ru_maxrss`.",
        "",
        "| prepared slices | rc | wall s | CPU s | peak RSS MiB |",
        "|---|---|---|---|---|",
        f"| from the cache | {train['rc']} | {train['wall_s']:.1f} | {train['cpu_s']:.1f} | "
        f"{train['peak_mb']:.0f} |",
        f"| prepared in the run (cold cache) | {train_cold['rc']} | {train_cold['wall_s']:.1f} | "
        f"{train_cold['cpu_s']:.1f} | {train_cold['peak_mb']:.0f} |",
        "",
        "Last lines of stderr and stdout (cold, then cached):",
        "",
        "```",
        *train_cold["stderr_tail"],
        train_cold["stdout"],
        *train["stderr_tail"],
        train["stdout"],
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
