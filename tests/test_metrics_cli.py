"""``napari-medgan evaluate`` end to end on MNI152 NIfTI files and a tiny checkpoint."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from napari_medgan.cli import main
from napari_medgan.cli.common import load_volumes
from napari_medgan.engine import TrainConfig, Trainer, build_dataset

NAMES = ("T1", "GM", "WM")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """MNI152 templates at 4 mm as NIfTI files and a 20-step conditional checkpoint on them."""
    import nibabel as nib
    from nilearn import datasets

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("eval-cli")
    loaders = (datasets.load_mni152_template, datasets.load_mni152_gm_template,
               datasets.load_mni152_wm_template)
    files = []
    for name, load in zip(NAMES, loaders):
        img = load(resolution=2)
        data = np.asarray(img.dataobj, dtype=np.float32)[::2, ::2, ::2]
        affine = img.affine.copy()
        affine[:3, :3] *= 2
        path = root / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(data, affine), path)
        files.append(str(path))
    conditions = list(NAMES)
    cfg = TrainConfig(size=32, steps=20, batch_size=8, base_channels=8, max_channels=32,
                      z_dim=32, preview_every=0, checkpoint_every=0, device="cpu", seed=0,
                      out_dir=str(root / "run"))
    ds = build_dataset(load_volumes(files, conditions), 32, cfg.slice_axis, cfg.min_foreground)
    for _ in Trainer(cfg, ds).run():
        pass
    return root, files


def _args(root, files, out):
    cond = [a for n in NAMES for a in ("--condition", n)]
    return ["evaluate", str(root / "run"), *files, *cond, "--n", "45", "--bootstrap", "20",
            "--out", str(out)]


def test_evaluate_writes_metrics_report_plots_and_networks(run, capsys):
    root, files = run
    out = root / "eval"
    assert main(_args(root, files, out)) == 0
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "report.md", "swd_levels.png", "diversity.png",
            "nearest_neighbours.png", "feature_extractor.safetensors",
            "classifier.safetensors"} <= names
    data = json.loads((out / "metrics.json").read_text())
    assert data["class_names"] == list(NAMES) and data["n_generated"] == 45
    for key in ("swd", "msssim_gap", "kid", "fd", "cond_accuracy", "swap_accuracy", "authpct",
                "ct", "nn_distance_pixel", "nn_distance_feature", "near_copy_fraction"):
        m = data["metrics"][key]
        assert np.isfinite(m["value"]) and "baseline" in m and len(m["ci"]) == 2, key
    digest = hashlib.sha256((out / "feature_extractor.safetensors").read_bytes()).hexdigest()
    assert data["feature_extractor"]["sha256"] == digest
    report = (out / "report.md").read_text()
    assert digest in report and "](swd_levels.png)" in report
    assert data["checkpoint"]["step"] == 20
    assert not list(root.glob(".eval-*"))  # no temporary folder left behind
    assert str(out / "report.md") in capsys.readouterr().out


def test_evaluate_refuses_a_non_empty_out_folder(run, capsys, tmp_path):
    root, files = run
    (tmp_path / "keep.txt").write_text("mine")
    assert main(_args(root, files, tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert "not empty" in err and len(err.splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_evaluate_rejects_unknown_condition_in_one_line(run, capsys, tmp_path):
    root, files = run
    args = _args(root, files, tmp_path / "x")
    args[args.index("WM")] = "CT"
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "CT" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()
