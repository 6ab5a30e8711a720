"""CLI held-out options: --holdout / --score-every, the printed split, best checkpoint used."""

import json

import pytest

from engine_fixtures import mni_arrays
from napari_medgan.cli import main
from napari_medgan.engine import TrainConfig
from napari_medgan.engine.checkpoint import BEST, LATEST
from napari_medgan.io import ImageData, write_nifti

TINY = ["--size", "32", "--batch-size", "4", "--device", "cpu", "--quiet", "--steps", "2"]


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    name, data, spacing = mni_arrays()[0]
    path = tmp_path_factory.mktemp("scans") / f"{name}.nii.gz"
    return str(
        write_nifti(path, ImageData(data=data, spacing=spacing, origin=(0.0, 0.0, 0.0), name=name))
    )


@pytest.mark.parametrize(
    ("option", "match"),
    [
        (["--holdout", "0.8"], "holdout must be a fraction between 0 and 0.5"),
        (["--holdout", "-0.1"], "holdout must be a fraction"),
        (["--holdout", "half"], "invalid float value"),
        (["--score-every", "-3"], "score_every"),
        (["--holdout-slabs", "0"], "holdout_slabs must be a whole number of slabs from 1 to 8"),
        (["--holdout-slabs", "9"], "holdout_slabs must be a whole number of slabs from 1 to 8"),
        (["--holdout-slabs", "two"], "invalid int value"),
    ],
)
def test_bad_holdout_options_one_line_exit_2(scan, tmp_path, capsys, option, match):
    try:
        status = main(["train", scan, "--out", str(tmp_path / "run"), *TINY, *option])
    except SystemExit as exc:  # argparse type errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0], err
    assert not (tmp_path / "run").exists()


def test_train_prints_split_and_keeps_best(scan, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", scan, "--out", str(out), *TINY, "--score-every", "1"]) == 0
    captured = capsys.readouterr()
    split_lines = [
        line for line in captured.err.splitlines() if line.startswith("split: held out ")
    ]
    assert len(split_lines) == 1 and "slabs" in split_lines[0], captured.err
    assert "best held-out score at step" in captured.out
    assert (out / BEST).exists()


def test_no_holdout_says_plainly_what_is_lost(scan, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", scan, "--out", str(out), *TINY, "--holdout", "0"]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if "cannot be separated" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: no held-out data")
    assert not (out / BEST).exists()


def test_holdout_slabs_reach_the_split_and_the_checkpoint(scan, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", scan, "--out", str(out), *TINY, "--holdout-slabs", "3"]) == 0
    assert "3 slab(s)" in capsys.readouterr().err
    state = json.loads((out / "checkpoints" / (out / LATEST).read_text().strip()
                        / "state.json").read_text())
    assert state["config"]["holdout_slabs"] == 3
    (entry,) = state["meta"]["split"]["conditions"].values()
    (slabs,) = entry["slabs"].values()
    assert len(slabs) == 3


def test_holdout_slabs_round_trip_and_old_configs_load():
    cfg = TrainConfig(holdout_slabs=4)
    assert TrainConfig.from_dict(cfg.to_dict()).holdout_slabs == 4
    old = TrainConfig().to_dict()
    del old["holdout_slabs"]  # a checkpoint written before the option existed
    assert TrainConfig.from_dict(old).holdout_slabs == 2
