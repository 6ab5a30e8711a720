"""``train --family mask2image`` and ``synthesize`` end to end on the MNI152 tissue pair; bad
inputs."""

from __future__ import annotations

import csv

import nibabel as nib
import numpy as np
import pytest

from napari_medgan.cli import main
from napari_medgan.io import ImageData, write_nifti

ORIGIN = (10.0, -20.0, 30.0)
TINY = [
    "--size", "32", "--batch-size", "4", "--base-channels", "8", "--max-channels", "16",
    "--device", "cpu", "--quiet", "--augment", "none",
]  # fmt: skip


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """The MNI152 T1 and its tissue labels at 4 mm as NIfTI files on one grid."""
    from napari_medgan.io.templates import mni152_tissue_labels

    folder = tmp_path_factory.mktemp("m2i")
    t1, lab = mni152_tissue_labels()
    out = {}
    for key, image, meta in (("T1", t1, {}), ("labels", lab, {"layer_type": "labels"})):
        data = np.ascontiguousarray(image.data[::2, ::2, ::2])
        spacing = tuple(2 * s for s in image.spacing)
        written = ImageData(data=data, spacing=spacing, origin=ORIGIN, name=key,
                            modality="MR", metadata=meta)  # fmt: skip
        out[key] = str(write_nifti(folder / f"{key}.nii.gz", written))
    return out


@pytest.fixture(scope="module")
def run(scans, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-m2i") / "run"
    args = ["train", "--family", "mask2image", scans["T1"], "--labels", scans["labels"]]
    assert main([*args, "--steps", "3", "--out", str(out), *TINY]) == 0
    return out


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_synthesize_writes_pairs_on_the_labels_grid_and_a_manifest(run, scans, tmp_path, capsys):
    out = tmp_path / "synthetic"
    args = ["synthesize", str(run), scans["labels"], "--n", "2", "--deform", "--seed", "4"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    assert str(out / "manifest.csv") in capsys.readouterr().out
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert [r["seed"] for r in rows] == ["4", "5"] and all(r["deformed"] == "True" for r in rows)
    ref = nib.load(scans["labels"])
    ref_labels = np.asarray(ref.dataobj)
    for row in rows:
        image, labels = nib.load(out / row["image"]), nib.load(out / row["labels"])
        for written in (image, labels):
            assert written.shape == ref.shape and np.allclose(written.affine, ref.affine)
        lab = np.asarray(labels.dataobj)
        assert set(np.unique(lab)) <= {0, 1, 2, 3} and not np.array_equal(lab, ref_labels)
        assert labels.header.get_intent()[0] == "label"
        assert np.isfinite(np.asarray(image.dataobj)).all()
    first = np.asarray(nib.load(out / rows[0]["image"]).dataobj)
    assert not np.allclose(first, np.asarray(nib.load(out / rows[1]["image"]).dataobj))


def test_pairs_table_with_labels_and_image_columns(scans, tmp_path):
    table = tmp_path / "pairs.csv"
    table.write_text(f"labels,image\n{scans['labels']},{scans['T1']}\n")
    out = tmp_path / "run"
    args = ["train", "--family", "mask2image", "--pairs", str(table), "--steps", "2"]
    assert main([*args, "--out", str(out), *TINY]) == 0


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no labels", "needs one --labels per input scan (1 inputs, 0 label maps)"),
        ("float labels", "fractional values, so it is not a label map"),
        ("other grid", "not on the same grid"),
        ("labels without family", "--labels trains a mask-to-image run"),
    ],
)
def test_bad_training_input_is_one_line(scans, tmp_path, capsys, case, expected):
    out = tmp_path / "run"
    args = ["train", "--family", "mask2image", scans["T1"], "--labels", scans["labels"]]
    if case == "no labels":
        args = args[:4]
    elif case == "float labels":
        args = [*args[:5], scans["T1"]]  # the T1 given as its own label map
    elif case == "other grid":
        img = nib.load(scans["labels"])
        moved = nib.Nifti1Image(np.asanyarray(img.dataobj)[:, 2:], img.affine)
        nib.save(moved, tmp_path / "cropped.nii.gz")
        args = [*args[:5], str(tmp_path / "cropped.nii.gz")]
    else:
        args = ["train", scans["T1"], "--labels", scans["labels"]]
    assert main([*args, "--steps", "2", "--out", str(out), *TINY]) == 2
    assert expected in one_error_line(capsys)
    assert not out.exists()


def test_bad_synthesis_requests_are_one_line_and_write_nothing(run, scans, tmp_path, capsys):
    img = nib.load(scans["labels"])
    data = np.asanyarray(img.dataobj).copy()
    data[data == 3] = 9
    nib.save(nib.Nifti1Image(data, img.affine), tmp_path / "new_label.nii.gz")
    out = tmp_path / "out"
    args = ["synthesize", str(run), str(tmp_path / "new_label.nii.gz"), "--out", str(out)]
    assert main(args) == 2
    assert "label value 9 never seen in training" in one_error_line(capsys)
    assert not out.exists()
    missing = ["synthesize", str(run), str(tmp_path / "missing.nii.gz"), "--out", str(out)]
    assert main(missing) == 2
    assert "missing.nii.gz: no such file or folder" in one_error_line(capsys)
    assert not out.exists()
    # an image run asked for masks, and a mask run asked to sample from noise
    gan = tmp_path / "gan"
    assert main(["train", scans["T1"], "--steps", "2", "--out", str(gan), *TINY]) == 0
    capsys.readouterr()
    assert main(["synthesize", str(gan), scans["labels"], "--out", str(out)]) == 2
    assert "'gan' run and cannot make images from a label map" in one_error_line(capsys)
    assert main(["generate", str(run), "--n", "2", "--out", str(tmp_path / "s.nii.gz")]) == 2
    assert "'mask2image' run" in one_error_line(capsys)
    assert not out.exists()
