"""One settings spec: every TrainConfig field declared once, and what is derived from it."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import pytest

from napari_medgan.engine.config import (
    CHECKS,
    RECIPE_KEYS,
    ConfigError,
    TrainConfig,
)
from napari_medgan.engine.resume import ALLOWED_CHANGES
from napari_medgan.engine.settings import (
    FAMILIES,
    GROUPS,
    SETTING,
    SETTINGS,
    TABLE_BEGIN,
    TABLE_END,
    markdown_table,
    with_table,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
RANGED = [s for s in SETTINGS if s.minimum is not None or s.maximum is not None]


def test_spec_covers_every_field_in_order_with_its_type():
    fields = [f for f in dataclasses.fields(TrainConfig) if f.name != "extra"]
    assert [f.name for f in fields] == [s.name for s in SETTINGS]
    hints = typing.get_type_hints(TrainConfig)
    for f, s in zip(fields, SETTINGS):
        assert f.metadata["setting"] is s  # the field is built from its declaration
        assert hints[f.name] == s.type, f.name


def test_defaults_are_the_spec_defaults():
    config = TrainConfig()
    assert {s.name: getattr(config, s.name) for s in SETTINGS} == {
        s.name: s.default for s in SETTINGS
    }
    config.validate()
    for s in SETTINGS:
        assert s.problem(s.default) is None, s.name


def test_declarations_are_well_formed():
    for s in SETTINGS:
        assert s.help and "\n" not in s.help, s.name
        assert s.group in GROUPS, s.name
        assert s.families == "all" or set(s.families) <= set(FAMILIES), s.name
        assert s.option is None or s.option.startswith("--"), s.name
        if s.choices is not None and not s.is_list:
            assert s.default in s.choices or s.default is None, s.name
    assert SETTING["l1_weight"].used_by("translate") and not SETTING["l1_weight"].used_by("gan")
    for name in ("z_dim", "class_input", "arch", "discriminator", "d_spectral_norm"):
        assert not SETTING[name].used_by("translate") and SETTING[name].used_by("gan"), name
    assert set(CHECKS) <= set(SETTING)


def test_recipe_keys_and_allowed_changes_are_derived():
    assert RECIPE_KEYS == tuple(s.name for s in SETTINGS if s.recipe)
    assert RECIPE_KEYS == (
        "size", "steps", "batch_size", "lr_g", "lr_d", "beta1", "beta2", "loss", "crop", "r1_gamma",
        "r1_every", "augment", "augment_p", "ada_target", "arch", "class_input", "discriminator",
        "d_spectral_norm", "channels_last", "precision", "ema_decay", "z_dim", "base_channels",
        "max_channels",
    )  # fmt: skip
    assert frozenset(s.name for s in SETTINGS if s.resume_changeable) == ALLOWED_CHANGES
    assert ALLOWED_CHANGES == {
        "steps", "minutes", "preview_every", "checkpoint_every", "keep_checkpoints", "score_every",
        "device", "compile", "out_dir",
    }  # fmt: skip


def outside(s) -> list:
    """Values just outside ``s``'s range (and one of the wrong type)."""
    bad = ["x", True]
    step = 1 if s.type is int else 1e-9
    if s.minimum is not None:
        bad.append(s.minimum if s.exclusive_min else s.minimum - step)
    if s.maximum is not None:
        bad.append(s.maximum if s.exclusive_max else s.maximum + step)
    if s.type is float:
        bad += [math.nan, math.inf]
    if s.type is int and s.maximum is None:
        bad.append(float(s.minimum + 1))  # a whole number, but not an int
    return bad


def inside(s) -> list:
    lo, hi = s.spin_range(1 if s.type is int else 1e-6, 10 * (s.minimum or 0) + 10)
    return [s.type(lo), s.type(hi)]


@pytest.mark.parametrize("s", RANGED, ids=lambda s: s.name)
def test_validate_rejects_out_of_range_naming_the_setting(s):
    for value in outside(s):
        with pytest.raises(ConfigError, match=rf"^{s.name} must be ") as info:
            TrainConfig(**{s.name: value}).validate()
        assert repr(value) in str(info.value)
    for value in inside(s):
        TrainConfig(**{s.name: value, "max_channels": 10**6}).validate()


@pytest.mark.parametrize("s", [s for s in SETTINGS if s.choices is not None], ids=lambda s: s.name)
def test_validate_rejects_a_value_outside_the_choices(s):
    bad = ("nope",) if s.is_list else "nope"
    with pytest.raises(ConfigError, match=s.name if not s.is_list else s.noun):
        TrainConfig(**{s.name: bad}).validate()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps": 0}, "steps must be a positive integer (got 0)"),
        ({"z_dim": 0}, "z_dim must be a positive integer"),
        ({"lr_g": 5}, "lr_g must be in (0, 1) (got 5)"),
        ({"beta1": 1.0}, "beta1 must be in [0, 1) (got 1.0)"),
        ({"l1_weight": -1.0}, "l1_weight must be a number >= 0 (got -1.0)"),
        ({"holdout": 0.8}, "holdout must be a fraction between 0 and 0.5 (got 0.8)"),
        ({"holdout": True}, "holdout must be a fraction between 0 and 0.5 (got True)"),
        ({"holdout_slabs": 9}, "holdout_slabs must be a whole number of slabs from 1 to 8"),
        ({"score_every": -1}, "score_every must be a whole number of steps >= 0 (got -1)"),
        ({"family": "vae"}, "family must be one of gan, translate, mask2image (got 'vae')"),
        ({"size": 48}, "size must be one of 32, 64, 128, 256 (got 48)"),
        ({"class_input": "x"}, "class_input must be one of onehot, embedding"),
        ({"discriminator": "x"}, "discriminator must be one of batchnorm, projection"),
        ({"augment": ("zoom",)}, "unknown augmentation 'zoom'; choose from translation, "),
        ({"compile": "yes"}, "compile must be true or false (got 'yes')"),
        (
            {"ct_window": (5.0, 1.0)},
            "ct_window must be two finite numbers LOW,HIGH with LOW < HIGH",
        ),
        ({"max_channels": 4}, "max_channels must be >= base_channels"),
        ({"device": "tpu"}, "device must be auto, cpu, cuda, cuda:N or mps (got 'tpu')"),
        ({"device": "cuda:x"}, "device must be auto, cpu, cuda, cuda:N or mps"),
        ({"out_dir": ""}, "out_dir must not be empty"),
    ],
)
def test_messages(changes, message):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**changes).validate()
    assert str(info.value).startswith(message), str(info.value)


def test_first_bad_setting_in_field_order_is_named():
    with pytest.raises(ConfigError, match=r"^steps"):
        TrainConfig(steps=0, device="tpu", max_channels=1).validate()


def test_docs_table_is_up_to_date():
    doc = DOCS.read_text()
    assert doc.count(TABLE_BEGIN) == 1 and doc.count(TABLE_END) == 1
    assert with_table(doc) == doc, (
        "docs/cli.md's settings table is out of date: run "
        "python -c 'from napari_medgan.engine.settings import write_table; write_table()'"
    )
    table = markdown_table()
    for s in SETTINGS:
        assert f"| `{s.name}` |" in table
    steps = "recipe: 800 / 20000 (translate: 1500 / 20000; mask2image: 1500 / 20000)"
    assert f"| `steps` | {steps} |" in table


def test_ct_window_default_note_is_the_engine_window():
    from napari_medgan.engine.data import CT_WINDOW

    low, high = CT_WINDOW
    assert SETTING["ct_window"].default_note == f"{low:g} to {high:g} HU"


def test_spin_range_for_widgets():
    assert SETTING["holdout_slabs"].spin_range(1, 100) == (1, 8)
    assert SETTING["beta2"].spin_range(1e-4, 1) == (0.0, 0.9999)
    assert SETTING["lr_g"].spin_range(1e-6, 1) == (1e-6, 1.0 - 1e-6)
    assert SETTING["z_dim"].spin_range(1, 4096) == (1, 4096)
