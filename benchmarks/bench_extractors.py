"""Which KID/FD feature extractor ranks the controls correctly?

``python benchmarks/bench_extractors.py RUN_DIR [CHECKPOINT...]`` takes a demo-like run trained
with a held-out split, re-applies its split to the MNI152 slices and scores three sets against
the held-out reference with each candidate extractor:

- verbatim: random training slices (a perfect copier: should score like the real baseline);
- trained: the run's best checkpoint (and each further CHECKPOINT folder, e.g. the latest);
- untrained: the same generator architecture at its random initialisation.

For a distance metric the right order is verbatim < trained < untrained. Candidates:

- ``random``: the fixed random-weight CNN (:class:`~napari_medgan.engine.metrics.RandomFeatures`,
  the default);
- ``trained-on-train``: the same small CNN as the condition classifier, trained 300 steps on the
  run's training slices (rotation + condition + slice position) — never on the scored sets;
- ``pixels-pca``: 64 principal components of the training slices' pixels.

Prints KID and FD, each as a ratio to the real baseline (training real vs held-out real at the
same counts), and whether the order holds. Run with ``OMP_NUM_THREADS=1`` on a shared machine.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from draws import draw_generated

from napari_medgan.cli.demo import load_demo_volumes
from napari_medgan.engine import Sampler
from napari_medgan.engine.metrics import RandomFeatures, prepare_reference, score
from napari_medgan.engine.metrics.features import position_bins, train_net
from napari_medgan.engine.metrics.memorization import pca_apply, pca_fit
from napari_medgan.engine.metrics.sampled import (
    dataset_for,
    labels_in,
    run_split,
    split_real,
    untrained_like,
)


class PixelPCA:
    """Pixels projected on the training slices' first 64 principal axes."""

    def __init__(self, train: np.ndarray) -> None:
        self.mean, self.axes = pca_fit(train, 64)

    def features(self, images: np.ndarray) -> np.ndarray:
        return pca_apply(images, self.mean, self.axes)

    def describe(self) -> dict:
        return {"name": "pixels-pca64", "sha256": "-"}

    sha256 = "-"


def main(run: str, others: list[str]) -> None:
    sampler = Sampler.from_checkpoint(run)
    ds, _ = dataset_for(sampler, load_demo_volumes())
    train, held = split_real(sampler, ds, run_split(sampler))
    x_t, y_t = train.images[:, 0].numpy(), labels_in(sampler, train)
    x_h, y_h = held.images[:, 0].numpy(), labels_in(sampler, held)
    present = sorted(set(y_t.tolist()))
    per = np.array([3 * (y_h == c).sum() for c in present])
    checkpoints = {f"step {sampler.step}": sampler}
    for other in others:
        s = Sampler.from_checkpoint(other)
        checkpoints[f"step {s.step}"] = s
    gens = {k: draw_generated(s, present, per, 0) for k, s in checkpoints.items()}
    unt = draw_generated(untrained_like(sampler, 0), present, per, 0)
    labels = np.repeat(present, per)
    pos = position_bins(list(train.sources))
    targets = {"condition": y_t, **({"position": pos} if pos is not None else {})}
    candidates = {
        "random": lambda: RandomFeatures(0),
        "trained-on-train": lambda: train_net(x_t, targets, "features", steps=300, seed=0),
        "pixels-pca": lambda: PixelPCA(x_t),
    }
    print(f"run {run}; checkpoints {list(checkpoints)}; train {len(x_t)}, held-out "
          f"{len(x_h)}, scored {len(labels)} per set")
    print("| extractor (sha256) | checkpoint | metric | ratio verbatim / trained / untrained | "
          "order verbatim < trained < untrained | intervals verbatim vs trained |")
    print("|---|---|---|---|---|---|")
    for name, build in candidates.items():
        t0 = time.process_time()
        ext = build()
        built = time.process_time() - t0
        ref = prepare_reference(x_t, y_t, list(train.sources), sampler.class_names,
                                heldout=x_h, heldout_labels=y_h,
                                heldout_groups=list(held.sources), n_boot=100,
                                classifier_steps=20, extractor=ext)
        sha = str(getattr(ext, "sha256", "-"))[:12]
        for ck, gen in gens.items():
            res = score(ref, gen, labels, untrained=unt)
            rows = {"verbatim": res.to_dict()["controls"]["verbatim"]["metrics"],
                    "trained": res.metrics,
                    "untrained": res.to_dict()["controls"]["untrained"]["metrics"]}
            for key in ("kid", "fd"):
                r = [rows[k][key]["ratio"] for k in ("verbatim", "trained", "untrained")]
                vals = [rows[k][key]["value"] for k in ("verbatim", "trained", "untrained")]
                ok = vals[0] < vals[1] < vals[2]
                ci_t, ci_v = rows["trained"][key]["ci"], rows["verbatim"][key]["ci"]
                print(f"| {name} ({sha}) | {ck} | {key} | {r[0]:.2f} / {r[1]:.2f} / "
                      f"{r[2]:.3g} | {'right' if ok else 'WRONG'} | "
                      f"{'separate' if ci_v[1] < ci_t[0] else 'overlap'} |")
        print(f"<!-- {name}: built in {built:.1f} s CPU, all rows {time.process_time() - t0:.0f}"
              " s CPU -->")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
