"""docs/mask2image_pairs.png: real held-out pairs, deformed masks and their syntheses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from napari_medgan.engine.families.mask2image.infer import Synthesizer

from . import ROOT
from .data import Pairs, deform_pair, load_pairs
from .gan import synthesize

#: Held-out slices shown (positions in the held-out set: both slabs), the first ``shown``
#: of them, in slice order.
SHOWN = (6, 14, 1, 9)
COLUMNS = ("real T1", "its mask", "synthetic\n(that mask)", "deformed mask",
           "synthetic\n(deformed, seed 1)", "synthetic\n(deformed, seed 2)")  # fmt: skip


def pairs_figure(run_dirs: list[Path], out: Path | None = None, shown: int = 4) -> Path:
    """Rows: real T1 | mask | synthesis of the mask | a deformed mask | two of its syntheses;
    ``shown`` held-out slices per run, one block of rows per run (labelled with its step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.set_num_threads(2)
    p = load_pairs()
    rows, names = [], []
    for run_dir in run_dirs:
        synth = Synthesizer.from_checkpoint(run_dir, prefer="latest")
        picked = tuple(sorted(SHOWN[:shown]))
        rows += _rows(synth.generator.eval(), p, picked)
        names += [f"step {synth.step}, slice {int(p.heldout_set.slice_index[j])}"
                  for j in picked]  # fmt: skip
    n_r, n_c = len(rows), len(COLUMNS)
    fig, axes = plt.subplots(n_r, n_c, figsize=(1.6 * n_c, 1.75 * n_r), squeeze=False)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            ax = axes[r, c]
            is_mask = c in (1, 3)
            ax.imshow(np.asarray(img, np.float32), cmap="viridis" if is_mask else "gray",
                      vmin=0 if is_mask else -1, vmax=p.n_labels - 1 if is_mask else 1,
                      interpolation="nearest")  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(COLUMNS[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(names[r], fontsize=7)
    fig.suptitle("MNI152 held-out slices, 64 px; masks: 0 background, 1 CSF, 2 GM, 3 WM",
                 fontsize=8)  # fmt: skip
    fig.tight_layout()
    out = out or ROOT / "docs" / "mask2image_pairs.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _rows(g: torch.nn.Module, p: Pairs, shown: tuple[int, ...]) -> list[list[torch.Tensor]]:
    he_idx, he_img = p.heldout
    rows = []
    for j in shown:
        moved, _ = deform_pair(he_idx[j], None, p.spacing, 100 + j)
        rows.append([
            he_img[j], he_idx[j], synthesize(g, he_idx[j : j + 1], 0, p.n_labels)[0], moved,
            synthesize(g, moved[None], 1, p.n_labels)[0],
            synthesize(g, moved[None], 2, p.n_labels)[0],
        ])  # fmt: skip
    return rows
