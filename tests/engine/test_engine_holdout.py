"""The held-out split on real MNI slices: nothing held out reaches training, ever."""

import numpy as np
import pytest
import torch

from engine_fixtures import mni_arrays, mni_volumes, tiny_config
from napari_medgan.engine import (
    CheckpointError,
    ConfigError,
    HoldoutError,
    HoldoutSplit,
    Trainer,
    Volume,
    build_dataset,
    split_dataset,
)
from napari_medgan.engine.checkpoint import load_checkpoint
from napari_medgan.engine.holdout import DEFAULT_GAP, DEFAULT_SLABS, MIN_SLICES
from napari_medgan.engine.trainer import _split_from_checkpoint


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(mni_volumes(), size=32)


def _keys(ds):
    return {
        (ds.class_names[int(lab)], s, int(i))
        for lab, s, i in zip(ds.labels, ds.sources, ds.slice_index)
    }


def _min_pixel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.cdist(a.flatten(1), b.flatten(1)).min())


def _cohort(n_patients=4, per=12):
    """Several 'patients' per condition: each a different block of MNI slices."""
    vols = []
    for name, arr, sp in mni_arrays():
        for k in range(n_patients):
            block = arr[8 + k * per : 8 + (k + 1) * per]
            vols.append(Volume(block, sp, condition=name, name=f"{name}-p{k}", group=f"p{k}"))
    return build_dataset(vols, size=32)


def test_provenance_filled_and_subset_keeps_maps(dataset):
    assert len(dataset.sources) == len(dataset.groups) == len(dataset.slice_index) == len(dataset)
    assert dataset.slice_index.dtype == torch.int64
    assert dataset.groups == dataset.sources  # groups default to the source name
    t1 = dataset.slice_index[np.array(dataset.sources) == "T1"]
    assert torch.all(t1[1:] > t1[:-1])  # indices in the source volume, increasing
    sub = dataset.subset([0, 5, 7])
    assert len(sub) == 3 and torch.equal(sub.images[1], dataset.images[5])
    assert sub.slice_index.tolist() == dataset.slice_index[[0, 5, 7]].tolist()
    assert sub.transforms == dataset.transforms and sub.geometry == dataset.geometry
    assert sub.class_names == dataset.class_names and sub.conditional


def test_slab_split_holds_out_slices_and_gap(dataset):
    train, held, split = split_dataset(dataset, 0.2, seed=0, slabs=1)
    assert split.mode == "slabs" and split.gap == DEFAULT_GAP
    for name in dataset.class_names:
        c = split.conditions[name]
        assert c["train"] > 0 and c["heldout"] > 0, name
        assert c["train"] + c["heldout"] + c["dropped"] == dataset.counts()[name]
    # nothing held out is trained on, by provenance and by pixels
    assert not _keys(train) & _keys(held)
    assert _min_pixel_distance(held.images, train.images) > 0.5
    # the gap: no training slice within DEFAULT_GAP slices of a held-out one of its scan
    for source in dict.fromkeys(held.sources):
        h = held.slice_index[np.array(held.sources) == source]
        t = train.slice_index[np.array(train.sources) == source]
        assert torch.all(h[1:] - h[:-1] == 1)  # one contiguous slab
        assert int((t[:, None] - h[None, :]).abs().min()) > DEFAULT_GAP
    assert len(train) + len(held) + split.n_dropped == len(dataset)


def test_split_is_deterministic_and_moves_with_the_seed(dataset):
    a = split_dataset(dataset, 0.2, seed=0)[2].to_dict()
    assert split_dataset(dataset, 0.2, seed=0)[2].to_dict() == a
    firsts = {
        split_dataset(dataset, 0.2, seed=s)[2].conditions["T1"]["slabs"]["T1"][0]["first"]
        for s in range(6)
    }
    assert len(firsts) > 2  # the slab is not always at the top


@pytest.mark.parametrize("size", [32, 64])
def test_spread_slabs_keep_held_out_and_gap_slices_out_of_training(size):
    """The default k = 2 slabs per scan, on real MNI slices at 32 and 64 px: each slab is
    contiguous, lies in its own half of the slice range, and no training slice of its scan is
    within the gap of any held-out slice (by provenance and by pixels)."""
    ds = build_dataset(mni_volumes(), size=size)
    for seed in range(3):
        train, held, split = split_dataset(ds, 0.2, seed=seed)
        assert DEFAULT_SLABS == 2 and not _keys(train) & _keys(held)
        assert _min_pixel_distance(held.images, train.images) > 0.5
        for name, c in split.conditions.items():
            records = c["slabs"][name]
            assert isinstance(records, list) and len(records) == 2
            n = ds.counts()[name]
            # each slab costs up to 2 x gap slices (fewer at the ends of the scan)
            assert 0 < c["dropped"] <= 2 * 2 * DEFAULT_GAP
            assert c["train"] + c["heldout"] + c["dropped"] == n
            h = held.slice_index[np.array(held.sources) == name]
            t = train.slice_index[np.array(train.sources) == name]
            assert int((t[:, None] - h[None, :]).abs().min()) > DEFAULT_GAP
            mid = ds.slice_index[np.array(ds.sources) == name].float().median()
            assert records[0]["last"] < mid <= records[1]["first"] + 1  # one slab per half
            assert (h > mid).any() and (h < mid).any()


def test_old_single_slab_record_reproduces_its_split(dataset):
    """A split recorded before k > 1 (one ``{"first", "last", "gap"}`` dict per source) is still
    applied to the same slices; a one-slab split still writes that format."""
    train, held, split = split_dataset(dataset, 0.2, seed=3, slabs=1)
    record = split.to_dict()
    assert all(isinstance(c["slabs"][n], dict) for n, c in record["conditions"].items())
    train2, held2 = HoldoutSplit.from_dict(record).apply(dataset)
    assert _keys(train2) == _keys(train) and _keys(held2) == _keys(held)
    with pytest.raises(HoldoutError, match="slabs must be"):
        split_dataset(dataset, 0.2, seed=0, slabs=0)


def test_apply_reproduces_on_rebuilt_data_and_refuses_other_data(dataset):
    train, held, split = split_dataset(dataset, 0.25, seed=4)
    again = build_dataset(mni_volumes()[::-1], size=32)  # same inputs, other order
    split2 = HoldoutSplit.from_dict(split.to_dict())
    train2, held2 = split2.apply(again)
    assert _keys(train2) == _keys(train) and _keys(held2) == _keys(held)
    other = build_dataset(mni_volumes(), size=32, min_foreground=0.3)
    with pytest.raises(HoldoutError, match=r"other data.*'T1' had \d+ slices, now"):
        split2.apply(other)


def test_whole_scans_held_out_when_a_condition_has_several(tmp_path):
    ds = _cohort()
    train, held, split = split_dataset(ds, 0.25, seed=1)
    assert split.mode == "groups" and split.n_dropped == 0
    assert not set(train.groups) & set(held.groups)
    for name in ds.class_names:
        c = split.conditions[name]
        assert len(c["groups"]) == 1 and c["train"] > 0
    # one seeded order for all conditions: the same patient is held out everywhere
    assert len({tuple(c["groups"]) for c in split.conditions.values()}) == 1
    n_t1 = len({g for g, lab in zip(ds.groups, ds.labels.tolist()) if lab == 0})
    assert n_t1 >= 3 and f"T1: 1 of {n_t1} scans" in split.summary()
    assert "(groups;" in split.summary()


def test_trainer_only_puts_training_slices_on_the_device(tmp_path, dataset):
    trainer = Trainer(tiny_config(tmp_path, steps=2, preview_every=0), dataset)
    assert trainer.split.has_heldout() and trainer.heldout_set is not None
    assert torch.equal(trainer.images, trainer.train_set.images)
    assert len(trainer.images) == len(dataset) - trainer.split.n_heldout - trainer.split.n_dropped
    assert _min_pixel_distance(trainer.heldout_set.images, trainer.images) > 0.5
    for _ in trainer.run():
        pass
    meta = load_checkpoint(tmp_path).meta
    assert meta["split"] == trainer.split.to_dict() and meta["split"]["mode"] == "slabs"


def test_resume_reapplies_the_recorded_split(tmp_path, dataset):
    first = Trainer(tiny_config(tmp_path, steps=2, preview_every=0, holdout=0.2), dataset)
    for _ in first.run():
        pass
    held, train_images = _keys(first.heldout_set), first.train_set.images
    first.close()
    cfg = tiny_config(tmp_path, steps=4, preview_every=0, holdout=0.2)
    second = Trainer(cfg, build_dataset(mni_volumes(), size=32), resume=tmp_path)
    assert second.split.to_dict() == first.split.to_dict()
    assert _keys(second.heldout_set) == held
    assert torch.equal(second.images, train_images)
    second.close()
    with pytest.raises(CheckpointError, match=r"holdout is 0\.2 in the checkpoint, 0\.4"):
        Trainer(cfg.replace(holdout=0.4), dataset, resume=tmp_path)
    # the split is also checked against the rebuilt data, beside the run's own input check
    other = build_dataset(mni_volumes(), size=32, min_foreground=0.3)
    with pytest.raises(CheckpointError, match=r"cannot resume.*held-out split was made on other"):
        _split_from_checkpoint(load_checkpoint(tmp_path), other)


def test_holdout_zero_trains_on_everything(tmp_path, dataset):
    trainer = Trainer(tiny_config(tmp_path, holdout=0.0), dataset)
    assert trainer.split.mode == "none" and "disabled" in trainer.split.reason
    assert trainer.heldout_set is None and torch.equal(trainer.images, dataset.images)
    assert "cannot be separated" in trainer.split.summary()


def test_too_small_data_is_not_split():
    _, arr, sp = mni_arrays()[0]
    mid = arr.shape[0] // 2
    single_2d = build_dataset(
        [Volume(arr[mid + k], sp[1:], condition=c, name=c) for k, c in enumerate("AB")], 32
    )
    train, held, split = split_dataset(single_2d, 0.2, seed=0)
    assert split.mode == "none" and held is None and len(train) == 2
    assert "too small" in split.reason and "1 slice" in split.reason
    short = build_dataset([Volume(arr[mid : mid + MIN_SLICES - 1], sp, name="short")], 32)
    assert split_dataset(short, 0.2, seed=0)[2].mode == "none"
    # at the minimum size the gap narrows so training keeps at least as many slices as held out
    tiny = build_dataset([Volume(arr[mid : mid + MIN_SLICES], sp, name="tiny")], 32)
    for seed in range(8):
        train, held, split = split_dataset(tiny, 0.5, seed=seed)
        assert len(train) >= len(held) > 0


def test_bad_fractions_and_settings_are_refused(dataset):
    with pytest.raises(HoldoutError, match=r"between 0 and 0\.5"):
        split_dataset(dataset, 0.6, seed=0)
    with pytest.raises(HoldoutError, match="gap"):
        split_dataset(dataset, 0.2, seed=0, gap=-1)
    with pytest.raises(ConfigError, match="holdout"):
        tiny_config("x", holdout=0.9).validate()
    with pytest.raises(ConfigError, match="score_every"):
        tiny_config("x", score_every=-5).validate()


def test_resume_from_a_checkpoint_without_split_trains_on_everything(tmp_path, dataset):
    import json

    for _ in Trainer(tiny_config(tmp_path, steps=2, preview_every=0), dataset).run():
        pass
    state = load_checkpoint(tmp_path).path / "state.json"
    doc = json.loads(state.read_text())
    del doc["meta"]["split"]  # as written before held-out splits existed
    state.write_text(json.dumps(doc))
    resumed = Trainer(tiny_config(tmp_path, steps=4, preview_every=0), dataset, resume=tmp_path)
    assert resumed.split.mode == "none" and "without a held-out split" in resumed.split.reason
    assert resumed.heldout_set is None and len(resumed.images) == len(dataset)


def test_summary_of_a_split_given_by_a_table():
    """Splits built elsewhere (a cohort table) lack n_groups and reasons: still one clear line."""
    counts = {"slabs": {}, "dropped": 0}
    split = HoldoutSplit(
        mode="groups", fraction=0.2, seed=0, gap=0,
        conditions={
            "A": {"mode": "groups", "groups": ["p1"], "train": 5, "heldout": 2, **counts},
            "B": {"mode": "none", "groups": [], "train": 3, "heldout": 0, **counts},
        },
    )  # fmt: skip
    text = split.summary()
    assert "held out 2 of 10 slices" in text and "A: 1 scan(s) (2 slices)" in text
    assert "B: none (nothing held out)" in text
    assert split.has_heldout("A") and not split.has_heldout("B")
