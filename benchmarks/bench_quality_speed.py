"""Throughput part of ``bench_quality.py --speed``: images per CPU-second, parameters, FLOPs.

Both methods train on the same MNI152 slices; time is the process CPU time of the training steps
only (after warm-up steps), with the torch thread count of ``--threads``. FLOPs per image are
counted by ``torch.utils.flop_counter`` over one full training step (D and G updates, forward and
backward; the project's step is a non-R1 step, R1 adds its cost every ``r1_every`` steps) divided
by the batch size.
"""

from __future__ import annotations

import json
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

STEPS = {32: 8, 64: 4, 128: 2}


def _params(runner) -> int:
    nets = (runner.G, runner.D) if hasattr(runner, "G") else (runner.trainer.G, runner.trainer.D)
    return sum(p.numel() for n in nets for p in n.parameters())


def _measure(runner, steps: int):
    for _ in range(2):  # warm-up (the project's first step is an R1 step)
        runner.step()
    with FlopCounterMode(display=False) as fc:
        runner.step()
    flops = fc.get_total_flops() / runner.batch_size
    c0 = time.process_time()
    for _ in range(steps):
        runner.step()
    cpu = time.process_time() - c0
    return steps * runner.batch_size / cpu, flops


def speed_table(args, dcgan_cls, project_cls, dataset_fn, make_runner) -> list[dict]:
    from pathlib import Path

    from bench_quality import HERE, RUNS, parse_set

    torch.set_num_threads(args.threads)
    rows = []
    # the preset's nets have the textbook's layout and widths: equal FLOPs per image
    variants = [
        ("dcgan", {}),
        ("project", {"precision": "fp32"}),
        ("dcgan", {"precision": "bf16"}),
        ("project", {"precision": "bf16"}),
        ("project", {"precision": "fp32", "channels_last": True}),
    ]
    overrides = parse_set(args.set)
    for size in (32, 64, 128):
        ds = dataset_fn(size)
        for method, extra in variants if size == 64 else variants[:4]:
            args.size = size
            tmp = Path(tempfile.mkdtemp(prefix="bqs-"))
            runner = make_runner(method, args, ds, {**overrides, **extra}, tmp)
            ips, flops = _measure(runner, STEPS[size])
            row = {
                "size": size,
                "method": f"{method}, {extra.get('precision', 'fp32')}"
                + (" (channels_last)" if "channels_last" in extra else ""),
                "img_per_cpu_s": ips,
                "gflops_per_img": flops / 1e9,
                "params_m": _params(runner) / 1e6,
                "batch": runner.batch_size,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            if hasattr(runner, "close"):
                runner.close()
    RUNS.mkdir(exist_ok=True)
    (RUNS / "speed.json").write_text(
        json.dumps({"threads": args.threads, "rows": rows, "date": time.ctime()})
    )
    _ = HERE
    return rows
