"""``train --cohort`` and ``generate --out DIR/ --format``: cohorts in, datasets out, bad input."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from cohort_fixtures import folder_cohort, write_nifti
from napari_medgan.cli import main
from napari_medgan.io import read_image

TINY = [
    "--size", "32", "--steps", "2", "--batch-size", "4", "--base-channels", "8",
    "--max-channels", "16", "--device", "cpu", "--quiet", "--checkpoint-every", "0",
    "--preview-every", "0",
]  # fmt: skip


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def test_train_cohort_folder_then_cache(tmp_path, capsys):
    root = folder_cohort(tmp_path / "c")
    write_nifti(root / "healthy" / "zz_broken.nii.gz", seed=1)
    (root / "healthy" / "zz_broken.nii.gz").write_bytes(b"not a nifti at all")
    cache = tmp_path / "cache"
    argv = ["train", "--cohort", str(root), "--cache-dir", str(cache), *TINY]
    assert main([*argv, "--out", str(tmp_path / "r1")]) == 0
    err = capsys.readouterr().err
    assert "skipping healthy/zz_broken.nii.gz" in err and "(healthy: 2, tumour: 2)" in err
    assert (tmp_path / "r1" / "latest").exists()
    assert len(list(cache.iterdir())) == 1
    assert main([*argv, "--out", str(tmp_path / "r2")]) == 0
    assert "cached in" in capsys.readouterr().err


@pytest.mark.parametrize(
    "setup, extra, match",
    [
        ("empty", [], "holds no scans"),
        ("missing", [], "listed file(s) missing: gone.nii.gz"),
        ("columns", [], "unknown column(s) diagnosis"),
        ("mixed", [], "mixed 2D and 3D"),
        ("single", ["--split-by-scan"], "'healthy' has a single scan"),
        ("nopixels", [], "no readable scans found"),
        ("both", ["extra.nii.gz"], "either input files or --cohort"),
    ],
)
def test_bad_cohorts_one_line_exit_2(setup, extra, match, tmp_path, capsys):
    root = tmp_path / "c"
    source = root
    if setup in ("empty", "mixed", "both"):
        folder_cohort(root)
        if setup == "empty":
            (root / "nothing").mkdir()
        if setup == "mixed":
            write_nifti(root / "tumour" / "flat.nii.gz", seed=4, shape=(20, 20, 1))
    elif setup == "single":
        folder_cohort(root, per_condition=1)
    elif setup in ("missing", "columns"):
        folder_cohort(root)
        header, row = ("path,condition", "gone.nii.gz,a") if setup == "missing" else (
            "path,diagnosis", "healthy/scan0.nii.gz,a")  # fmt: skip
        source = root / "t.csv"
        source.write_text(f"{header}\nhealthy/scan0.nii.gz,a\n{row}\n")
    elif setup == "nopixels":
        (root / "a" / "study").mkdir(parents=True)
        (root / "a" / "study" / "sr.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 8)
    argv = ["train", *extra, "--cohort", str(source), "--out", str(tmp_path / "r"), *TINY]
    assert main(argv) == 2
    line = _err(capsys)
    assert line.startswith("napari-medgan: error: train:") and match in line
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def run_dir(train_tiny_run, tmp_path_factory):
    return train_tiny_run(tmp_path_factory.mktemp("export") / "run", steps=2)


def test_export_dataset_nifti_manifest_and_append(run_dir, tmp_path, capsys):
    out = tmp_path / "ds"
    argv = ["generate", str(run_dir), "--n", "2", "--out", f"{out}/", "--seed", "5"]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert [r["condition"] for r in rows] == ["T1", "T1", "GM", "GM"]
    assert [r["seed"] for r in rows] == ["5", "6", "5", "6"]
    assert {r["memorization"] for r in rows} == {"not evaluated"}
    assert rows[0]["step"] == "2" and rows[0]["checkpoint"].rsplit("_", 1)[-1].lstrip("0") == "2"
    image = read_image(out / rows[0]["file"])[0]
    assert image.data.squeeze().shape == (int(rows[0]["rows"]), int(rows[0]["columns"]))
    assert image.spacing[-2:] == pytest.approx([float(s) for s in rows[0]["spacing_mm"].split()])
    assert rows[0]["spacing_mm"] == "4 4"  # MNI at 2 mm, downsampled 2x: native 4 mm pixels
    # refused when not empty, added to with --append (numbering goes on)
    assert main(argv) == 2 and "not empty" in _err(capsys)
    assert main([*argv, "--append", "--condition", "GM", "--n", "1"]) == 0
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert len(rows) == 5 and rows[-1]["file"].startswith("00005_GM")
    assert len(list(out.glob("*.nii.gz"))) == 5 and not list(out.glob(".*"))


@pytest.mark.parametrize("fmt, suffix", [("dicom", ".dcm"), ("nrrd", ".nrrd"), ("png", ".png")])
def test_export_other_formats(fmt, suffix, run_dir, tmp_path):
    out = tmp_path / fmt
    argv = ["generate", str(run_dir), "--n", "1", "--condition", "T1", "--out", str(out)]
    assert main([*argv, "--format", fmt]) == 0
    files = sorted(out.glob(f"*{suffix}"))
    assert len(files) == 1
    if fmt != "png":
        image = read_image(files[0])[0]
        assert np.isfinite(image.data).all() and image.data.squeeze().ndim == 2
        assert image.spacing[-1] == pytest.approx(4.0, rel=1e-3)
    if fmt == "dicom":
        import pydicom

        ds = pydicom.dcmread(files[0])
        assert ds.PatientID == "" and "synthetic" in ds.SeriesDescription


def test_export_verdict_from_evaluation(run_dir, tmp_path, capsys):
    import json

    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "metrics.json").write_text(
        json.dumps({"memorization": {"flagged": True, "reasons": ["C_T -4.1"]}})
    )
    out = tmp_path / "ds"
    argv = ["generate", str(run_dir), "--n", "1", "--out", str(out), "--format", "png"]
    assert main([*argv, "--evaluation", str(ev)]) == 0
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert rows[0]["memorization"] == "flagged: C_T -4.1"
    assert "warning: this checkpoint was flagged" in capsys.readouterr().err
    # synthetic DICOM of a flagged checkpoint is refused before anything is written
    dicom = ["generate", str(run_dir), "--n", "1", "--out", str(tmp_path / "dcm"), "--format"]
    assert main([*dicom, "dicom", "--evaluation", str(ev)]) == 2
    assert "not written as synthetic DICOM" in _err(capsys)
    assert not (tmp_path / "dcm").exists()


def test_table_split_becomes_the_heldout_split(tmp_path, capsys):
    import json

    root = folder_cohort(tmp_path / "c")
    table = root / "t.csv"
    table.write_text(
        "path,condition,split,patient\n"
        "healthy/scan0.nii.gz,healthy,train,p1\nhealthy/scan1.nii.gz,healthy,heldout,p2\n"
        "tumour/scan0.nii.gz,tumour,train,p3\ntumour/scan1.nii.gz,tumour,,p4\n"
    )
    out = tmp_path / "r"
    argv = ["train", "--cohort", str(table), "--no-cache", "--out", str(out), *TINY]
    assert main(argv) == 0
    assert "held-out split from the table" in capsys.readouterr().err
    latest = (out / "latest").read_text().strip()
    meta = json.loads((out / "checkpoints" / latest / "state.json").read_text())["meta"]
    split = meta["split"]["conditions"]
    assert split["healthy"]["mode"] == "groups" and len(split["healthy"]["groups"]) == 1
    assert split["healthy"]["groups"][0].startswith("patient-")  # hashed, never "p2"
    assert split["tumour"]["mode"] == "none" and split["healthy"]["heldout"] > 0
    # one patient on both sides of the split: refused
    table.write_text(
        "path,condition,split,patient\n"
        "healthy/scan0.nii.gz,healthy,train,p1\nhealthy/scan1.nii.gz,healthy,heldout,p1\n"
    )
    argv2 = ["train", "--cohort", str(table), "--no-cache", "--out", str(tmp_path / "r2"), *TINY]
    assert main(argv2) == 2
    assert "on both sides of the split" in _err(capsys)


def test_train_cohort_ct_window_reaches_the_slices(tmp_path):
    """``--ct-window`` sets the window of cohort CT scans (stored in the checkpoint)."""
    import json

    root = folder_cohort(tmp_path / "c")
    out = tmp_path / "r"
    argv = ["train", "--cohort", str(root), "--modality", "CT", "--no-cache", *TINY]
    assert main([*argv, "--ct-window=-300,700", "--out", str(out)]) == 0
    state = json.loads(next(out.glob("**/state.json")).read_text())
    windows = {(t["low"], t["high"]) for t in state["meta"]["transforms"].values()}
    assert windows == {(-300.0, 700.0)}
