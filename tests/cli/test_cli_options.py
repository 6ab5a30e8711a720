"""Every TrainConfig setting reachable from the command line: named options and ``--set``."""

from __future__ import annotations

import pytest

from engine_fixtures import mni_arrays
from napari_medgan.cli import build_parser, main
from napari_medgan.cli.overrides import settable
from napari_medgan.cli.train import config_from_args, preset_base
from napari_medgan.engine import TrainConfig
from napari_medgan.engine.config import (
    ARCHS,
    CLASS_INPUTS,
    DISCRIMINATORS,
    PRECISIONS,
    ConfigError,
    parse_ct_window,
)
from napari_medgan.io import ImageData, write_nifti


def config_of(*argv: str, command: str = "train") -> TrainConfig:
    """What ``napari-medgan COMMAND x ARGV`` would train with (nothing is read or trained)."""
    args = build_parser().parse_args([command, *(["x"] if command == "train" else []), *argv])
    return config_from_args(args, preset_base(args, TrainConfig(slice_axis=0)))


def error_line(capsys, argv: list[str]) -> str:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse usage errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("command", ["train", "demo"])
def test_named_recipe_options_override_the_preset(command):
    default = config_of("--device", "cpu", command=command)
    assert (default.arch, default.class_input, default.discriminator, default.precision) == (
        "dcgan",
        "onehot",
        "batchnorm",
        "auto",
    )
    config = config_of(
        "--device", "cpu", "--arch", "upconv", "--class-input", "embedding",
        "--discriminator", "projection", "--precision", "bf16", command=command,
    )  # fmt: skip
    assert (config.arch, config.class_input, config.discriminator, config.precision) == (
        "upconv",
        "embedding",
        "projection",
        "bf16",
    )
    assert config.steps == default.steps  # the rest of the preset is kept


def test_named_options_offer_the_engine_choices():
    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for choices in (ARCHS, CLASS_INPUTS, DISCRIMINATORS, PRECISIONS):
        assert "{" + ",".join(choices) + "}" in text


def test_set_parses_each_field_type():
    config = config_of(
        "--device", "cpu",
        "--set", "z_dim=64",  # int
        "--set", "beta1=0.0",  # float
        "--set", "augment=gamma, cutout",  # tuple
        "--set", "channels_last=true",  # bool
        "--set", "d_spectral_norm=off",
        "--set", "ct_window=-100,300",  # optional pair
        "--set", "keep-checkpoints=5",  # dashes work too
    )  # fmt: skip
    assert (config.z_dim, config.beta1, config.augment) == (64, 0.0, ("gamma", "cutout"))
    assert config.channels_last is True and config.d_spectral_norm is False
    assert config.ct_window == (-100.0, 300.0) and config.keep_checkpoints == 5
    assert config_of("--device", "cpu", "--set", "augment=none").augment == ()


def test_named_option_wins_over_set_and_set_size_picks_the_preset_steps():
    config = config_of("--device", "cpu", "--set", "arch=upconv", "--arch", "dcgan")
    assert config.arch == "dcgan"
    assert config_of("--device", "cpu", "--set", "size=32").steps == 3000  # cpu preset at 32 px


def test_every_field_but_extra_is_settable():
    names = [f for f in TrainConfig.__dataclass_fields__ if f != "extra"]
    assert list(settable()) == names


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--set", "zdim=3"], "unknown setting 'zdim'; valid keys: family, size, steps"),
        (["--set", "z_dim=big"], "z_dim expects int (got 'big')"),
        (["--set", "beta1=half"], "beta1 expects float"),
        (["--set", "channels_last=maybe"], "channels_last expects true/false"),
        (["--set", "ct_window=300"], "ct_window expects LOW,HIGH"),
        (["--set", "z_dim"], "expected KEY=VALUE"),
        (["--set", "z_dim=0"], "z_dim must be a positive integer"),
        (["--set", "augment=zoom"], "unknown augmentation 'zoom'"),
        (["--arch", "vit"], "argument --arch: invalid choice"),
        (["--precision", "fp8"], "argument --precision: invalid choice"),
        (["--class-input", "text"], "argument --class-input: invalid choice"),
        (["--discriminator", "patch"], "argument --discriminator: invalid choice"),
        (["--minutes", "-1"], "minutes must be a number of minutes >= 0"),
        (["--minutes", "soon"], "argument --minutes: invalid float value"),
    ],
)
def test_bad_setting_one_line_exit_2(argv, match, tmp_path, capsys):
    line = error_line(capsys, ["train", "x", "--device", "cpu", "--quiet", *argv])
    assert match in line, line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "window"),
    [("-1000,2000", (-1000.0, 2000.0)), (" -100 , 300 ", (-100.0, 300.0)), ("", None),
     ("None", None)],
)
def test_ct_window_text_reads_the_same_in_the_cli_and_the_widget(text, window):
    from napari_medgan.widgets.train.fields import BAD_WINDOW, field_value

    assert parse_ct_window(text) == window
    assert field_value("ct_window", text) == window  # the Train widget's field
    assert config_of("--set", f"ct_window={text}").ct_window == window
    assert config_of(f"--ct-window={text}").ct_window == window
    with pytest.raises(ConfigError, match="ct_window must be two finite numbers"):
        TrainConfig(ct_window=(float("-inf"), 0.0)).validate()
    for bad in ("300", "a,b", "1,2,3", "-inf,inf", "nan,5"):
        with pytest.raises(ValueError):
            parse_ct_window(bad)
        with pytest.raises(ConfigError, match="--ct-window takes LOW,HIGH"):
            config_of(f"--ct-window={bad}")
        assert field_value("ct_window", bad) is BAD_WINDOW  # refused by validate at Start


def test_resume_refuses_a_recipe_change(tmp_path, capsys):
    name, data, spacing = mni_arrays()[0]
    image = ImageData(data=data, spacing=spacing, origin=(0.0, 0.0, 0.0), name=name)
    scan = str(write_nifti(tmp_path / "t1.nii.gz", image))
    run = tmp_path / "run"
    tiny = ["--size", "32", "--batch-size", "4", "--device", "cpu", "--quiet", "--out", str(run)]
    assert main(["train", scan, "--steps", "2", "--holdout", "0", *tiny]) == 0
    capsys.readouterr()
    resume = ["train", scan, "--steps", "3", "--resume", str(run), "--device", "cpu", "--quiet"]
    for extra, setting in (
        (["--arch", "upconv"], "arch"),
        (["--precision", "bf16"], "precision"),
        (["--set", "z_dim=32"], "z_dim"),
    ):
        line = error_line(capsys, [*resume, *extra])
        assert "cannot resume" in line and setting in line, line
    assert (run / "latest").read_text().strip() == "step_0000002"  # nothing trained


def test_settings_table_in_docs_lists_every_field_with_a_real_option():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| `")]
    names = [cells[0].strip().strip("`") for cells in rows]
    assert names == list(settable())  # every setting, in TrainConfig's order
    options = build_parser()._subparsers._group_actions[0].choices["train"]._option_string_actions
    for cells in rows:
        option = cells[2].strip().strip("`")
        assert option in options, option


def test_named_options_come_from_the_settings_spec():
    from napari_medgan.cli.train import DESTS
    from napari_medgan.engine.settings import SETTINGS

    parser = build_parser()._subparsers._group_actions[0].choices["train"]
    actions = parser._option_string_actions
    for s in SETTINGS:
        if s.option is None:
            continue
        action = actions[s.option]
        assert action.dest == DESTS.get(s.name, s.name)
        assert action.default is None  # "not given": the preset's or the base's value stays
        assert s.help.split(";")[0].split(":")[0] in action.help.replace("%%", "%")
        if s.choices is not None and not s.is_list:
            assert tuple(action.choices) == s.choices
    assert "--r1" in actions and actions["--r1"].dest == "r1_gamma"
    assert "--out" in actions and actions["--out"].dest == "out"
    config = config_of(
        "--device", "cpu", "--l1-weight", "5", "--family", "translate", "--seed", "7",
        "--score-every", "0", "--holdout-slabs", "3", "--out", "runs/x", "--augment", "none",
    )  # fmt: skip
    assert (config.family, config.l1_weight, config.seed, config.score_every) == (
        "translate", 5.0, 7, 0,
    )  # fmt: skip
    assert (config.holdout_slabs, config.out_dir, config.augment) == (3, "runs/x", ())


def test_compile_flag_and_demo_size_via_set():
    from napari_medgan.cli.demo import DEMO_CONFIG, DEMO_MINUTES, demo_base

    assert config_of("--device", "cpu").compile is False
    assert config_of("--device", "cpu", "--compile").compile is True
    assert config_of("--device", "cpu", "--compile", "--preset", "gpu").compile is True
    args = build_parser().parse_args(["demo", "--set", "size=32"])
    assert demo_base(args).steps == 3000  # the cpu preset at 32 px, not the 64 px demo's 800
    assert demo_base(build_parser().parse_args(["demo"])) is DEMO_CONFIG
    assert demo_base(args).minutes == DEMO_MINUTES  # a time budget whatever the size
    assert config_of("--minutes", "2.5", command="demo").minutes == 2.5
