"""``napari-medgan evaluate`` end to end on MNI152 NIfTI files and tiny checkpoints trained with
(and without) a held-out split, including ``--samples`` from files."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from napari_medgan.cli import main
from napari_medgan.cli.common import load_volumes
from napari_medgan.engine import Sampler, TrainConfig, Trainer, build_dataset

NAMES = ("T1", "GM", "WM")


def _train(root, files, name, **changes):
    cfg = TrainConfig(size=32, steps=20, batch_size=8, base_channels=8, max_channels=32,
                      z_dim=32, preview_every=0, checkpoint_every=0, score_every=0, device="cpu",
                      seed=0, out_dir=str(root / name), **changes)
    ds = build_dataset(load_volumes(files, list(NAMES)), 32, cfg.slice_axis, cfg.min_foreground)
    trainer = Trainer(cfg, ds)
    for _ in trainer.run():
        pass
    trainer.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """MNI152 templates at 4 mm as NIfTI files; a 20-step conditional run holding out 20 % of
    the slices (slabs with a gap), and one trained without a held-out split."""
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
    _train(root, files, "run")
    _train(root, files, "old", holdout=0.0)
    return root, files


def _args(root, files, out, run="run", extra=("--n", "45")):
    cond = [a for n in NAMES for a in ("--condition", n)]
    return ["evaluate", str(root / run), *files, *cond, *extra, "--bootstrap", "20",
            "--out", str(out)]


def test_evaluate_writes_table_controls_verdict_and_networks(run, capsys):
    root, files = run
    out = root / "eval"
    assert main(_args(root, files, out)) == 0
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "report.md", "swd_levels.png", "diversity.png",
            "nearest_neighbours.png", "feature_extractor.safetensors",
            "classifier.safetensors"} <= names
    data = json.loads((out / "metrics.json").read_text())
    assert isinstance(data["memorization"]["flagged"], bool)
    assert data["protocol"]["heldout_given"] and data["checkpoint"]["split"]["mode"] == "slabs"
    assert data["class_names"] == list(NAMES) and data["n_generated"] == 45
    for key in ("swd", "msssim_gap", "kid", "fd", "cond_accuracy", "swap_accuracy", "authpct",
                "ct", "nn_distance", "nn_distance_feature", "near_copy_fraction"):
        m = data["metrics"][key]
        assert np.isfinite(m["value"]) and len(m["ci"]) == 2 and "baseline" in m, key
        assert "ratio" in m, key
    assert data["metrics"]["swd"]["ratio"] > 0
    verbatim, untrained = data["controls"]["verbatim"], data["controls"]["untrained"]
    assert verbatim["memorization"]["flagged"] and not untrained["memorization"]["flagged"]
    assert untrained["metrics"]["swd"]["ratio"] > verbatim["metrics"]["swd"]["ratio"]
    digest = hashlib.sha256((out / "feature_extractor.safetensors").read_bytes()).hexdigest()
    assert data["feature_extractor"]["sha256"] == digest
    report = (out / "report.md").read_text()
    assert digest in report and "](swd_levels.png)" in report and "held-out" in report
    assert not list(root.glob(".eval-*"))  # no temporary folder left behind
    assert str(out / "report.md") in capsys.readouterr().out


def _slices_as_file(root, files, name, pick, perturb, seed=0):
    """Write, per condition, the run's training (``pick="train"``) or held-out slices of the
    real inputs, in native units and shape, perturbed by ``perturb(stack, window)``."""
    from napari_medgan.engine.holdout import HoldoutSplit
    from napari_medgan.engine.metrics.sampled import dataset_for, run_split
    from napari_medgan.io import ImageData
    from napari_medgan.io.nifti import write_nifti

    sampler = Sampler.from_checkpoint(root / "run")
    vols = load_volumes(files, list(NAMES))
    ds, _ = dataset_for(sampler, vols)
    train, held = HoldoutSplit.from_dict(run_split(sampler)).masks(ds)
    mask = train if pick == "train" else held
    axis = sampler.config.slice_axis
    out = []
    for cond, v in zip(NAMES, vols):
        sel = mask & (np.asarray(ds.sources) == v.name)
        idx = ds.slice_index.numpy()[sel]
        stack = np.take(np.asarray(v.data, dtype=np.float32), idx, axis=axis)
        t = sampler.transforms[cond]
        stack = perturb(stack, t.high - t.low, np.random.default_rng(seed))
        path = root / f"{name}_{cond}.nii.gz"
        if not path.exists():
            write_nifti(path, ImageData(data=stack, spacing=v.spacing, origin=v.origin,
                                        name=cond))
        out.append(str(path))
    return out


def _shift_and_noise(stack, width, rng):
    """Copies shifted by 1 voxel in-plane plus gaussian noise σ = 0.05 of the model range."""
    shifted = np.roll(stack, 1, axis=-1)
    return shifted + rng.normal(0, 0.025 * width, stack.shape).astype(np.float32)


def test_samples_perturbed_copies_from_a_heldout_run_are_flagged(run, capsys):
    root, files = run
    samples = _slices_as_file(root, files, "copies", "train", _shift_and_noise)
    out = root / "eval-copies"
    assert main(_args(root, files, out, extra=("--samples", *samples))) == 0
    data = json.loads((out / "metrics.json").read_text())
    assert data["scored"].startswith("samples")
    assert data["memorization"]["flagged"] is True
    assert data["memorization"]["copied_fraction"] > 0.7
    assert "FLAGGED" in capsys.readouterr().err


def test_samples_of_heldout_real_slices_are_not_flagged(run):
    root, files = run
    samples = _slices_as_file(root, files, "heldout", "heldout", lambda s, w, r: s)
    out = root / "eval-heldout"
    assert main(_args(root, files, out, extra=("--samples", *samples))) == 0
    data = json.loads((out / "metrics.json").read_text())
    assert data["memorization"]["flagged"] is False, data["memorization"]["reasons"]


def test_run_without_heldout_split_still_evaluates_and_says_so(run, capsys):
    root, files = run
    out = root / "eval-old"
    assert main(_args(root, files, out, run="old", extra=("--n", "30"))) == 0
    data = json.loads((out / "metrics.json").read_text())
    assert data["protocol"]["heldout_given"] is False
    assert "cannot be separated" in (out / "report.md").read_text()
    assert "cannot be separated" in capsys.readouterr().err


def _fails(args, capsys, *needles):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_bad_samples_give_one_line_and_exit_2(run, capsys, tmp_path):
    import nibabel as nib

    root, files = run
    _fails(_args(root, files, tmp_path / "a", extra=("--samples", files[0])), capsys,
           "--samples", "need 3")
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a nifti file")
    _fails(_args(root, files, tmp_path / "b", extra=("--samples", str(bad), *files[1:])),
           capsys, "broken.nii.gz")
    small = tmp_path / "small.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((10, 10, 10), np.float32), np.eye(4)), small)
    _fails(_args(root, files, tmp_path / "c", extra=("--samples", str(small), *files[1:])),
           capsys, "model size")
    _fails(_args(root, files, tmp_path / "d", extra=("--n", "5", "--samples", *files)),
           capsys, "--n")
    assert not any((tmp_path / x).exists() for x in "abcd")


def test_evaluate_refuses_a_non_empty_out_folder(run, capsys, tmp_path):
    root, files = run
    (tmp_path / "keep.txt").write_text("mine")
    _fails(_args(root, files, tmp_path), capsys, "not empty")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_evaluate_rejects_unknown_condition_in_one_line(run, capsys, tmp_path):
    root, files = run
    args = _args(root, files, tmp_path / "x")
    args[args.index("WM")] = "CT"
    _fails(args, capsys, "CT")
    assert not (tmp_path / "x").exists()


def test_best_checkpoint_is_scored_beside_the_latest_with_its_selection(run):
    """A run whose ``best`` pointer names another checkpoint than ``latest``: metrics.json says
    which was scored and what picked it, and scores the latest against the same reference."""
    import shutil

    root, files = run
    best_run = root / "run_best"
    shutil.copytree(root / "run", best_run)
    latest = (best_run / "latest").read_text().strip()
    folders = best_run / "checkpoints"
    shutil.copytree(folders / latest, folders / "step_0000010")
    (best_run / "best").write_text("step_0000010\n")
    out = root / "eval-best"
    assert main(_args(root, files, out, run="run_best")) == 0
    data = json.loads((out / "metrics.json").read_text())
    ck = data["checkpoint"]
    assert ck["kind"] == "best" and ck["path"].endswith("step_0000010")
    assert "held-out" in ck["selected_on"] and "optimistic" in ck["selected_on"]
    other = data["other_checkpoints"]["latest"]
    assert other["kind"] == "latest" and other["path"].endswith(latest)
    assert other["metrics"]["swd"]["ratio"] > 0 and "flagged" in other["memorization"]
    # the same weights under both names: the same reference gives the same SWD
    assert other["metrics"]["swd"]["value"] == pytest.approx(data["metrics"]["swd"]["value"])
    assert "Latest checkpoint (step" in (out / "report.md").read_text()
    # scoring the latest itself adds no second row
    out2 = root / "eval-latest"
    assert main(_args(root, files, out2, run="run_best/checkpoints/" + latest)) == 0
    data2 = json.loads((out2 / "metrics.json").read_text())
    assert data2["checkpoint"]["kind"] == "latest" and "other_checkpoints" not in data2


def test_features_trained_names_a_network_trained_on_the_training_slices(run, capsys, tmp_path,
                                                                        monkeypatch):
    """``--features trained``: KID/FD come from the small CNN trained on the run's training
    slices, saved beside the report with the hash metrics.json names; a bad name is one line."""
    from napari_medgan.engine.metrics import features

    monkeypatch.setattr(features, "EXTRACTOR_STEPS", 30)  # the default 300: ~20 s more
    root, files = run
    out = root / "eval-trained-features"
    assert main(_args(root, files, out, extra=("--n", "30", "--features", "trained"))) == 0
    data = json.loads((out / "metrics.json").read_text())
    fx = data["feature_extractor"]
    assert fx["kind"] == "features" and fx["steps"] == 30
    assert fx["sha256"] == hashlib.sha256(
        (out / "feature_extractor.safetensors").read_bytes()).hexdigest()
    assert np.isfinite(data["metrics"]["kid"]["value"]) and "baseline" in data["metrics"]["kid"]
    assert "same bytes for any thread count" in (out / "report.md").read_text()
    with pytest.raises(SystemExit) as exc:
        main(_args(root, files, tmp_path / "x", extra=("--features", "inception")))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "invalid choice: 'inception'" in err[-1]
