"""A held-out split given by the cohort table's ``split`` column, as a :class:`HoldoutSplit`.

The table says, per scan, ``train`` or ``heldout``; the split holds out the *groups* (patients,
or scans when no patient is known) of the held-out scans, so a patient listed on both sides is
refused rather than leaked. The result is an ordinary ``HoldoutSplit`` (mode ``groups``): the
trainer applies it, checkpoints record it and resume re-applies it, as for a computed split.
"""

from __future__ import annotations

from collections.abc import Sequence

from .data import SliceDataset
from .holdout import HoldoutError, HoldoutSplit, fingerprint


def split_from_table(
    ds: SliceDataset, scans: Sequence[str], groups: Sequence[str], splits: Sequence[str | None]
) -> HoldoutSplit | None:
    """The table's split over ``ds`` (None when no scan is marked held out).

    Parameters
    ----------
    ds : SliceDataset
        The prepared slices (``sources`` are scan names).
    scans, groups, splits : sequences
        Per scan: its name, its group (patient or scan) and ``"train"``, ``"heldout"`` or None
        (None counts as train).

    Raises
    ------
    HoldoutError
        When a patient has scans on both sides, or a condition would keep nothing to train on.
    """
    held = {g for g, s in zip(groups, splits) if s == "heldout"}
    if not held:
        return None
    both = sorted({g for g, s in zip(groups, splits) if s != "heldout"} & held)
    if both:
        raise HoldoutError(
            f"the table puts {both[0]} on both sides of the split (its scans are in train and "
            "heldout); one patient's scans must share a split"
        )
    split = HoldoutSplit(mode="groups", fraction=0.0, seed=0, gap=0)
    split.fingerprint = fingerprint(ds)
    labels = ds.labels.numpy()
    for ci, name in enumerate(ds.class_names):
        mine = sorted({ds.groups[i] for i in range(len(ds)) if labels[i] == ci} & held)
        entry = {"mode": "groups" if mine else "none", "groups": mine, "slabs": {}}
        entry["reason"] = "" if mine else "no held-out scan in the table"
        split.conditions[name] = entry
    train, heldout = split.masks(ds)
    for ci, name in enumerate(ds.class_names):
        in_cls = labels == ci
        entry = split.conditions[name]
        entry.update(train=int((train & in_cls).sum()), heldout=int((heldout & in_cls).sum()))
        entry["dropped"] = 0
        if in_cls.any() and entry["train"] == 0:
            raise HoldoutError(
                f"condition {name!r}: the table holds out every scan; keep one for training"
            )
    split.fraction = float(heldout.mean())
    return split
