"""Level controls (``bench_quality.py levels``): what SWD against the held-out slices rewards.

Each control is a set of *real training slices* scored like a generator (:func:`.scoring.score`
uses the same ``swd`` at the held-out count, mean of three draws): all of them (the real
baseline), only the middle or the lower half of the levels, one middle slice repeated. A split
whose held-out slices are a fair reference scores every control worse than all training slices;
the slab split scores the middle half far *better* (its held-out slabs sit at middle levels).
The engine's own split (two slabs at seed-drawn positions, ``napari-medgan train``'s default)
is controlled too, for a few seeds. Writes ``quality_runs/levels.json``; the report turns it
into a table.
"""

from __future__ import annotations

import copy
import json
import time

import numpy as np

from napari_medgan.engine.metrics.swd import swd

from .data import setup

#: Control name -> training-slice indices it draws from (slices are in level order).
CONTROLS = {
    "all training slices (the real baseline)": lambda n: np.arange(n),
    "only the middle half of the levels": lambda n: np.arange(n // 4, 3 * n // 4),
    "only the lower half of the levels": lambda n: np.arange(n // 2),
    "one middle slice repeated": lambda n: np.array([n // 2]),
}


def control_swd(train_by_c, held_by_c, pick, draws: int = 3, seed: int = 0) -> float:
    """Mean over conditions of SWD×10³ between ``pick``'s slices (held-out count) and held-out."""
    rng = np.random.default_rng(seed)
    out = []
    for tr, he in zip(train_by_c, held_by_c):
        idx = pick(len(tr))
        sets = [tr[rng.choice(idx, len(he), replace=len(idx) < len(he))] for _ in range(draws)]
        out.append(1e3 * np.mean([swd(x, he, seed=k).value for k, x in enumerate(sets)]))
    return float(np.mean(out))


#: Seeds of the engine's own split (``holdout=0.2``, ``holdout_slabs=2``) also controlled.
ENGINE_SEEDS = 4


def engine_split(ds, seed: int):
    """Per condition: training slices in level order and held-out slices of the engine's split."""
    from napari_medgan.engine.holdout import split_dataset

    train, held, _ = split_dataset(ds, 0.2, seed, slabs=2)
    train_by_c, held_by_c = [], []
    for c in range(len(ds.class_names)):
        in_t = (train.labels == c).numpy()
        order = np.argsort(train.slice_index.numpy()[in_t])
        train_by_c.append(train.images.numpy()[in_t][:, 0][order])
        held_by_c.append(held.images.numpy()[(held.labels == c).numpy()][:, 0])
    return train_by_c, held_by_c


def _controlled(train_by_c, held_by_c) -> dict:
    """Every control's SWD on one split, with the split's counts."""
    return {
        "n_train": [len(t) for t in train_by_c],
        "n_held": [len(h) for h in held_by_c],
        "swd": {name: control_swd(train_by_c, held_by_c, pick) for name, pick in CONTROLS.items()},
    }


def level_controls(args, path) -> dict:
    """Every control on both splits (as :func:`.data.setup` makes them) and on the engine's
    split for :data:`ENGINE_SEEDS` seeds; saved to ``path``."""
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "splits": {}}
    splits = result["splits"]
    for split in ("slabs", "interleaved"):
        a = copy.copy(args)
        a.split, a.gap = split, None
        ds, _, train_by_c, held_by_c = setup(a)
        splits[split] = _controlled(train_by_c, held_by_c)
    for seed in range(ENGINE_SEEDS):  # the engine's own protocol split, as `train` makes it
        splits[f"engine seed {seed}"] = _controlled(*engine_split(ds, seed))
    for name, row in splits.items():
        print(name, {k: round(v, 1) for k, v in row["swd"].items()})
    path.write_text(json.dumps(result, indent=1))
    return result


def level_table(path) -> list[str]:
    """The report's section for ``levels.json`` (nothing if it was never measured)."""
    if not path.exists():
        return []
    d = json.loads(path.read_text())
    splits = list(d["splits"])
    out = [
        "## Level controls: what SWD against the held-out slices rewards",
        "",
        "Real training slices scored like a generator (SWD×10³, mean of conditions; in brackets "
        f"the ratio to all training slices). `bench_quality.py --levels`, {d['date']}.",
        "",
        "| reference set | " + " | ".join(f"{s} split" for s in splits) + " |",
        "|---|" + "---|" * len(splits),
    ]
    for name in CONTROLS:
        cells = []
        for s in splits:
            rows = d["splits"][s]["swd"]
            base = rows[next(iter(CONTROLS))]
            cells.append(f"{rows[name]:.0f} ({rows[name] / base:.2f}×)")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out
