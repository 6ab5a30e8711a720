"""Throughput (``bench_quality.py speed``): paired images per CPU-second, params, FLOPs.

The textbook loop and the project's trainer train on the same MNI152 slices in one process, with
the torch thread count of ``--threads``. They take turns: each round runs a few steps of one, then
of the other (the order alternating between rounds), so a change in machine load hits both alike;
the table gives each one's median images per CPU-second (process CPU time of the steps only, after
warm-up) and the median, lowest and highest per-round ratio.

Two FLOP counts (``torch.utils.flop_counter``), per image:

- *network*: one forward pass of the generator and one of the discriminator, i.e. the size of
  the networks; equal counts mean a speed-up cannot come from a smaller net;
- *train step*: everything one D and G update executes (forward and backward), divided by the
  batch. The project executes less than the textbook at equal network size because it skips
  work the textbook does and throws away (the discriminator's weight gradients in the G step).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from . import RUNS
from .data import mni_dataset
from .runners import make_runner, parse_set

STEPS_PER_ROUND = {32: 8, 64: 3, 128: 1}


def _nets(runner):
    return (runner.G, runner.D) if hasattr(runner, "G") else (runner.trainer.G, runner.trainer.D)


def _params(runner) -> int:
    return sum(p.numel() for n in _nets(runner) for p in n.parameters())


def _z_dim(runner) -> int:
    return runner.nz if hasattr(runner, "nz") else runner.config.z_dim


@torch.no_grad()
def _network_flops(runner) -> float:
    """One generator forward plus one discriminator forward, per image."""
    g, d = _nets(runner)
    b = 8
    z, y = torch.randn(b, _z_dim(runner)), torch.zeros(b, dtype=torch.int64)
    modes = [g.training, d.training]
    g.eval(), d.eval()
    with FlopCounterMode(display=False) as fc:
        d(g(z, y).float(), y)
    g.train(modes[0]), d.train(modes[1])
    return fc.get_total_flops() / b


def _step_flops(runner) -> float:
    with FlopCounterMode(display=False) as fc:
        runner.step()
    return fc.get_total_flops() / runner.batch_size


def _cpu_of(runner, steps: int) -> float:
    c0 = time.process_time()
    for _ in range(steps):
        runner.step()
    return time.process_time() - c0


def paired(a, b, steps: int, rounds: int) -> dict:
    """Images per CPU-second of ``a`` and ``b`` taking turns; medians and per-round ratios b/a."""
    for r in (a, b):
        for _ in range(2):  # warm-up
            r.step()
    ips_a, ips_b = [], []
    for k in range(rounds):
        order = (a, b) if k % 2 == 0 else (b, a)
        cpu = {id(r): _cpu_of(r, steps) for r in order}
        ips_a.append(steps * a.batch_size / cpu[id(a)])
        ips_b.append(steps * b.batch_size / cpu[id(b)])
    ratios = [y / x for x, y in zip(ips_a, ips_b)]
    return {
        "a_img_per_cpu_s": statistics.median(ips_a),
        "b_img_per_cpu_s": statistics.median(ips_b),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "rounds": rounds,
        "steps_per_round": steps,
    }


def speed_table(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    rows = []
    overrides = parse_set(args.set)
    # (precision, extra project settings); the textbook runs at the same precision
    # at 64 px also: the project's layout and compile options (the textbook stays eager)
    variants = [
        ("fp32", {}),
        ("bf16", {}),
        ("fp32", {"channels_last": True}),
        ("bf16", {"channels_last": True}),
        ("bf16", {"compile": True}),
    ]
    sizes = (32, 64, 128) if args.speed_sizes == "all" else (args.size,)
    for size in sizes:
        ds = mni_dataset(size)
        for precision, extra in variants if size == 64 and args.variants else variants[:2]:
            args.size = size
            tmp = Path(tempfile.mkdtemp(prefix="bqs-"))
            dc = make_runner("dcgan", args, ds, {"precision": precision}, None)
            settings = {**overrides, **extra, "precision": precision}
            pr = make_runner("project", args, ds, settings, tmp)
            if "compile" in extra:
                # the same nets as the eager row before: counting through the compiled code
                # would recompile it in eval mode
                net_f, step_f = rows[-1]["net_gflops"], rows[-1]["step_gflops"]
            else:
                net_f = [_network_flops(r) / 1e9 for r in (dc, pr)]
                step_f = [_step_flops(r) / 1e9 for r in (dc, pr)]
            row = {
                "size": size,
                "precision": precision,
                "project": ", ".join(f"{k}={v}" for k, v in extra.items()) or "preset",
                **paired(dc, pr, STEPS_PER_ROUND[size], args.rounds),
                "net_gflops": net_f,
                "step_gflops": step_f,
                "params_m": [_params(r) / 1e6 for r in (dc, pr)],
                "batch": [dc.batch_size, pr.batch_size],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            pr.close()
    RUNS.mkdir(exist_ok=True)
    payload = {
        "threads": args.threads,
        "rows": rows,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg": os.getloadavg(),
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
    }
    name = f"speed-{args.tag}.json" if args.tag else "speed.json"  # the report reads speed.json
    (RUNS / name).write_text(json.dumps(payload))
    return rows
