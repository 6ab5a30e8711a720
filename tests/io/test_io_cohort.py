"""Cohort discovery (folder tree, CSV/TSV, DICOM series choice) and the streamed preparation."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from cohort_fixtures import dicom_study, folder_cohort, write_nifti
from napari_medgan.engine import DataError, Volume, build_dataset
from napari_medgan.engine.prepare import PreparationCancelled, VolumeSource, prepare_streamed
from napari_medgan.engine.slicecache import cache_key, prepare_cached
from napari_medgan.io.cohort import CohortError, SeriesRule, discover


# ---------------------------------------------------------------------- discovery
def test_folder_tree_conditions(tmp_path):
    cohort = discover(folder_cohort(tmp_path / "c"))
    assert cohort.conditions() == {"healthy": 2, "tumour": 2}
    assert cohort.scans[0].name == "healthy/scan0.nii.gz"
    assert all(s.ndim == 3 for s in cohort.scans)
    v = cohort.scans[0].load()
    assert v.condition == "healthy" and v.data.dtype == np.int16 and v.data.ndim == 3


def test_empty_condition_folder_is_an_error(tmp_path):
    root = folder_cohort(tmp_path / "c")
    (root / "empty").mkdir()
    with pytest.raises(CohortError, match=r"empty.*holds no scans"):
        discover(root)


def test_table_with_split_and_relative_paths(tmp_path):
    root = folder_cohort(tmp_path / "c")
    (root / "t.tsv").write_text(
        "path\tcondition\tsplit\nhealthy/scan0.nii.gz\ta\ttrain\nhealthy/scan1.nii.gz\ta\ttest\n"
    )
    cohort = discover(root / "t.tsv")
    assert [s.split for s in cohort.scans] == ["train", "heldout"]
    assert cohort.conditions() == {"a": 2}


def test_table_errors(tmp_path):
    root = folder_cohort(tmp_path / "c")
    (root / "missing.csv").write_text("path,condition\nhealthy/scan0.nii.gz,a\nnope.nii.gz,b\n")
    with pytest.raises(CohortError, match=r"1 listed file.*missing: nope.nii.gz"):
        discover(root / "missing.csv")
    (root / "cols.csv").write_text("path,label\nhealthy/scan0.nii.gz,a\n")
    with pytest.raises(CohortError, match=r"unknown column.*label"):
        discover(root / "cols.csv")
    (root / "split.csv").write_text("path,split\nhealthy/scan0.nii.gz,maybe\n")
    with pytest.raises(CohortError, match="split 'maybe'"):
        discover(root / "split.csv")


def test_mixed_2d_3d_and_single_scan_split(tmp_path):
    root = folder_cohort(tmp_path / "c", per_condition=1)
    write_nifti(root / "healthy" / "flat.nii.gz", seed=5, shape=(24, 20, 1))
    cohort = discover(root)
    with pytest.raises(CohortError, match=r"mixed 2D and 3D.*flat.nii.gz is 2D"):
        cohort.check()
    cohort.scans = [s for s in cohort.scans if "flat" not in s.name]
    cohort.check()
    lost = discover(root)
    lost.scans = [s for s in lost.scans if not s.name.startswith("tumour")]
    with pytest.raises(CohortError, match="'tumour': none of its scans could be read"):
        lost.check()
    with pytest.raises(CohortError, match="'healthy' has a single scan"):
        cohort.check(split_by_scan=True)


def test_dicom_study_series_rule_and_patient(tmp_path):
    root = tmp_path / "c"
    dicom_study(root / "ct" / "study1", patient="P1")
    dicom_study(root / "ct" / "study2", patient="P1")
    (root / "ct" / "notes.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 8)  # no pixels
    cohort = discover(root)
    big = [s for s in cohort.scans if s.name.startswith("ct/study")]
    assert [s.series for s in big] == ["big axial", "big axial"]
    assert big[0].group == big[1].group != big[0].name  # same patient, hashed
    assert "P1" not in big[0].group
    assert big[0].load().data.shape[0] == 6
    small = discover(root, SeriesRule(description="scout")).scans[0]
    assert small.series == "small scout" and small.load().data.shape[0] == 3
    assert discover(root, SeriesRule(pick="first")).scans[0].series in ("big axial", "small scout")
    # the loose file without pixels: the condition folder as a study, reported and skipped
    assert any("no series with pixel data" in why for _, why in cohort.skipped)
    nothing = discover(root, SeriesRule(modality="MR"))
    assert not nothing.scans and "no series matches" in nothing.skipped[0][1]


# ---------------------------------------------------------------------- preparation
def _vols():
    rng = np.random.default_rng(0)
    out = []
    for name, cond, mod in (("a", "x", "MR"), ("b", "x", "MR"), ("c", "y", "CT"), ("d", "y", "CT")):
        d = rng.normal(100, 30, (40, 20, 24)).astype(np.int16)
        d[:5] = 0
        out.append(Volume(d, (2.0, 1.0, 1.5), cond, mod, name))
    return out


@pytest.mark.parametrize("axis", [0, 2])
def test_streamed_equals_build_dataset(axis):
    vols = _vols()
    ref = build_dataset(vols, 32, axis, 0.05)
    prep = prepare_streamed([VolumeSource(v) for v in vols], 32, axis, 0.05)
    ds = prep.dataset
    assert torch.equal(ds.images, ref.images) and torch.equal(ds.labels, ref.labels)
    assert ds.sources == ref.sources and ds.transforms == ref.transforms
    assert ds.geometry == ref.geometry and ds.class_names == ref.class_names
    assert torch.equal(ds.slice_index, ref.slice_index) and ds.groups == ref.groups


class _Broken:
    name, condition, split, group = "broken.nii.gz", "x", None, "broken.nii.gz"

    def load(self):
        raise ValueError("broken.nii.gz: not a readable NIfTI file")


def test_unreadable_scan_is_skipped_and_named():
    vols = _vols()
    scans = [_Broken(), *[VolumeSource(v) for v in vols]]
    prep = prepare_streamed(scans, 32, 0, 0.05)
    assert prep.skipped == [("broken.nii.gz", "broken.nii.gz: not a readable NIfTI file")]
    assert "skipped 1: broken.nii.gz" in prep.summary()
    assert torch.equal(prep.dataset.images, build_dataset(vols, 32, 0, 0.05).images)


def test_mixed_dims_while_preparing():
    vols = _vols()
    flat = Volume(vols[0].data[10], (1.0, 1.5), "x", "MR", "flat")
    with pytest.raises(DataError, match="mixed 2D and 3D"):
        prepare_streamed([VolumeSource(v) for v in (*vols, flat)], 32)


def test_cache_reused_invalidated_and_atomic(tmp_path):
    cohort = discover(folder_cohort(tmp_path / "c"))
    cache = tmp_path / "cache"
    first = prepare_cached(cohort.scans, 32, 0, 0.05, cache_dir=cache)
    assert not first.from_cache and len(list(cache.iterdir())) == 1
    again = prepare_cached(cohort.scans, 32, 0, 0.05, cache_dir=cache)
    assert again.from_cache and torch.equal(again.dataset.images, first.dataset.images)
    assert again.dataset.sources == first.dataset.sources
    assert again.dataset.meta() == first.dataset.meta()
    # a changed setting or a changed file gives a new key
    key = cache_key(cohort.scans, 32, 0, 0.05)[0]
    assert cache_key(cohort.scans, 64, 0, 0.05)[0] != key
    write_nifti(cohort.scans[0].path, seed=99)
    assert cache_key(cohort.scans, 32, 0, 0.05)[0] != key
    # cancelled: nothing written, not even a temporary folder
    stop = threading.Event()
    stop.set()
    with pytest.raises(PreparationCancelled):
        prepare_cached(cohort.scans, 32, 0, 0.05, cache_dir=cache, cancel=stop)
    assert len(list(cache.iterdir())) == 1


def test_progress_reports_every_scan(tmp_path):
    cohort = discover(folder_cohort(tmp_path / "c"))
    seen = []
    prepare_streamed(cohort.scans, 32, progress=lambda d, t, m: seen.append((d, t, m)))
    # MR-like NIfTI: a first pass (sampling) then the preparation, per condition
    assert seen[-1][0] == seen[-1][1] == 8
    assert any(m.startswith("sampled") for *_, m in seen)


def test_parallel_workers_give_the_same_slices(tmp_path):
    cohort = discover(folder_cohort(tmp_path / "c"))
    one = prepare_streamed(cohort.scans, 32, 0, 0.05, workers=1)
    two = prepare_streamed(cohort.scans, 32, 0, 0.05, workers=2)
    assert torch.equal(one.dataset.images, two.dataset.images)
    assert one.dataset.sources == two.dataset.sources and one.scans == two.scans


def test_failed_write_leaves_no_entry(tmp_path, monkeypatch, capsys):
    import napari_medgan.engine.slicecache as slicecache

    def disk_full(tensors, path):
        open(path, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(slicecache, "save_file", disk_full)
    cohort = discover(folder_cohort(tmp_path / "c", per_condition=1))
    prep = prepare_cached(cohort.scans, 32, cache_dir=tmp_path / "cache")
    assert len(prep.dataset) > 0 and prep.cache_path is None  # training goes on
    assert "could not cache" in capsys.readouterr().err
    assert list((tmp_path / "cache").iterdir()) == []  # no entry, no temporary folder


def test_ct_window_reaches_cohort_preparation(tmp_path):
    """``TrainConfig.ct_window`` windows cohort CT scans as it does in-memory volumes."""
    vols = _vols()
    window = (-500.0, 150.0)
    ref = build_dataset(vols, 32, 0, 0.05, ct_window=window)
    prep = prepare_streamed([VolumeSource(v) for v in vols], 32, 0, 0.05, ct_window=window)
    ct = prep.dataset.transforms["y"]
    assert (ct.low, ct.high) == window
    assert prep.dataset.transforms == ref.transforms
    assert torch.equal(prep.dataset.images, ref.images)
    default = prepare_streamed([VolumeSource(v) for v in vols], 32, 0, 0.05).dataset
    assert (default.transforms["y"].low, default.transforms["y"].high) != window
    assert not torch.equal(default.images, prep.dataset.images)
    # MR conditions keep their percentile window whatever the CT window
    assert prep.dataset.transforms["x"] == default.transforms["x"]
    # the window is part of the cache key: a cached default-window entry is not reused
    cohort = discover(folder_cohort(tmp_path / "c"), modality="CT")
    cache = tmp_path / "cache"
    plain = prepare_cached(cohort.scans, 32, 0, 0.05, cache_dir=cache)
    windowed = prepare_cached(cohort.scans, 32, 0, 0.05, cache_dir=cache, ct_window=window)
    assert not windowed.from_cache and len(list(cache.iterdir())) == 2
    assert {(t.low, t.high) for t in windowed.dataset.transforms.values()} == {window}
    assert {(t.low, t.high) for t in plain.dataset.transforms.values()} != {window}
    key = cache_key(cohort.scans, 32, 0, 0.05)[0]
    assert cache_key(cohort.scans, 32, 0, 0.05, None)[0] == key  # old entries keep their name
