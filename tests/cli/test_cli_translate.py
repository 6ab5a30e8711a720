"""``train --family translate`` and ``translate`` end to end on real MNI pairs; bad inputs."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from engine_fixtures import mni_arrays
from napari_medgan.cli import main
from napari_medgan.io import ImageData, write_nifti

ORIGIN = (10.0, -20.0, 30.0)
TINY = [
    "--size", "32", "--batch-size", "4", "--base-channels", "8", "--max-channels", "16",
    "--device", "cpu", "--quiet", "--augment", "none",
]  # fmt: skip


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """T1, GM and WM at 4 mm as NIfTI files on one grid: ``{name: path}``."""
    folder = tmp_path_factory.mktemp("pairs")
    out = {}
    for name, data, spacing in mni_arrays():
        image = ImageData(data=data, spacing=spacing, origin=ORIGIN, name=name, modality="MR")
        out[name] = str(write_nifti(folder / f"{name}.nii.gz", image))
    return out


@pytest.fixture(scope="module")
def run(scans, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-translate") / "run"
    args = ["train", "--family", "translate", "--source", scans["T1"], "--target", scans["GM"]]
    assert main([*args, "--steps", "3", "--out", str(out), *TINY]) == 0
    return out


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_translate_keeps_the_input_shape_and_affine(run, scans, tmp_path, capsys):
    assert (run / "preview.png").exists()
    out = tmp_path / "gm.nii.gz"
    assert main(["translate", str(run), scans["T1"], "--out", str(out), "--quiet"]) == 0
    src, res = nib.load(scans["T1"]), nib.load(out)
    assert res.shape == src.shape and np.allclose(res.affine, src.affine)
    data = np.asarray(res.dataobj)
    assert np.isfinite(data).all() and 0 <= data.min() and data.max() <= 1.0
    assert str(out) in capsys.readouterr().out


def test_pairs_table_trains_the_same_way(scans, tmp_path, capsys):
    table = tmp_path / "pairs.csv"
    table.write_text(f"source,target\n{scans['T1']},{scans['WM']}\n")
    out = tmp_path / "run"
    args = ["train", "--family", "translate", "--pairs", str(table), "--steps", "2"]
    assert main([*args, "--out", str(out), *TINY]) == 0
    assert "T1 → WM pairs" in capsys.readouterr().err


def test_pairs_folder_pairs_by_name(scans, tmp_path, capsys):
    import shutil

    folder = tmp_path / "pairs"
    for side, name in (("source", "T1"), ("target", "GM")):
        (folder / side).mkdir(parents=True)
        shutil.copy(scans[name], folder / side / "subject1.nii.gz")
    args = ["train", "--family", "translate", "--pairs", str(folder), "--steps", "2"]
    assert main([*args, "--out", str(tmp_path / "run"), *TINY]) == 0
    capsys.readouterr()
    shutil.copy(scans["T1"], folder / "source" / "subject2.nii.gz")
    assert main([*args, "--out", str(tmp_path / "run2"), *TINY]) == 2
    line = one_error_line(capsys)
    assert "no partner of the same name" in line and "subject2.nii.gz" in line


def test_requests_of_the_other_family_are_refused(run, scans, tmp_path, capsys):
    out = tmp_path / "x.nii.gz"
    assert main(["generate", str(run), "--n", "2", "--out", str(out)]) == 2
    assert "'translate' run and cannot sample from noise" in one_error_line(capsys)
    gan = tmp_path / "gan"
    assert main(["train", scans["T1"], "--steps", "2", "--out", str(gan), *TINY]) == 0
    capsys.readouterr()
    assert main(["translate", str(gan), scans["T1"], "--out", str(out)]) == 2
    assert "'gan' run and cannot translate" in one_error_line(capsys)
    assert not out.exists()


def test_bad_translation_inputs_exit_2_and_write_nothing(run, scans, tmp_path, capsys):
    _name, data, spacing = mni_arrays()[1]
    moved = ImageData(data=data, spacing=spacing, origin=(0.0, 0.0, 0.0), name="GM")
    moved = str(write_nifti(tmp_path / "moved.nii.gz", moved))
    scaled = ImageData(data=mni_arrays()[0][1] * 1000, spacing=spacing, origin=ORIGIN, name="T1")
    scaled = str(write_nifti(tmp_path / "scaled.nii.gz", scaled))
    bad_table = tmp_path / "bad.csv"
    bad_table.write_text(f"image,mask\n{scans['T1']},{scans['GM']}\n")
    out = tmp_path / "run"
    train = ["train", "--family", "translate", "--out", str(out), *TINY]
    cases = [
        ([*train, "--source", scans["T1"], "--target", moved], "not on the same grid"),
        ([*train, "--source", scans["T1"]], "one --target per --source"),
        ([*train, "--pairs", str(bad_table)], "needs source and target columns"),
        ([*train, scans["T1"], "--source", scans["T1"], "--target", scans["GM"]], "not inputs"),
        (["train", "--source", scans["T1"], "--target", scans["GM"], "--out", str(out)],
         "add --family translate"),
        (["train", "--family", "vae", scans["T1"]], "invalid choice"),
        (["translate", str(run), scaled, "--out", str(tmp_path / "o.nii.gz")], "other units"),
        (["translate", str(run), scans["T1"], "--out", scans["GM"]], "already exists"),
        (["translate", str(run), scans["T1"], "--out", str(tmp_path / "o.png")], "must end in"),
    ]  # fmt: skip
    for args, expected in cases:
        with pytest.raises(SystemExit) if "invalid choice" in expected else _no_exit():
            assert main(args) == 2
        assert expected in one_error_line(capsys), args
    assert not out.exists() and not (tmp_path / "o.nii.gz").exists()


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
