"""Training a recipe for CPU budgets: the project's trainer or the textbook loop, scored at each.

Both methods train on the same slices under the same budgets of **process CPU time**
(``time.process_time``, scoring excluded), with a fixed number of torch threads, so that other
processes on a shared machine do not distort the comparison. :func:`run` is one benchmark
process; its result accumulates as JSON in ``quality_runs/``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from napari_medgan.engine import TrainConfig, Trainer
from napari_medgan.engine.devices import cpu_has_fast_bf16, precision_for
from napari_medgan.engine.metrics.classifier import train_classifier

from . import RUNS
from .data import setup
from .scoring import real_baseline, score
from .textbook import DCGANRunner


class ProjectRunner:
    """The project's :class:`Trainer`, driven step by step from its report iterator."""

    name = "project"

    def __init__(self, train_ds, config: TrainConfig, out_dir: str):
        changes = {"steps": 10**7, "preview_every": 0, "checkpoint_every": 0, "out_dir": out_dir}
        if hasattr(config, "holdout"):
            changes["holdout"] = 0.0  # the benchmark holds out its own slabs
        if hasattr(config, "score_every"):
            changes["score_every"] = 0
        self.config = config.replace(**changes)
        self.trainer = Trainer(self.config, train_ds)
        self.iter = self.trainer.run()
        self.steps = 0

    def step(self):
        next(self.iter)
        self.steps += 1

    @property
    def batch_size(self):
        return self.config.batch_size

    @torch.no_grad()
    def sample(self, n, label, seed, which="ema"):
        t = self.trainer
        g = torch.Generator().manual_seed(seed)
        net = t.G if which == "raw" else t.G_ema
        if which == "ema" and hasattr(t, "sampling_generator"):
            net = t.sampling_generator()
        if which == "stale":  # EMA weights with the training generator's BatchNorm statistics
            net = copy.deepcopy(t.G_ema)
            for b_ema, b in zip(net.buffers(), t.G.buffers()):
                b_ema.copy_(b)
        was_training = net.training
        net.eval()
        z = torch.randn(n, self.config.z_dim, generator=g).to(t.device)
        y = torch.full((n,), label, dtype=torch.int64, device=t.device)
        out = net(z, y).float()[:, 0].cpu().numpy()
        net.train(was_training)
        return out

    def close(self):
        self.iter.close()
        self.trainer.close()


def parse_set(items):
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        if key == "augment" and isinstance(out[key], str):
            out[key] = tuple(a for a in out[key].split(",") if a)
    return out


def project_config(args, overrides) -> TrainConfig:
    """The project's settings for a run: the preset (``--preset none``: plain defaults) and
    the ``--set`` overrides, on the CPU."""
    cfg = TrainConfig(size=args.size, device="cpu")
    if args.preset != "none":
        from napari_medgan.engine.config import preset

        cfg = preset(args.preset, size=args.size).replace(device="cpu")
    return cfg.replace(**{"seed": args.seed, **overrides})


def effective_precision(args, overrides) -> str:
    """What the project trains in for these settings here (``auto`` resolved): the textbook
    loop always runs in the same precision."""
    precision = project_config(args, overrides).precision
    return precision_for(torch.device("cpu")) if precision == "auto" else precision


def make_runner(method, args, train_ds, overrides, tmp):
    if method == "dcgan":
        bf16 = effective_precision(args, overrides) == "bf16"
        n_cls = len(train_ds.class_names)
        return DCGANRunner(
            train_ds.images, train_ds.labels, n_cls, args.size, seed=args.seed, bf16=bf16
        )
    return ProjectRunner(train_ds, project_config(args, overrides), str(tmp))


def train_and_score(
    method, args, train_ds, train_by_c, held_by_c, overrides, extra_scores=(), on_point=None
):
    tmp = Path(tempfile.mkdtemp(prefix="bq-"))
    runner = make_runner(method, args, train_ds, overrides, tmp)
    budgets = sorted(float(b) for b in args.budgets.split(","))
    curve, cpu = [], 0.0
    t_wall = time.perf_counter()
    result = {
        "method": method,
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "precision": effective_precision(args, overrides),  # both methods: the same
        "curve": curve,
    }
    for budget in budgets:
        while cpu < budget:
            c0 = time.process_time()
            runner.step()
            cpu += time.process_time() - c0
        point = {
            "cpu_s": cpu,
            "steps": runner.steps,
            "images": runner.steps * runner.batch_size,
            "scores": score(runner.sample, train_by_c, held_by_c, classifier=args.classifier),
            "samples": _sheet_samples(runner, train_ds.class_names),
        }
        for which in extra_scores:
            point[f"scores_{which}"] = score(
                lambda n, c, s, w=which: runner.sample(n, c, s, which=w), train_by_c, held_by_c
            )
        curve.append(point)
        if on_point is not None:  # keep what is measured even if the run is cut short
            on_point(result)
        swd_mean = np.mean([s["swd"] for s in point["scores"]])
        print(
            f"[{method}] cpu {cpu:.0f}s steps {runner.steps} swd {swd_mean:.1f}",
            file=sys.stderr,
            flush=True,
        )
    samples = _sheet_samples(runner, train_ds.class_names)
    if hasattr(runner, "close"):
        runner.close()
    result.update(wall_s=time.perf_counter() - t_wall, samples=samples, complete=True)
    return result


def _sheet_samples(runner, class_names) -> dict[str, list]:
    """8 samples per condition as uint8 (value = x / 127.5 - 1), for the report's sheet."""
    return {
        name: np.clip(np.round((runner.sample(8, c, 7) + 1) * 127.5), 0, 255).astype(int).tolist()
        for c, name in enumerate(class_names)
    }


def environment(args):
    return {
        "threads": args.threads,
        "size": args.size,
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "native_bf16": cpu_has_fast_bf16(),
        "loadavg_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def save_run(tag, payload):
    RUNS.mkdir(exist_ok=True)
    path = RUNS / f"{tag}.json"
    path.write_text(json.dumps(payload))
    print(path)


def run(args, command: str) -> int:
    """One benchmark process: ``--method`` (or both with ``--headline``) for ``--budgets``,
    saved as ``quality_runs/TAG.json`` with the ``command`` that made it."""
    ds, train_ds, train_by_c, held_by_c = setup(args)
    # the condition classifier of the conditional-accuracy score: trained on the training slices
    labels = np.concatenate([np.full(len(t), c) for c, t in enumerate(train_by_c)])
    args.classifier = train_classifier(np.concatenate(train_by_c), labels, seed=0)
    base = {
        "seed": args.seed,
        "real": real_baseline(train_by_c, held_by_c, classifier=args.classifier),
        "n_train": [len(t) for t in train_by_c],
        "n_held": [len(h) for h in held_by_c],
        "split": args.split,
        "class_names": list(ds.class_names),
        "env": environment(args),
        "budgets": args.budgets,
        "label": args.label,
        "command": command,
    }
    overrides = parse_set(args.set)
    extra = tuple(w for w in args.extra_scores.split(",") if w)
    methods = ("dcgan", "project") if args.headline else (args.method,)
    tag = args.tag or ("headline" if args.headline else args.method)
    runs: list[dict] = []

    def save(partial):
        base["env"]["loadavg_end"] = os.getloadavg()
        save_run(tag, {**base, "runs": [*runs, partial], "preset": args.preset})

    for m in methods:
        over = overrides if m == "project" else {}
        extra_m = extra if m == "project" else ()
        runs.append(train_and_score(m, args, train_ds, train_by_c, held_by_c, over, extra_m, save))
    base["env"]["loadavg_end"] = os.getloadavg()
    save_run(tag, {**base, "runs": runs, "preset": args.preset})
    return 0
