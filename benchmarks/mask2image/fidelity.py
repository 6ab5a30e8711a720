"""Fidelity of a mask2image run on the held-out slabs: tissue Dice, a WM edit, MS-SSIM."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from napari_medgan.engine.checkpoint import load_checkpoint
from napari_medgan.engine.families.mask2image.infer import Synthesizer

from . import RUNS, TISSUES
from .data import Pairs, code_fingerprint, cpu_name, load_pairs
from .gan import synthesize, train_gan, untrained_generator
from .metrics import dice, fit_classifier, ms_ssim

#: Noise seeds of the syntheses scored (and of the MS-SSIM variations).
NOISE_SEEDS = (0, 1, 2, 3, 4)
#: WM index; GM index (WM grows into GM only).
GM, WM = 2, 3


def synth_meta_split(run_dir: Path) -> dict | None:
    """The held-out split a run recorded (None when it held nothing out)."""
    split = load_checkpoint(run_dir, with_training_state=False, prefer="latest").meta.get("split")
    return split if split and split.get("mode") != "none" else None


def grow_wm(index: torch.Tensor, px: int) -> torch.Tensor:
    """Label indices with WM dilated by ``px`` pixels (4-neighbour steps) into GM only."""
    cross = torch.tensor([[0.0, 1, 0], [1, 1, 1], [0, 1, 0]])[None, None]
    grown = (index == WM).float()[:, None]
    for _ in range(px):
        grown = (F.conv2d(grown, cross, padding=1) > 0).float()
    grown = grown[:, 0] > 0
    out = index.clone()
    out[grown & (index == GM)] = WM
    return out


def _summary(values: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = values[0].keys()
    return {k: {"mean": float(np.mean([v[k] for v in values])),
                "min": float(np.min([v[k] for v in values])),
                "max": float(np.max([v[k] for v in values]))} for k in keys}  # fmt: skip


def _class_means(index: torch.Tensor, images: torch.Tensor, n: int) -> torch.Tensor:
    return torch.stack([images[index == k].mean() for k in range(n)])


def evaluate(p: Pairs, g: torch.nn.Module, untrained: torch.nn.Module) -> dict:
    """Every fidelity number of generator ``g`` (and the controls) on the held-out slabs."""
    k = p.n_labels
    tr_idx, tr_img = p.train
    he_idx, he_img = p.heldout
    clf = fit_classifier(tr_img, tr_idx, k)
    out: dict = {
        "classifier": "conv3x3(1->16)+ReLU+conv1x1(16->4), Adam lr 0.01, 400 full-"
        "batch steps on the real training slices, CE weighted 1/sqrt(freq)"
    }
    out["dice_real_train"] = dice(clf.predict(tr_img), tr_idx)
    out["dice_real_heldout"] = real = dice(clf.predict(he_img), he_idx)
    fakes = {s: synthesize(g, he_idx, s, k) for s in NOISE_SEEDS}
    per_seed = [dice(clf.predict(f), he_idx) for f in fakes.values()]
    out["dice_synthetic"] = _summary(per_seed)
    out["dice_ratio"] = {t: out["dice_synthetic"][t]["mean"] / real[t] for t in (*TISSUES, "mean")}
    out["dice_ratio_worst_seed"] = {
        t: out["dice_synthetic"][t]["min"] / real[t] for t in (*TISSUES, "mean")
    }
    ctrl = [dice(clf.predict(synthesize(untrained, he_idx, s, k)), he_idx) for s in NOISE_SEEDS]
    out["dice_untrained_control"] = _summary(ctrl)
    means = _class_means(tr_idx, tr_img, k)
    painted = means[he_idx]  # each label painted with its mean real training intensity
    out["dice_class_mean_painting"] = dice(clf.predict(painted), he_idx)
    out["intensity_means"] = {
        "real_train": means.tolist(),
        "synthetic_heldout": _class_means(he_idx, torch.cat(list(fakes.values()))
                                          .view(len(NOISE_SEEDS), *he_idx.shape)[0], k).tolist(),
    }  # fmt: skip
    out["edit"] = edit_test(g, clf, he_idx, means, k)
    nxt = np.diff(p.heldout_set.slice_index.numpy()) == 1
    out["ms_ssim"] = diversity(fakes, he_img, he_idx, torch.from_numpy(nxt))
    return out


def edit_test(
    g: torch.nn.Module, clf: torch.nn.Module, index: torch.Tensor, means: torch.Tensor, k: int
) -> dict:
    """Grow WM into GM by 1 and 2 px; how the bright (WM-like) area of the synthesis follows."""
    threshold = float((means[GM] + means[WM]) / 2)
    out: dict = {"threshold": threshold}
    base = {s: synthesize(g, index, s, k) for s in NOISE_SEEDS}
    for px in (1, 2):
        edited = grow_wm(index, px)
        changed = (edited == WM) & (index != WM)
        rows = []
        for s in NOISE_SEEDS:
            after = synthesize(g, edited, s, k)  # the same noise as ``base[s]``
            row = {}
            for name, bright in (
                ("classifier", lambda x: clf.predict(x) == WM),
                ("threshold", lambda x: x > threshold),
            ):
                b0, b1 = bright(base[s]), bright(after)
                row[f"{name}_area_ratio"] = float(b1.sum() / b0.sum())
                row[f"{name}_changed_bright_before"] = float(b0[changed].float().mean())
                row[f"{name}_changed_bright_after"] = float(b1[changed].float().mean())
            rows.append(row)
        out[f"grow_{px}px"] = {
            "wm_label_area_ratio": float((edited == WM).sum() / (index == WM).sum()),
            "changed_pixels": int(changed.sum()),
            **_summary(rows),
        }
    return out


def diversity(
    fakes: dict[int, torch.Tensor], real: torch.Tensor, index: torch.Tensor, nxt: torch.Tensor
) -> dict:
    """MS-SSIM between variations of one mask (every pair of noise seeds, every held-out mask)
    and, as references, between each real slice and its syntheses and between neighbouring real
    slices (``nxt``: slice i+1 is 2 mm from slice i); whole slice and brain only."""
    seeds = list(fakes)
    brain = (index > 0).float()
    out = {}
    for where, mask in (("whole", None), ("brain", brain)):
        pairs = [ms_ssim(fakes[a], fakes[b], mask) for i, a in enumerate(seeds)
                 for b in seeds[i + 1:]]  # fmt: skip
        ref = [ms_ssim(real, fakes[s], mask) for s in seeds]
        var, rs = torch.stack(pairs), torch.stack(ref)
        out[where] = {
            "variations_mean": float(var.mean()), "variations_max": float(var.max()),
            "real_vs_synthetic_mean": float(rs.mean()),
            "adjacent_real_mean": float(ms_ssim(real[:-1], real[1:],
                                                None if mask is None else mask[:-1])[nxt].mean()),
        }  # fmt: skip
    return out


def run(run_dir: Path | None, budget_min: float, work: Path, seed: int = 0, tag: str = "") -> Path:
    """Train (when ``run_dir`` is None) on every training slice, evaluate, write
    ``fidelity[-TAG].json``. A given run must hold out the same slabs (checked)."""
    torch.set_num_threads(2)
    p = load_pairs()
    facts: dict = {}
    if run_dir is None:
        run_dir = work / f"fidelity-s{seed}"
        facts = train_gan(p.dataset, run_dir, budget_min * 60, seed, split=p.split)
    synth = Synthesizer.from_checkpoint(run_dir, prefer="latest")
    split = synth_meta_split(run_dir)
    held = split["conditions"] if split else None
    if held and held != p.split.to_dict()["conditions"]:
        raise SystemExit(f"{run_dir} holds out other slices than this benchmark: {held}")
    g = synth.generator.eval()
    record = {
        "run": str(run_dir),
        "tag": tag,
        "run_step": synth.step,
        "budget_cpu_min": budget_min,
        "gan": facts,
        "heldout_slices": p.heldout_set.slice_index.tolist(),
        "cpu": cpu_name(),
        "torch_threads": torch.get_num_threads(),
        "precision": "fp32",
        "date": datetime.date.today().isoformat(),
        "code": code_fingerprint(),
        "command": "python benchmarks/bench_mask2image.py fidelity "
        + (f"--budget {budget_min:g}" if facts else f"--run {run_dir}")
        + (f" --tag {tag}" if tag else ""),
        **evaluate(p, g, untrained_generator(p.n_labels)),
    }
    RUNS.mkdir(parents=True, exist_ok=True)
    out = RUNS / (f"fidelity-{tag}.json" if tag else "fidelity.json")
    out.write_text(json.dumps(record, indent=2) + "\n")
    return out
