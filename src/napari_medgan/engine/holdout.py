"""Held-out real slices, reserved when a run starts and never shown to training.

Quality and memorization can only be told apart against real data the generator never saw, so
every run splits its :class:`~napari_medgan.engine.data.SliceDataset` before training:

- **Whole groups** (patients or scans; ``SliceDataset.groups``, by default the source name) when
  a condition has at least two of them. Groups are drawn in one seeded order shared by all
  conditions, so a patient held out in one condition tends to be held out in the others too.
- Otherwise **``slabs`` contiguous slabs per source** (runs of neighbouring slices; default 2),
  one in each of ``slabs`` equal segments of the slice range, so the held-out reference shows
  more than one region of the anatomy. The slabs' relative position within their segments is
  drawn once from the seed and used for every source, so co-registered scans of several
  conditions (e.g. the MNI152 T1 and its tissue maps) hold out the same anatomy. ``gap`` slices
  on both sides of each slab are dropped from training as well.

Why two slabs: measured by ``benchmarks/bench_holdout_slabs.py`` on the MNI152 templates (axial,
32 px, fraction 0.2, gap 4, mean of 8 seeds), the mean distance of a slice to its nearest
held-out slice (relative to a random pair of the scan) falls from 0.69 (1 slab) to 0.54 (2),
0.46 (3), 0.43 (4) while training keeps 140, 117, 94, 72 of 203 slices: the second slab buys
about twice the coverage per lost training slice of the third (docs/evaluation.md).

Why a gap, and why 4 slices: adjacent slices are nearly the same image. On the MNI152 templates
(T1, GM, WM at 32 px, the training pipeline's normalisation), the pixel RMS distance between two
slices ``k`` apart, as a fraction of the mean distance between two random slices of the same
scan, grows as follows (measured with ``build_dataset`` on this project's data)::

    lag k (slices)         1     2     3     4     5     6     8
    2 mm spacing (T1)    0.15  0.27  0.37  0.46  0.53  0.60  0.71
    2 mm spacing (GM/WM) 0.24  0.42  0.55  0.65  0.73  0.79  0.89
    4 mm spacing (T1)    0.27  0.45  0.59  0.70  0.79  0.88  1.02
    4 mm spacing (GM/WM) 0.42  0.64  0.77  0.87  0.94  1.00  1.11

With a gap of 4, the nearest training slice is 5 slices from the held-out slab: at 2 mm it is
already about half to three quarters of a random pair apart, at 4 mm 0.8-0.9. A gap of 1 would
leave a training slice at 15-40 % of that distance, which a copying generator could pass off as a
"new" held-out-like image. Larger gaps cost training data (2 x gap slices per source), so on very
small sources the gap is narrowed until training keeps at least as many slices as are held out;
the gap actually used is recorded per source.

Data too small for a split (a condition with a single 2D image, or sources of fewer than
``MIN_SLICES`` slices) is not split: the :class:`HoldoutSplit` says so (``mode == "none"`` for the
condition, and for the run when no condition could be split) with the reason.

The split is deterministic in (provenance, fraction, seed) and is stored in checkpoints
(:meth:`HoldoutSplit.to_dict`); :meth:`HoldoutSplit.apply` reproduces it on a dataset rebuilt from
the same inputs and refuses data that differ.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import DataError, SliceDataset

DEFAULT_GAP = 4
DEFAULT_SLABS = 2
MIN_SLICES = 8
MAX_FRACTION = 0.5
MODES = ("groups", "slabs", "mixed", "none")
NO_HELDOUT_WARNING = (
    "no held-out data: quality and memorization cannot be separated "
    "(scores compare the model with its own training slices)"
)


class HoldoutError(DataError):
    """A split cannot be made or re-applied; the message says why."""


@dataclass
class HoldoutSplit:
    """Which slices are held out, per condition, in a JSON-serialisable form.

    Attributes
    ----------
    mode : str
        ``"groups"``, ``"slabs"``, ``"mixed"`` (some conditions each way) or ``"none"``.
    fraction, seed, gap : float, int, int
        The request the split was made from.
    conditions : dict
        Per condition: ``mode``, ``reason`` (why not split, or ``""``), held-out ``groups``,
        ``slabs`` (``{source: {"first", "last", "gap"}}``, slice indices inclusive), and the
        counts ``train``, ``heldout`` and ``dropped`` (gap slices used by neither).
    fingerprint : str
        Hash of the provenance (condition, group, source, slice index) of every slice.
    reason : str
        Why nothing is held out (only when ``mode == "none"``).
    """

    mode: str
    fraction: float
    seed: int
    gap: int
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    fingerprint: str = ""
    reason: str = ""

    # ------------------------------------------------------------------ summaries
    @property
    def n_train(self) -> int:
        return sum(int(c["train"]) for c in self.conditions.values())

    @property
    def n_heldout(self) -> int:
        return sum(int(c["heldout"]) for c in self.conditions.values())

    @property
    def n_dropped(self) -> int:
        return sum(int(c["dropped"]) for c in self.conditions.values())

    def has_heldout(self, condition: str | None = None) -> bool:
        """Whether held-out slices exist (for one condition, or for any)."""
        if condition is not None:
            entry = self.conditions.get(condition)
            return bool(entry and entry["heldout"] > 0)
        return self.n_heldout > 0

    def summary(self) -> str:
        """One line for people: what is held out, how, and what training lost to the gap."""
        if not self.has_heldout():
            return f"{NO_HELDOUT_WARNING}; {self.reason}"
        parts = []
        for name, c in self.conditions.items():
            if c["mode"] == "groups":
                total = c.get("n_groups")  # absent in splits given by a cohort table
                scans = f"of {total} scans" if total else "scan(s)"
                parts.append(f"{name}: {len(c['groups'])} {scans} ({c['heldout']} slices)")
            elif c["mode"] == "slabs":
                slabs = [s for v in c["slabs"].values() for s in slab_list(v)]
                gaps = sorted({int(slab["gap"]) for slab in slabs})
                parts.append(
                    f"{name}: {c['heldout']} slices in {len(slabs)} slab(s), "
                    f"gap {'/'.join(map(str, gaps))}"
                )
            else:
                parts.append(f"{name}: none ({c.get('reason') or 'nothing held out'})")
        text = (
            f"held out {self.n_heldout} of {self.n_train + self.n_heldout + self.n_dropped} "
            f"slices ({self.mode}; " + "; ".join(parts) + ")"
        )
        if self.n_dropped:
            text += f"; {self.n_dropped} slices beside the slabs (gap) are not trained on"
        return text

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "fraction": float(self.fraction),
            "seed": int(self.seed),
            "gap": int(self.gap),
            "conditions": {k: dict(v) for k, v in self.conditions.items()},
            "fingerprint": self.fingerprint,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HoldoutSplit:
        try:
            split = cls(
                mode=str(d["mode"]),
                fraction=float(d["fraction"]),
                seed=int(d["seed"]),
                gap=int(d["gap"]),
                conditions={str(k): dict(v) for k, v in d.get("conditions", {}).items()},
                fingerprint=str(d.get("fingerprint", "")),
                reason=str(d.get("reason", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HoldoutError(f"unreadable held-out split record ({exc!r})") from None
        if split.mode not in MODES:
            raise HoldoutError(f"unknown held-out split mode {split.mode!r}")
        return split

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> HoldoutSplit:
        """The split a checkpoint's ``meta`` records.

        Checkpoints written before held-out splits existed trained on every slice: they give
        a split with ``mode == "none"`` that holds nothing out, and says why.
        """
        record = meta.get("split")
        if record is None:
            return cls(
                mode="none",
                fraction=0.0,
                seed=0,
                gap=0,
                reason="the checkpoint was trained without a held-out split",
            )
        return cls.from_dict(record)

    # ------------------------------------------------------------------ use
    def masks(self, ds: SliceDataset) -> tuple[np.ndarray, np.ndarray]:
        """Boolean ``(train, heldout)`` masks over ``ds``'s slices (gap slices in neither).

        Raises
        ------
        HoldoutError
            When ``ds`` is not the data the split was made on.
        """
        self._check_same_data(ds)
        n = len(ds)
        heldout, dropped = np.zeros(n, bool), np.zeros(n, bool)
        labels = ds.labels.numpy()
        sidx = ds.slice_index.numpy()
        groups, sources = np.asarray(ds.groups, dtype=object), np.asarray(ds.sources, dtype=object)
        for ci, name in enumerate(ds.class_names):
            entry = self.conditions.get(name)
            if not entry or entry["mode"] == "none":
                continue
            in_cls = labels == ci
            if entry["mode"] == "groups":
                heldout |= in_cls & np.isin(groups, list(entry["groups"]))
                continue
            for source, record in entry["slabs"].items():
                mine = in_cls & (sources == source)
                for slab in slab_list(record):
                    lo, hi, g = int(slab["first"]), int(slab["last"]), int(slab["gap"])
                    heldout |= mine & (sidx >= lo) & (sidx <= hi)
                    dropped |= mine & (sidx >= lo - g) & (sidx <= hi + g)
        dropped &= ~heldout
        return ~(heldout | dropped), heldout

    def apply(self, ds: SliceDataset) -> tuple[SliceDataset, SliceDataset | None]:
        """Reproduce the split on ``ds``: ``(train, heldout or None)``.

        Raises
        ------
        HoldoutError
            When ``ds`` was not built from the same inputs (other scans, slices or conditions).
        """
        train, heldout = self.masks(ds)
        return ds.subset(train), (ds.subset(heldout) if heldout.any() else None)

    def _check_same_data(self, ds: SliceDataset) -> None:
        if self.fingerprint and fingerprint(ds) != self.fingerprint:
            raise HoldoutError(
                "the held-out split was made on other data: " + _difference(self, ds)
            )


def split_dataset(
    ds: SliceDataset,
    fraction: float,
    seed: int,
    gap: int = DEFAULT_GAP,
    slabs: int = DEFAULT_SLABS,
) -> tuple[SliceDataset, SliceDataset | None, HoldoutSplit]:
    """Hold out about ``fraction`` of every condition's slices.

    Parameters
    ----------
    ds : SliceDataset
        All slices, with provenance (``sources``, ``slice_index``, ``groups``).
    fraction : float
        Share of each condition's slices to hold out, in ``[0, 0.5]``; 0 holds out nothing.
    seed : int
        Seed of the choice of groups and of the slab position.
    gap : int
        Slices on both sides of a held-out slab that training does not see either.
    slabs : int
        Slabs per source when a condition has a single scan, spread along the slice axis (each
        costs ``2 * gap`` training slices); never more than the slices held out.

    Returns
    -------
    train, heldout, split
        The training slices, the held-out slices (None when nothing is held out) and the record.
    """
    if not (0.0 <= float(fraction) <= MAX_FRACTION):
        raise HoldoutError(
            f"held-out fraction must be between 0 and {MAX_FRACTION} (got {fraction})"
        )
    if not isinstance(gap, (int, np.integer)) or isinstance(gap, bool) or gap < 0:
        raise HoldoutError(f"gap must be a non-negative number of slices (got {gap!r})")
    if not isinstance(slabs, (int, np.integer)) or isinstance(slabs, bool) or slabs < 1:
        raise HoldoutError(f"slabs must be a positive number of slabs (got {slabs!r})")
    split = HoldoutSplit(mode="none", fraction=float(fraction), seed=int(seed), gap=int(gap))
    split.fingerprint = fingerprint(ds)
    labels = ds.labels.numpy()
    sidx = ds.slice_index.numpy()
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x40D0])
    group_order = {g: i for i, g in enumerate(rng.permutation(sorted(set(ds.groups))).tolist())}
    slab_u = float(rng.random())
    for ci, name in enumerate(ds.class_names):
        in_cls = np.flatnonzero(labels == ci)
        n_cls = len(in_cls)
        entry: dict[str, Any] = {"mode": "none", "reason": "", "groups": [], "slabs": {}}
        if fraction == 0:
            entry["reason"] = "holdout disabled (fraction 0)"
        elif n_cls == 0:
            entry["reason"] = "no slices"
        else:
            groups = sorted({ds.groups[i] for i in in_cls}, key=group_order.__getitem__)
            if len(groups) >= 2:
                entry.update(_pick_groups(ds, in_cls, groups, fraction))
            else:
                entry.update(_pick_slabs(ds, in_cls, sidx, fraction, gap, slab_u, slabs))
        split.conditions[name] = entry
    train, heldout = split.masks(ds)
    for ci, name in enumerate(ds.class_names):
        entry = split.conditions[name]
        in_cls = labels == ci
        entry["train"] = int((train & in_cls).sum())
        entry["heldout"] = int((heldout & in_cls).sum())
        entry["dropped"] = int((in_cls & ~train & ~heldout).sum())
    modes = {c["mode"] for c in split.conditions.values()} - {"none"}
    split.mode = "none" if not modes else (modes.pop() if len(modes) == 1 else "mixed")
    if split.mode == "none":
        reasons = {c["reason"] for c in split.conditions.values()}
        split.reason = "; ".join(sorted(reasons)) if len(reasons) > 1 else reasons.pop()
    return ds.subset(train), (ds.subset(heldout) if heldout.any() else None), split


def fingerprint(ds: SliceDataset) -> str:
    """A short hash of every slice's (condition, group, source, slice index), order-free."""
    rows = sorted(
        f"{ds.class_names[int(lab)]}\t{g}\t{s}\t{int(i)}"
        for lab, g, s, i in zip(ds.labels.tolist(), ds.groups, ds.sources, ds.slice_index.tolist())
    )
    return "sha256:" + hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def _pick_groups(
    ds: SliceDataset, in_cls: np.ndarray, groups: list[str], fraction: float
) -> dict[str, Any]:
    """The prefix of the seeded group order whose slice count comes closest to the target."""
    sizes = {g: 0 for g in groups}
    for i in in_cls:
        sizes[ds.groups[i]] += 1
    target = fraction * len(in_cls)
    cum = np.cumsum([sizes[g] for g in groups])[:-1]  # at least one group stays in training
    k = int(np.argmin(np.abs(cum - target))) + 1
    return {"mode": "groups", "groups": groups[:k], "n_groups": len(groups)}


def slab_list(record: dict[str, int] | list[dict[str, int]]) -> list[dict[str, int]]:
    """The slabs of one source: a list (k slabs) or, in splits recorded before k > 1, one dict."""
    return [record] if isinstance(record, dict) else list(record)


def _pick_slabs(
    ds: SliceDataset,
    in_cls: np.ndarray,
    sidx: np.ndarray,
    fraction: float,
    gap: int,
    u: float,
    n_slabs: int = 1,
) -> dict[str, Any]:
    """``n_slabs`` slabs per source, one in each of ``n_slabs`` equal segments of the slice range,
    at relative position ``u`` within its segment; the gap narrowed only if it must be.

    With one slab the record is the single ``{"first", "last", "gap"}`` dict of older splits (the
    same slices as before), with several a list of them.
    """
    slabs: dict[str, Any] = {}
    small = []
    cls_sources = np.asarray(ds.sources, dtype=object)[in_cls]
    for source in dict.fromkeys(cls_sources.tolist()):
        pos = np.unique(sidx[in_cls[cls_sources == source]])
        n = len(pos)
        if n < MIN_SLICES:
            small.append(f"{source} has {n} slice{'s' if n != 1 else ''}")
            continue
        n_h = max(1, round(fraction * n))
        k = max(1, min(int(n_slabs), n_h))
        widths = [n_h // k + (1 if j < n_h % k else 0) for j in range(k)]
        bounds = [round(n * j / k) for j in range(k + 1)]
        ranges = []
        for j, w in enumerate(widths):
            seg = bounds[j + 1] - bounds[j]
            start = bounds[j] + max(0, min(int(u * (seg - w + 1)), seg - w))
            ranges.append((int(pos[start]), int(pos[min(start + w, n) - 1])))
        g = gap
        while g > 0 and _kept(pos, ranges, g) < n_h:
            g -= 1
        found = [{"first": lo, "last": hi, "gap": g} for lo, hi in ranges]
        slabs[source] = found[0] if k == 1 else found
    if not slabs:
        return {
            "mode": "none",
            "reason": "too small to hold out a slab with a gap (one scan, "
            + ", ".join(small)
            + f"; at least {MIN_SLICES} slices are needed)",
        }
    out: dict[str, Any] = {"mode": "slabs", "slabs": slabs}
    if small:
        out["reason"] = "kept whole for training: " + ", ".join(small)
    return out


def _kept(pos: np.ndarray, ranges: list[tuple[int, int]], gap: int) -> int:
    """Slices of ``pos`` outside every slab widened by ``gap``: what training keeps."""
    out = np.ones(len(pos), bool)
    for lo, hi in ranges:
        out &= (pos < lo - gap) | (pos > hi + gap)
    return int(out.sum())


def _difference(split: HoldoutSplit, ds: SliceDataset) -> str:
    """The first visible difference between the split's data and ``ds``, in words."""
    have = list(ds.class_names)
    want = list(split.conditions)
    if set(have) != set(want):
        return f"conditions {want} then, {have} now"
    counts = ds.counts()
    for name in want:
        entry = split.conditions[name]
        total = sum(int(entry.get(k, 0)) for k in ("train", "heldout", "dropped"))
        if total != counts[name]:
            return (
                f"condition {name!r} had {total} slices, now {counts[name]} "
                "(other scans, slice axis, size or foreground threshold?)"
            )
        for source in entry.get("slabs", {}):
            if source not in ds.sources:
                return f"scan {source!r} of condition {name!r} is missing"
        for group in entry.get("groups", []):
            if group not in ds.groups:
                return f"held-out scan/patient {group!r} of condition {name!r} is missing"
    return "the scans or slice positions differ (same counts, other provenance)"
