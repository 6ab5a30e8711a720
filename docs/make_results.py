"""Evaluate a demo run with the held-out protocol and check it against an independent SWD.

``python docs/make_results.py RUN_DIR OUT_DIR`` evaluates the run's best checkpoint on the
MNI152 slices it was trained on (its held-out split is re-applied) and, against the same
reference, its latest checkpoint; writes the full report to ``OUT_DIR`` and prints what
``docs/results.md`` shows: the metric table with the real baseline and the two control rows
(verbatim training copies, untrained generator), the memorization verdicts, an independent
sliced Wasserstein distance for every scored set, and the gate on disguised copies given as
``--samples``.

The independent SWD shares no code with ``napari_medgan.engine.metrics``: its own Laplacian
pyramid (scipy gaussian filter, σ = 1, down to 16 px), 7×7 patches, ProGAN's per-set
normalisation (each set by its own mean/std) and numpy projections. It compares the same image
sets (generated, training real subsets, held-out real), so the direction of the two ratios can
be checked.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from napari_medgan.cli.demo import load_demo_volumes
from napari_medgan.engine import Sampler
from napari_medgan.engine.metrics import evaluate_sampler, write_report
from napari_medgan.engine.metrics.report import per_condition_line

KEYS = ("swd", "kid", "fd", "coverage", "recall", "precision", "density", "msssim_gap",
        "cond_accuracy", "swap_accuracy", "nn_distance",
        "nn_distance_feature", "authpct", "near_copy_fraction", "ct")


# ----------------------------------------------------------------- independent SWD (ProGAN-like)
def _pyramid(x: np.ndarray, min_size: int = 16) -> list[np.ndarray]:
    levels = []
    while x.shape[-1] // 2 >= min_size:
        low = ndimage.gaussian_filter(x, (0, 1, 1), mode="reflect")[:, ::2, ::2]
        up = ndimage.zoom(low, (1, 2, 2), order=1)[:, : x.shape[1], : x.shape[2]]
        levels.append(x - up)
        x = low
    levels.append(x)
    return levels


def _patches(level: np.ndarray, rng: np.random.Generator, per_image: int = 64) -> np.ndarray:
    n, h, w = level.shape
    ys = rng.integers(0, h - 6, (n, per_image))
    xs = rng.integers(0, w - 6, (n, per_image))
    out = np.stack([level[i, y : y + 7, x : x + 7].ravel()
                    for i in range(n) for y, x in zip(ys[i], xs[i])])
    return (out - out.mean()) / (out.std() + 1e-8)  # ProGAN: each set by its own statistics


def independent_swd(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """Mean over pyramid levels of the sliced Wasserstein distance (×10³) between two sets."""
    rng = np.random.default_rng(seed)
    total = []
    for la, lb in zip(_pyramid(a.astype(np.float64)), _pyramid(b.astype(np.float64))):
        pa, pb = _patches(la, rng), _patches(lb, rng)
        m = min(len(pa), len(pb))
        pa, pb = pa[rng.permutation(len(pa))[:m]], pb[rng.permutation(len(pb))[:m]]
        dists = []
        for _ in range(4):
            d = rng.normal(size=(49, 128))
            d /= np.linalg.norm(d, axis=0, keepdims=True)
            dists.append(np.abs(np.sort(pa @ d, 0) - np.sort(pb @ d, 0)).mean())
        total.append(np.mean(dists) * 1e3)
    return float(np.mean(total))


def matched(labels: np.ndarray, counts: dict[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:n]
                           for c, n in sorted(counts.items())])


# ----------------------------------------------------------------- table
def fmt(v) -> str:
    if v is None:
        return "–"
    v = float(v)
    return f"{v:.2e}" if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3) else f"{v:.3g}"


def cell(m: dict | None, ratio: bool = True) -> str:
    if m is None:
        return "–"
    ci = m.get("ci")
    text = fmt(m["value"]) + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")
    if ratio and m.get("ratio") is not None:
        text += f" ({m['ratio']:.2f}×)"
    return text


def main(run: str, out: Path) -> None:
    t0 = time.perf_counter()
    sampler = Sampler.from_checkpoint(run)  # the best held-out score
    res = evaluate_sampler(sampler, load_demo_volumes(), seed=0)
    seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=False)
    write_report(res, out, title=f"Demo run {run}")
    data, ref = res.to_dict(), res.reference
    ck, proto, rows = data["checkpoint"], data["protocol"], data["controls"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()
    print(f"checkpoint {ck['path']} ({ck['which']}, step {ck['step']}); code {commit}; "
          f"split {ck['split']['mode'] if ck['split'] else None}; train {proto['n_train']}, "
          f"held-out {proto['n_heldout']}, compared per set {proto['compared_per_condition']}")
    others = data.get("other_checkpoints", {})
    print(f"selected on: {ck.get('selected_on')}")
    print(f"| Metric | Trained, {ck['which']} (step {ck['step']}) | "
          + "".join(f"Trained, {k} (step {v['step']}) | " for k, v in others.items())
          + "Real baseline (training vs held-out) | Verbatim training slices | "
          "Untrained generator |")
    print("|---|---|" + "---|" * len(others) + "---|---|---|")
    for key in KEYS:
        m = res.metrics.get(key)
        if m is None:
            continue
        base = {"value": m.get("baseline"), "ci": m.get("baseline_ci")}
        print(f"| `{key}` | {cell(m)} | "
              + "".join(f"{cell(v['metrics'].get(key))} | " for v in others.values())
              + f"{cell(base, False)} | {cell(rows['verbatim']['metrics'].get(key))} | "
              f"{cell(rows['untrained']['metrics'].get(key))} |")
    # coverage and recall per condition: which condition's anatomy the model does not reach
    for key in ("coverage", "recall"):
        m = res.metrics[key]
        rows_pc = {f"{ck['which']}": m.get("per_condition", {}),
                   "baseline": m.get("baseline_per_condition", {}),
                   **{k: v["metrics"][key].get("per_condition", {}) for k, v in others.items()},
                   **{k: v["metrics"][key].get("per_condition", {}) for k, v in rows.items()}}
        print(f"{key} per condition (k = {m.get('k')}): " + "; ".join(
            f"{name} " + ", ".join(f"{c} {v:.2f}" for c, v in pc.items())
            for name, pc in rows_pc.items()))
    # SWD per condition, each with its ratio to that condition's real baseline
    swd_rows = {ck["which"]: res.metrics["swd"],
                **{k: v["metrics"]["swd"] for k, v in others.items()},
                **{k: v["metrics"]["swd"] for k, v in rows.items()}}
    for name, m in swd_rows.items():
        print(f"{name}: {per_condition_line(m)}")
    print("baseline: SWD per condition: " + ", ".join(
        f"{c} {fmt(v)}" for c, v in res.metrics["swd"].get("baseline_per_condition", {}).items()))
    for name, mem in (("trained", data["memorization"]), *(
            (k, v["memorization"]) for k, v in rows.items()), *(
            (f"{k} checkpoint", v["memorization"]) for k, v in others.items())):
        print(f"{name}: {'FLAGGED' if mem['flagged'] else 'not flagged'}; copied fraction "
              f"{mem['copied_fraction']:.2f}; {mem['reasons']}")

    # independent SWD on the same sets: generated / verbatim / untrained vs held-out, and the
    # baseline training-real vs held-out, each at the protocol's counts (5 draws averaged)
    counts = {ref.class_names.index(k): v for k, v in proto["compared_per_condition"].items()}
    h = ref.heldout
    gl = res.generated_labels
    ind = {"baseline": [], "trained": [], "verbatim": []}
    for d in range(5):
        ind["baseline"].append(independent_swd(ref.train[matched(ref.train_labels, counts, d)],
                                               h, seed=d))
        ind["trained"].append(independent_swd(res.generated[matched(gl, counts, 100 + d)], h,
                                              seed=d))
        ind["verbatim"].append(independent_swd(ref.train[matched(ref.train_labels, counts,
                                                                  200 + d)], h, seed=d))
    if "latest" in others:
        latest = Sampler.from_checkpoint(others["latest"]["path"])
        per = [counts[c] * 3 for c in sorted(counts)]
        lat = np.concatenate([latest.sample(int(k), ref.class_names[c], seed=c, units="model")
                              for c, k in zip(sorted(counts), per)])
        ll = np.repeat(sorted(counts), per)
        ind["latest"] = [independent_swd(lat[matched(ll, counts, 300 + d)], h, seed=d)
                         for d in range(5)]
    mean = {k: float(np.mean(v)) for k, v in ind.items()}
    print("independent SWD ×1e3 vs held-out: " + ", ".join(
        f"{k} {v:.1f} (ratio {v / mean['baseline']:.2f})" for k, v in mean.items())
        + f"; protocol SWD ratio {res.metrics['swd']['ratio']:.2f}"
        + "".join(f", {k} {v['metrics']['swd']['ratio']:.2f}" for k, v in others.items()))
    print(f"extractor {data['feature_extractor']['name']}; evaluation {seconds:.0f} s")
    disguised_copies(sampler)


def disguised_copies(sampler) -> None:
    """Every training slice, shifted 1 voxel and with noise σ = 0.05 (model range), scored as
    ``--samples`` would be (native units and shape, through the run's window and split)."""
    import dataclasses

    from napari_medgan.engine.holdout import HoldoutSplit
    from napari_medgan.engine.metrics.sampled import dataset_for, run_split

    vols = load_demo_volumes()
    ds, _ = dataset_for(sampler, vols)
    train_mask, _ = HoldoutSplit.from_dict(run_split(sampler)).masks(ds)
    rng, axis, samples = np.random.default_rng(0), sampler.config.slice_axis, []
    for v in vols:
        sel = train_mask & (np.asarray(ds.sources) == v.name)
        stack = np.take(np.asarray(v.data, np.float32), ds.slice_index.numpy()[sel], axis=axis)
        t = sampler.transforms[v.condition]
        stack = np.roll(stack, 1, axis=-1) + rng.normal(0, 0.025 * (t.high - t.low), stack.shape)
        samples.append(dataclasses.replace(v, data=stack.astype(np.float32)))
    res = evaluate_sampler(sampler, vols, samples=samples, seed=0, n_boot=100)
    mem = res.to_dict()["memorization"]
    print(f"disguised copies via samples: {len(res.generated)} images; "
          f"{'FLAGGED' if mem['flagged'] else 'not flagged'}; copied fraction "
          f"{mem['copied_fraction']:.2f} {mem['copied_fraction_ci']}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
