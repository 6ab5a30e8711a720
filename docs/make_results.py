"""Score a demo checkpoint against an untrained generator and verbatim training slices.

``python docs/make_results.py CHECKPOINT_DIR OUT_DIR`` evaluates the checkpoint on the MNI152
slices it was trained on, writes the full report to ``OUT_DIR`` and prints the markdown table
that ``docs/results.md`` shows (each value with its bootstrap interval, and the real-vs-real
baseline).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from napari_medgan.cli.demo import load_demo_volumes
from napari_medgan.engine import Generator, Sampler
from napari_medgan.engine.metrics import evaluate_sampler, score, write_report


def fmt(m: dict) -> str:
    return f"{m['value']:.4g} [{m['ci'][0]:.3g}, {m['ci'][1]:.3g}]"


def main(ckpt: str, out: Path) -> None:
    t0 = time.perf_counter()
    sampler = Sampler.from_checkpoint(ckpt)
    res = evaluate_sampler(sampler, load_demo_volumes(), seed=0)
    t_eval = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=False)
    write_report(res, out, title=f"Demo checkpoint {ckpt}")
    ref, cfg, labels = res.reference, sampler.config, res.generated_labels
    torch.manual_seed(0)
    g = Generator(cfg.z_dim, cfg.size, len(sampler.class_names), cfg.base_channels,
                  cfg.max_channels).eval()
    with torch.no_grad():
        z = torch.randn(len(labels), cfg.z_dim, generator=torch.Generator().manual_seed(0))
        untrained = g(z, torch.as_tensor(labels))[:, 0].numpy()
    bad = score(ref, untrained, labels)
    pick = np.random.default_rng(0).choice(len(ref.images), size=len(labels),
                                           replace=len(labels) > len(ref.images))
    copy = score(ref, ref.images[pick], ref.labels[pick])
    print(f"| Metric | Trained (step {sampler.step}) | Untrained generator | "
          "Verbatim training slices | Real vs real baseline |")
    print("|---|---|---|---|---|")
    for key, m in res.metrics.items():
        u, c = bad.metrics.get(key), copy.metrics.get(key)
        base = f"{m['baseline']:.4g} [{m['baseline_ci'][0]:.3g}, {m['baseline_ci'][1]:.3g}]"
        print(f"| `{key}` | {fmt(m)} | {fmt(u) if u else '–'} | {fmt(c) if c else '–'} | {base} |")
    for name, r in {"trained": res, "untrained": bad, "verbatim": copy}.items():
        d = r.to_dict()["memorization"]
        print(f"{name}: {'FLAGGED' if d['flagged'] else 'not flagged'} {d['reasons']}")
    print(f"evaluation took {t_eval:.0f} s; extractor {res.data['feature_extractor']['name']}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
