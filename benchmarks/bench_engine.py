"""Engine speed and memory: training throughput per resolution, overhead ratios, I/O of checkpoints.

Run ``python benchmarks/bench_engine.py [--device cpu|cuda] [--steps N]``; it writes
``benchmarks/results_engine.md``. Absolute numbers depend on the machine; compare the ratios,
which are measured in the same run.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from napari_medgan.engine import Sampler, TrainConfig, Trainer, Volume, build_dataset
from napari_medgan.engine.devices import resolve_device

HERE = Path(__file__).parent


def mni_dataset(size: int):
    from napari_medgan.io import load_mni152

    vols = [Volume(im.data, im.spacing, condition=im.name, name=im.name) for im in load_mni152()]
    return build_dataset(vols, size=size)


def throughput(cfg: TrainConfig, ds, steps: int) -> tuple[float, float]:
    """(images/s, seconds per step) over ``steps`` steps after 3 warm-up steps."""
    trainer = Trainer(cfg.replace(steps=steps + 3), ds)
    run = trainer.run()
    for _ in range(3):
        next(run)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        next(run)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    run.close()
    trainer.close()
    return cfg.batch_size / dt, dt


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", default=str(HERE / "results_engine.md"))
    args = p.parse_args()
    device = resolve_device(args.device)
    rows = []
    tmp = Path(tempfile.mkdtemp())
    sizes = (32, 64, 128) if device.type == "cpu" else (64, 128, 256)
    datasets = {s: mni_dataset(s) for s in sizes}
    for size in sizes:
        ds = datasets[size]
        base = TrainConfig(size=size, batch_size=16 if device.type == "cpu" else 64,
                           device=args.device, preview_every=0, checkpoint_every=0,
                           out_dir=str(tmp / f"r{size}"))
        ips, dt = throughput(base, ds, args.steps)
        no_aug, _ = throughput(base.replace(augment=()), ds, args.steps)
        r1, _ = throughput(base.replace(r1_gamma=1.0, r1_every=1), ds, args.steps)
        rows.append((size, base.batch_size, ips, dt, no_aug / ips, r1 / ips))
        print(f"size {size}: {ips:.1f} img/s", file=sys.stderr)
    # checkpoint save / load and sampling at 64 px
    cfg = TrainConfig(size=64, steps=2, batch_size=8, device=args.device, preview_every=0,
                      checkpoint_every=0, out_dir=str(tmp / "ck"))
    trainer = Trainer(cfg, datasets[64])
    for _ in trainer.run():
        pass
    t0 = time.perf_counter()
    trainer._saved_step = -1
    trainer.save()
    save_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sampler = Sampler.from_checkpoint(tmp / "ck", device=args.device)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sampler.sample(256, "T1", seed=0, units="native")
    sample_ips = 256 / (time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")

    lines = [
        "# Engine benchmarks",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, device "
        f"`{device}`, torch {torch.__version__}, python {platform.python_version()}. "
        f"{args.steps} timed steps after 3 warm-up steps; MNI152 T1/GM/WM, 3 conditions, default "
        "widths (base 32, cap 256), default augmentation (translation, cutout).",
        "",
        "| size | batch | train img/s | s/step | no-augment / default | R1 every step / default |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {s} | {b} | {ips:.1f} | {dt:.3f} | {a:.2f} | {r:.2f} |"
              for s, b, ips, dt, a, r in rows]
    lines += [
        "",
        "| 64 px model | value |",
        "|---|---:|",
        f"| checkpoint save (s) | {save_s:.3f} |",
        f"| checkpoint load (s) | {load_s:.3f} |",
        f"| sampling, native units (img/s) | {sample_ips:.0f} |",
        f"| peak RSS of the benchmark (MiB) | {peak_mb:.0f} |",
        f"| peak GPU memory (MiB) | {gpu_mb:.0f} |",
        "",
        f"Ratio of 64 px to 32 px throughput: {rows[1][2] / rows[0][2]:.2f} "
        f"(4x the pixels per image).",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
