"""One placement rule: the CLI and the Generate widget place samples the same way (docs/io.md)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medgan.cli import main
from napari_medgan.cli.generate import synthetic_image
from napari_medgan.engine import Sampler
from napari_medgan.io import read_image
from napari_medgan.napari_glue import hooks
from napari_medgan.widgets.common.output_layers import sample_layer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def sampler(tmp_path_factory, mni_small, small_config):
    """A 2-step unconditional run on the MNI GM map, trained with its world origin."""
    import torch

    from napari_medgan.engine import TrainConfig, Trainer, Volume, build_dataset

    torch.set_num_threads(1)
    gm = mni_small["GM"]
    vol = Volume(gm.data, gm.spacing, condition="GM", name="GM", origin=gm.origin)
    out = tmp_path_factory.mktemp("place") / "run"
    cfg = TrainConfig(**small_config(steps=2, slice_axis=0, out_dir=str(out)))
    trainer = Trainer(cfg, build_dataset([vol], 32, 0))
    for _ in trainer.run():
        pass
    trainer.close()
    return Sampler.from_checkpoint(out, device="cpu")


def test_cli_file_affine_is_the_source_grid(sampler, tmp_path, mni_small):
    assert main(["generate", str(sampler.path), "--condition", "GM", "--n", "3",
                 "--out", str(tmp_path / "gm.nii.gz")]) == 0  # fmt: skip
    back = read_image(tmp_path / "gm.nii.gz")[0]
    geom, src = sampler.geometry["GM"], mni_small["GM"]
    # voxel 0 of sample 0 = voxel 0 of the source; spacing = the source's; slice axis 0
    np.testing.assert_allclose(back.origin, src.origin, atol=1e-4)
    np.testing.assert_allclose(back.spacing, (geom.slice_spacing, *geom.native_spacing))
    assert back.data.shape == (3, *geom.native_shape) and back.affine is None


@pytest.mark.gui
def test_gui_and_cli_share_the_rule(make_napari_viewer, sampler, mni_small, tmp_path):
    viewer = make_napari_viewer()
    src = mni_small["GM"]
    images = sampler.sample(3, "GM", seed=1, units="native")
    cli = synthetic_image(sampler, "GM", images)
    data, kwargs = sample_layer(viewer, sampler, images, "GM", 1, None)  # no reference
    np.testing.assert_array_equal(data, cli.data)
    np.testing.assert_allclose(kwargs["scale"], cli.spacing)
    np.testing.assert_allclose(kwargs["translate"], cli.origin)

    # A rotated reference (an oblique scan): the saved affine is the documented one.
    angle = np.deg2rad(20)
    rot = np.eye(4)
    rot[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    ref = viewer.add_image(
        src.data, name="oblique GM", scale=src.spacing, translate=src.origin, affine=rot
    )
    viewer.dims.set_point(0, src.origin[0] + 5 * src.spacing[0])  # the user looks at slice 5
    data, kwargs = sample_layer(viewer, sampler, images, "GM", 1, ref)
    layer = viewer.add_image(data, **kwargs)
    (path,) = hooks.write_nifti(str(tmp_path / "gen.nii.gz"), layer.data, {
        "name": layer.name, "scale": layer.scale, "translate": layer.translate,
        "affine": layer.affine.affine_matrix, "metadata": layer.metadata,
    })  # fmt: skip
    saved = read_image(path)[0].index_to_world()
    geom = sampler.geometry["GM"]
    # documented: columns = the reference's unit directions times the checkpoint's spacing;
    # voxel 0 = reference voxel 0 + first * slice spacing along the slice direction
    directions = rot[:3, :3]
    spacing = np.array([geom.slice_spacing, *geom.native_spacing])
    expected = np.eye(4)
    expected[:3, :3] = directions @ np.diag(spacing)
    first = layer.metadata["placement"]["first_slice"]
    assert first == 5
    ref0 = np.asarray(ref.data_to_world((0, 0, 0)))  # world position of reference voxel 0
    expected[:3, 3] = ref0 + first * spacing[0] * directions[:, 0]
    np.testing.assert_allclose(saved, expected, atol=1e-4)
    # No display offset: sample voxels sit exactly on reference slice 5's grid points.
    np.testing.assert_allclose(saved[:3, 3], ref.data_to_world((5, 0, 0)), atol=1e-4)
    np.testing.assert_allclose(layer.data_to_world((0, 0, 0)), saved[:3, 3], atol=1e-4)


@pytest.mark.gui
def test_flag_at_generation_travels_with_the_layer(make_napari_viewer, sampler, tmp_path):
    from napari_medgan.io.synthetic import FLAG_KEY
    from napari_medgan.napari_glue.session import memorization

    viewer = make_napari_viewer()
    images = sampler.sample(2, "GM", seed=0, units="native")
    memorization.publish(sampler.path, ["nearest-neighbour copies"])
    try:
        data, kwargs = sample_layer(viewer, sampler, images, "GM", 0, None)
    finally:
        memorization.publish(sampler.path, [])  # the session forgets; the layer does not
    assert kwargs["metadata"][FLAG_KEY] == ["nearest-neighbour copies"]
    with pytest.raises(hooks.LayerWriteError, match="nearest-neighbour copies"):
        hooks.write_dicom(str(tmp_path / "g.dcm"), data, kwargs)
    clean_data, clean = sample_layer(viewer, sampler, images, "GM", 0, None)
    assert FLAG_KEY not in clean["metadata"]
    assert hooks.write_dicom(str(tmp_path / "ok.dcm"), clean_data, clean)


@pytest.mark.gui
def test_generate_widget_save_refusals_are_notified(make_napari_viewer, qtbot, sampler,
                                                    mni_small, tmp_path, notes):  # fmt: skip
    from napari_medgan.napari_glue.session import memorization
    from napari_medgan.widgets.generate.widget import GenerateWidget

    viewer = make_napari_viewer()
    gm = mni_small["GM"]
    real = viewer.add_image(gm.data, name="GM", scale=gm.spacing, translate=gm.origin)
    widget = GenerateWidget(viewer)
    assert widget.load(sampler.path)
    assert widget.save_layer(real, tmp_path / "real", dicom=True) is None
    assert notes[-1][0] == "error" and "not generated by napari-medgan" in notes[-1][1]
    assert widget.generate()  # in the background
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    layer = widget.last_layer
    memorization.publish(sampler.path, ["AuthPct below baseline"])
    try:
        assert widget.save_layer(layer, tmp_path / "flagged", dicom=True) is None
    finally:
        memorization.publish(sampler.path, [])
    assert notes[-1][0] == "error" and "AuthPct below baseline" in notes[-1][1]
    assert widget.save_layer(layer, tmp_path / "ok", dicom=True) == tmp_path / "ok"
    assert not (tmp_path / "real").exists() and not (tmp_path / "flagged").exists()


@pytest.mark.gui
@pytest.mark.parametrize("axis", [0, 2])
def test_generate_hashes_in_the_worker_the_data_the_layer_gets(
    make_napari_viewer, sampler, monkeypatch, axis
):
    """The Generate worker returns the digest of the layer data (any slice axis); the layer's
    marker carries it unchanged, so napari's event loop does not hash the stack."""
    import dataclasses

    from napari_medgan.io.synthetic import GENERATED_KEY, data_digest
    from napari_medgan.widgets.generate.sampling import sample_job

    geom = dataclasses.replace(sampler.geometry["GM"], slice_axis=axis)
    monkeypatch.setitem(sampler.geometry, "GM", geom)
    job = sample_job(sampler, 5, "GM", 3)
    with pytest.raises(StopIteration) as stop:
        while True:
            next(job)
    images, digest = stop.value.value
    data, kwargs = sample_layer(make_napari_viewer(), sampler, images, "GM", 3, None, digest)
    assert data.shape[axis] == 5
    assert kwargs["metadata"][GENERATED_KEY]["digest"] == digest == data_digest(data)
