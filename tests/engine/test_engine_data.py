"""Volumes → training slices: normalisation, skipping, resizing, bad inputs."""

import numpy as np
import pytest

from engine_fixtures import mni_arrays, mni_volumes
from napari_medgan.engine import (
    DataError,
    IntensityTransform,
    SliceGeometry,
    Volume,
    build_dataset,
    to_native,
)


def test_intensity_round_trip_on_real_t1():
    _, t1, _ = mni_arrays()[0]
    t = IntensityTransform.fit([Volume(t1, name="T1")])
    inside = np.clip(t1, t.low, t.high)
    np.testing.assert_allclose(t.inverse(t.forward(t1)), inside, atol=1e-5 * (t.high - t.low))
    assert t.forward(t1).min() >= -1 and t.forward(t1).max() <= 1
    assert IntensityTransform.from_dict(t.to_dict()) == t


def test_ct_uses_hu_window():
    hu = np.linspace(-2000, 3000, 64 * 64, dtype=np.float32).reshape(1, 64, 64)
    t = IntensityTransform.fit([Volume(hu, modality="CT", name="ct")])
    assert (t.low, t.high, t.kind) == (-1000.0, 2000.0, "window")  # keeps bone (~1800 HU)
    np.testing.assert_allclose(
        t.inverse(t.forward([-1000.0, 0.0, 500.0])), [-1000, 0, 500], atol=1e-3
    )


def test_dataset_from_real_volumes_skips_empty_slices_and_keeps_aspect():
    ds = build_dataset(mni_volumes(), size=32, slice_axis=0)
    assert ds.class_names == ["T1", "GM", "WM"]
    depth = mni_arrays()[0][1].shape[0]
    counts = ds.counts()
    assert all(0 < c < depth for c in counts.values()), counts  # empty top/bottom slices dropped
    assert ds.images.shape[1:] == (1, 32, 32)
    assert float(ds.images.min()) >= -1 and float(ds.images.max()) <= 1
    g = ds.geometry["T1"]
    (h, w), (sh, sw) = g.native_shape, g.native_spacing
    ratio_native = (h * sh) / (w * sw)
    ratio_resized = g.resized_shape[0] / g.resized_shape[1]
    assert abs(ratio_native - ratio_resized) < 0.05
    # padding columns are background
    pad = (32 - g.resized_shape[1]) // 2
    if pad:
        assert float(ds.images[:, :, :, :pad].max()) == -1.0


def test_to_native_restores_slice_grid():
    ds = build_dataset(mni_volumes()[:1], size=32)
    g = ds.geometry["T1"]
    native = to_native(ds.images[:2, 0].numpy(), g)
    assert native.shape == (2, *g.native_shape)


def test_geometry_places_generated_stacks_in_the_source_frame():
    name, t1, sp = mni_arrays()[0]
    origin = (5.0, -6.0, 7.0)
    ds = build_dataset([Volume(t1, sp, origin=origin, name=name)], size=32, slice_axis=1)
    geom = SliceGeometry.from_dict(ds.geometry["all"].to_dict())
    stack = np.zeros((4, *geom.native_shape), dtype=np.float32)
    data, spacing, placed = geom.stack_geometry(stack)
    assert data.shape == (t1.shape[0], 4, t1.shape[2])
    assert spacing == sp and placed == origin


def test_mask_restricts_slices():
    name, t1, sp = mni_arrays()[0]
    mask = np.zeros(t1.shape, dtype=np.uint8)
    mask[20:23] = 1
    ds = build_dataset([Volume(t1, sp, mask=mask, name=name)], size=32)
    assert len(ds) == 3


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.zeros((2, 3, 4, 5, 6)), "5D"),
        (np.zeros((1, 1)), "too small"),
        (np.zeros((64, 64, 3), dtype=np.uint8), "RGB"),
        (np.array([["a"] * 16] * 16), "pixel type"),
    ],
)
def test_bad_volumes_are_refused(data, match):
    with pytest.raises(DataError, match=match):
        Volume(data, name="bad")


def test_constant_image_is_refused():
    with pytest.raises(DataError, match="constant"):
        build_dataset([Volume(np.full((4, 32, 32), 7.0), name="flat")], size=32)


def test_mixed_conditions_are_refused():
    vols = mni_volumes()
    vols[1].condition = None
    with pytest.raises(DataError, match="condition name"):
        build_dataset(vols, size=32)


def test_all_empty_slices_message():
    data = np.full((4, 32, 32), -1000.0, dtype=np.float32)  # air only, in HU
    data[0, 0, 0] = 500.0
    with pytest.raises(DataError, match="near-empty"):
        build_dataset([Volume(data, name="empty", modality="CT")], size=32)
