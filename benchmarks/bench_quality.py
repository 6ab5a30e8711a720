"""Quality per CPU-second: the project's trainer vs a textbook DCGAN loop, on the same data.

Both methods train on the same MNI152 T1/GM/WM axial slices (64 px by default) under the same
budgets of **process CPU time** (``time.process_time``, scoring excluded), with a fixed number of
torch threads, so that other processes on a shared machine do not distort the comparison. At
each budget both are scored against real slices held out before training:

* held-out split (per condition): ``--slabs`` contiguous slabs spread over the slice range,
  ``--holdout`` of the slices in all, with ``--gap`` slices dropped from training on both sides
  of each slab (neighbouring slices are near-copies);
* SWD (``engine.metrics.swd``, ×10³) of generated samples vs the held-out slices, at the
  held-out count, averaged over draws; the baseline is training real vs held-out real at the same
  count (``real``);
* median nearest-training-slice L2 distance of samples divided by that of the held-out slices
  (1 = as close to the training set as unseen real slices; far below 1 = copies).

The textbook loop is PyTorch's DCGAN example (Radford et al. 2015): ConvTranspose/BatchNorm
generator, BatchNorm discriminator, BCE, Adam 2e-4 / (0.5, 0.999), batch 64, N(0, 0.02) init;
the condition enters as a one-hot vector concatenated to z and as one-hot planes concatenated to
D's input (the usual cDCGAN). It is sampled the way the example does (train-mode BatchNorm).

Modes (results accumulate as JSON in ``--runs``; ``--report`` writes the table and the plot)::

    python benchmarks/bench_quality.py --method dcgan --budgets 90,180,360
    python benchmarks/bench_quality.py --method project --set ada_target=0 --tag no-ada
    python benchmarks/bench_quality.py --headline --budgets 90,180,360   # both, one run
    python benchmarks/bench_quality.py --speed                           # img/s, params, FLOPs
    python benchmarks/bench_quality.py --report
"""

from __future__ import annotations

import argparse
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
from bench_quality_splits import interleaved_split, slab_split
from torch import nn

from napari_medgan.engine import TrainConfig, Trainer, Volume, build_dataset
from napari_medgan.engine.metrics.classifier import correct, train_classifier
from napari_medgan.engine.metrics.coverage import coverage_scores
from napari_medgan.engine.metrics.msssim import pairwise_msssim
from napari_medgan.engine.metrics.swd import swd

HERE = Path(__file__).parent
RUNS = HERE / "quality_runs"


# ----------------------------------------------------------------------------- data + split
def mni_dataset(size: int):
    from napari_medgan.io import load_mni152

    vols = [
        Volume(im.data, im.spacing, condition=im.name, name=f"MNI152 {im.name}")
        for im in load_mni152()
    ]
    return build_dataset(vols, size=size, slice_axis=0)


# ----------------------------------------------------------------------------- textbook DCGAN
class DCGen(nn.Module):
    def __init__(self, nz: int, n_cls: int, size: int, ngf: int = 64):
        super().__init__()
        self.nz, self.n_cls = nz, n_cls
        levels = int(np.log2(size)) - 3  # 64 px: 4x4 -> 8 -> 16 -> 32 -> 64
        ch = ngf * 2**levels
        layers = [
            nn.ConvTranspose2d(nz + n_cls, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(levels):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, 1, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z, y):
        onehot = nn.functional.one_hot(y, self.n_cls).float()
        return self.main(torch.cat([z, onehot], 1)[:, :, None, None])


class DCDisc(nn.Module):
    def __init__(self, n_cls: int, size: int, ndf: int = 64):
        super().__init__()
        self.n_cls = n_cls
        levels = int(np.log2(size)) - 3
        layers = [nn.Conv2d(1 + n_cls, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(levels):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch * 2),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)

    def forward(self, x, y):
        planes = nn.functional.one_hot(y, self.n_cls).float()[:, :, None, None]
        return self.main(torch.cat([x, planes.expand(-1, -1, *x.shape[-2:])], 1)).flatten()


def _dcgan_init(m):
    name = m.__class__.__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class DCGANRunner:
    """The textbook loop, one D+G update per :meth:`step`."""

    name = "dcgan"

    def __init__(self, images, labels, n_cls, size, seed=0, batch=64, nz=100, bf16=False):
        torch.manual_seed(seed)
        self.bf16 = bf16  # autocast the forward passes to bfloat16 (for the throughput table)
        self.images, self.labels, self.n_cls, self.nz, self.batch = images, labels, n_cls, nz, batch
        self.G, self.D = DCGen(nz, n_cls, size), DCDisc(n_cls, size)
        self.G.apply(_dcgan_init)
        self.D.apply(_dcgan_init)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce = nn.BCEWithLogitsLoss()
        self.steps = 0

    def step(self):
        b = self.batch
        idx = torch.randint(0, len(self.images), (b,))
        real, y = self.images[idx], self.labels[idx]
        ones, zeros = torch.ones(b), torch.zeros(b)
        cast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)
        self.D.zero_grad()
        z = torch.randn(b, self.nz)
        with cast:
            fake = self.G(z, y)
            logits = self.D(real, y).float(), self.D(fake.detach(), y).float()
        loss_d = self.bce(logits[0], ones) + self.bce(logits[1], zeros)
        loss_d.backward()
        self.opt_d.step()
        self.G.zero_grad()
        with cast:
            logits_g = self.D(fake, y).float()
        loss_g = self.bce(logits_g, ones)
        loss_g.backward()
        self.opt_g.step()
        self.steps += 1

    @torch.no_grad()
    def sample(self, n, label, seed):
        # as the example does: the generator stays in train mode (batch statistics), fed the
        # usual mix of conditions so the statistics match training
        g = torch.Generator().manual_seed(seed)
        out = []
        while sum(len(o) for o in out) < n:
            y = torch.randint(0, self.n_cls, (self.batch,), generator=g)
            y[: self.batch // self.n_cls] = label
            z = torch.randn(self.batch, self.nz, generator=g)
            out.append(self.G(z, y)[y == label][:, 0])
        return torch.cat(out)[:n].numpy()

    @property
    def batch_size(self):
        return self.batch


# ----------------------------------------------------------------------------- project trainer
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


# ----------------------------------------------------------------------------- scoring
def nn_dist(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    a = torch.as_tensor(x.reshape(len(x), -1))
    b = torch.as_tensor(ref.reshape(len(ref), -1))
    return torch.cdist(a, b).min(dim=1).values.numpy()


#: Images per condition for the diversity scores (pairwise distances within a condition).
DIVERSITY_N = 32


def diversity(x: np.ndarray) -> dict:
    """Within-set variety: mean pairwise pixel L2 and mean pairwise MS-SSIM (lower = more varied).

    SWD against a dozen held-out slices cannot see a generator that makes one image per
    condition (it scores *below* the real baseline); these can.
    """
    flat = torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float32)
    n = len(flat)
    l2 = float(torch.cdist(flat, flat).sum() / (n * (n - 1)))
    sim = pairwise_msssim(x, n_pairs=200, seed=0)[0]
    return {"l2div": l2, "msssim": float(np.mean(sim))}


#: Neighbour that sizes the coverage balls (held-out slices, radii from the training slices).
COVERAGE_K = 5


def _coverage(he: np.ndarray, x: np.ndarray, tr: np.ndarray) -> float:
    """Share of held-out slices with a sample inside their ball (the protocol's coverage)."""
    return coverage_scores(he, x, k=COVERAGE_K, radius_feats=tr)["coverage"]


def score(sample_fn, train_by_c, held_by_c, draws=3, classifier=None):
    """Per condition: SWD×1e3 (mean of ``draws`` sample sets), nearest-real ratio, diversity,
    coverage of the held-out slices (mean over the draws) and, with a ``classifier`` trained on
    the training slices, the share of samples it assigns to their condition."""
    out = []
    for c, (tr, he) in enumerate(zip(train_by_c, held_by_c)):
        n = len(he)
        sets = [sample_fn(n, c, 1000 + k) for k in range(draws)]
        s = [swd(x, he, seed=k).value for k, x in enumerate(sets)]
        fake = sample_fn(n, c, 2000)
        ratio = float(np.median(nn_dist(fake, tr)) / np.median(nn_dist(he, tr)))
        div = diversity(sample_fn(DIVERSITY_N, c, 3000))
        extra = {"coverage": float(np.mean([_coverage(he, x, tr) for x in sets]))}
        if classifier is not None:
            extra["cond_acc"] = float(correct(classifier, np.concatenate(sets), c).mean())
        out.append({"swd": 1e3 * float(np.mean(s)), "nn_ratio": ratio, **div, **extra})
    return out


def real_baseline(train_by_c, held_by_c, draws=3, classifier=None):
    """The scores of training real against held-out real (same count), held-out slices'
    conditional accuracy, and the diversity of training slices."""
    out = []
    for c, (tr, he) in enumerate(zip(train_by_c, held_by_c)):
        rng = np.random.default_rng(0)
        sets = [tr[rng.choice(len(tr), len(he), replace=False)] for _ in range(draws)]
        s = [swd(x, he, seed=k).value for k, x in enumerate(sets)]
        div = diversity(tr[rng.choice(len(tr), min(DIVERSITY_N, len(tr)), replace=False)])
        extra = {"coverage": float(np.mean([_coverage(he, x, tr) for x in sets]))}
        if classifier is not None:
            extra["cond_acc"] = float(correct(classifier, he, c).mean())
        out.append({"swd": 1e3 * float(np.mean(s)), **div, **extra})
    return out


# ----------------------------------------------------------------------------- driver
def setup(args):
    torch.set_num_threads(args.threads)
    ds = mni_dataset(args.size)
    labels = ds.labels.numpy()
    n_cls = len(ds.class_names)
    if getattr(args, "split", "slabs") == "interleaved":
        gap = 1 if args.gap is None else args.gap
        tr_idx, he_idx = interleaved_split(labels, n_cls, args.holdout, gap)
    else:
        gap = 4 if args.gap is None else args.gap
        tr_idx, he_idx = slab_split(labels, n_cls, args.holdout, args.slabs, gap)
    imgs = ds.images.numpy()[:, 0]
    train_by_c = [imgs[i] for i in tr_idx]
    held_by_c = [imgs[i] for i in he_idx]
    all_tr = np.concatenate(tr_idx)
    train_ds = ds.subset(all_tr) if hasattr(ds, "subset") else _subset(ds, all_tr)
    return ds, train_ds, train_by_c, held_by_c


def _subset(ds, idx):
    from dataclasses import replace

    idx_t = torch.as_tensor(idx)
    extra = {}
    if getattr(ds, "sources", None) is not None:
        extra["sources"] = [ds.sources[i] for i in idx]
    return replace(ds, images=ds.images[idx_t], labels=ds.labels[idx_t], **extra)


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


def make_runner(method, args, train_ds, overrides, tmp):
    if method == "dcgan":
        bf16 = overrides.get("precision") == "bf16"
        n_cls = len(train_ds.class_names)
        return DCGANRunner(
            train_ds.images, train_ds.labels, n_cls, args.size, seed=args.seed, bf16=bf16
        )
    cfg = TrainConfig(size=args.size, device="cpu")  # --preset none: the plain defaults
    if args.preset != "none":
        from napari_medgan.engine.config import preset

        cfg = preset(args.preset, size=args.size).replace(device="cpu")
    cfg = cfg.replace(**{"seed": args.seed, **overrides})
    return ProjectRunner(train_ds, cfg, str(tmp))


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
        "cpu": platform.processor() or platform.machine(),
        "loadavg_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def save_run(tag, payload):
    RUNS.mkdir(exist_ok=True)
    path = RUNS / f"{tag}.json"
    path.write_text(json.dumps(payload))
    print(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--method", choices=("dcgan", "project"), default="project")
    p.add_argument("--headline", action="store_true", help="dcgan and project in one run")
    p.add_argument("--speed", action="store_true", help="img per CPU-second, params, FLOPs")
    p.add_argument("--rounds", type=int, default=6, help="--speed: paired rounds per row")
    p.add_argument(
        "--speed-sizes", default="all", help="--speed: 'all' (32, 64, 128) or 'size' (--size only)"
    )
    p.add_argument(
        "--variants",
        action="store_true",
        help="--speed: at 64 px also the project in channels_last and compiled",
    )
    p.add_argument("--report", action="store_true", help="table + plot from saved runs")
    p.add_argument(
        "--levels", action="store_true", help="level controls of both splits (real slices only)"
    )
    p.add_argument("--set", action="append", help="project config override key=value")
    p.add_argument("--preset", default="cpu", help="project preset (default cpu)")
    p.add_argument("--tag", default=None, help="run name; with --speed: speed-TAG.json")
    p.add_argument("--label", default=None, help="what the run is, for the report's table")
    p.add_argument("--extra-scores", default="", help="also score raw G / stale-BN EMA: raw,stale")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="training seed (both methods)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budgets", default="90,180", help="CPU seconds, comma separated")
    p.add_argument("--holdout", type=float, default=0.2)
    p.add_argument("--slabs", type=int, default=3)
    p.add_argument(
        "--split",
        choices=("slabs", "interleaved"),
        default="slabs",
        help="held-out slices: contiguous slabs (default) or every 1/holdout-th slice, "
        "which spans every level",
    )
    p.add_argument(
        "--gap", type=int, default=None, help="slices dropped beside held-out ones (4 / 1)"
    )
    args = p.parse_args(argv)
    if args.report:
        from bench_quality_report import write_report

        write_report(RUNS, HERE)
        return 0
    if args.levels:
        from bench_quality_levels import level_controls

        level_controls(args, setup, RUNS / "levels.json")
        return 0
    if args.speed:
        from bench_quality_speed import speed_table

        speed_table(args)
        return 0
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
        "command": "python benchmarks/bench_quality.py " + " ".join(argv or sys.argv[1:]),
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


if __name__ == "__main__":
    raise SystemExit(main())
