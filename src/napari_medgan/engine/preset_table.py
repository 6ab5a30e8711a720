"""The presets' key settings as a markdown table, the one in README.md ("How it works").

Every cell is rendered from :func:`~napari_medgan.engine.config.preset`, so the README cannot
name a preset value the code does not use: :func:`with_table` regenerates the table between its
markers, :func:`write_table` rewrites README.md in place, and a test
(``tests/test_docs_defaults.py``) fails when the committed table differs from the rendering.
The full list of settings, presets' values included, is docs/cli.md's table
(:func:`napari_medgan.engine.settings.write_table`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .config import TrainConfig, preset
from .settings import SETTING, SIZES, between_markers, show

TABLE_BEGIN = "<!-- preset table: generated from napari_medgan.engine.config.preset -->"
TABLE_END = "<!-- end of the preset table -->"

#: The table's columns: heading, preset name, size (None: the preset's own) and model family.
COLUMNS: tuple[tuple[str, str, int | None, str], ...] = (
    ("`cpu`", "cpu", None, "gan"),
    ("`gpu`", "gpu", None, "gan"),
    ("`gpu`, `--size 256`", "gpu", 256, "gan"),
    ("translate, `cpu`", "cpu", None, "translate"),
    ("translate, `gpu`", "gpu", None, "translate"),
    ("mask2image, `cpu`", "cpu", None, "mask2image"),
    ("mask2image, `gpu`", "gpu", None, "mask2image"),
)


def _steps(c: TrainConfig, name: str) -> str:
    """The steps, and the preset's steps at the other sizes where they differ."""
    others = [(s, preset(name, size=s, family=c.family).steps) for s in SIZES if s != c.size]
    notes = [f"{s} px: {n}" for s, n in others if n != c.steps]
    return str(c.steps) + (f" ({'; '.join(notes)})" if notes else "")


def _rates(c: TrainConfig, _: str) -> str:
    if c.lr_g == c.lr_d:
        return f"{show(c.lr_g)} (G and D)"
    return f"G {show(c.lr_g)}, D {show(c.lr_d)}"


def _loss(c: TrainConfig, _: str) -> str:
    if SETTING["l1_weight"].used_by(c.family) and c.l1_weight:
        return f"{c.loss} + {show(c.l1_weight)} × L1"
    if SETTING["fm_weight"].used_by(c.family) and c.fm_weight:
        return f"{c.loss} + {show(c.fm_weight)} × feature matching"
    return c.loss


def _discriminator(c: TrainConfig, _: str) -> str:
    if c.discriminator != "projection":
        return c.discriminator
    spectral = c.arch == "upconv" or c.d_spectral_norm
    return f"projection, {'spectral norm' if spectral else 'no spectral norm'}"


def _augment(c: TrainConfig, _: str) -> str:
    ops = ", ".join(c.augment)
    if not c.augment:
        return "none"
    if c.ada_target > 0:
        return f"ADA (target {show(c.ada_target)}, p from {show(c.augment_p)}): {ops}"
    if c.augment_p > 0:
        return f"fixed p {show(c.augment_p)}: {ops}"
    return "off (p 0)"


def _r1(c: TrainConfig, _: str) -> str:
    if not c.r1_gamma:
        return "off"
    return f"γ {show(c.r1_gamma)}, lazy: every {c.r1_every} steps"


def _crop(c: TrainConfig, _: str) -> str:
    return f"{c.crop} px windows" if c.crop else "whole slices"


def _value(name: str, fmt: str = "{}") -> Callable[[TrainConfig, str], str]:
    return lambda c, _: fmt.format(show(getattr(c, name)))


#: The rows: label, the settings they show (a family that reads none of them gets "—"), cell.
ROWS: tuple[tuple[str, tuple[str, ...], Callable[[TrainConfig, str], str]], ...] = (
    ("size", ("size",), _value("size", "{} px")),
    ("training crop", ("crop",), _crop),
    ("steps", ("steps",), _steps),
    ("batch", ("batch_size",), _value("batch_size")),
    ("learning rate", ("lr_g", "lr_d"), _rates),
    ("Adam betas", ("beta1", "beta2"), lambda c, _: f"{show(c.beta1)}, {show(c.beta2)}"),
    ("loss", ("loss",), _loss),
    ("generator", ("arch",), _value("arch")),
    ("class code", ("class_input",), _value("class_input")),
    ("discriminator", ("discriminator",), _discriminator),
    ("widths (base / cap)", ("base_channels", "max_channels"),
     lambda c, _: f"{c.base_channels} / {c.max_channels}"),
    ("augmentation", ("augment", "augment_p", "ada_target"), _augment),
    ("R1 penalty", ("r1_gamma", "r1_every"), _r1),
    ("EMA decay", ("ema_decay",), lambda c, _: show(c.ema_decay) if c.ema_decay else "off"),
    ("precision", ("precision",), _value("precision")),
    ("channels-last", ("channels_last",), _value("channels_last")),
)  # fmt: skip


def markdown_table() -> str:
    """The preset table of README.md (without its begin / end markers)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    configs = [(preset(n, size=s, family=f), n) for _, n, s, f in COLUMNS]
    rows = [
        "| | " + " | ".join(heading for heading, *_ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for label, names, render in ROWS:
        cells = [
            render(c, n) if any(SETTING[k].used_by(c.family) for k in names) else "—"
            for c, n in configs
        ]
        rows.append("| " + " | ".join(cell(t) for t in (label, *cells)) + " |")
    return "\n".join(rows) + "\n"


def with_table(doc: str) -> str:
    """``doc`` (the text of README.md) with the table between its markers regenerated."""
    return between_markers(doc, TABLE_BEGIN, TABLE_END, markdown_table(), "preset table")


def write_table(path: str = "README.md") -> None:
    """Regenerate the preset table in the file ``path`` (README.md) in place."""
    doc = Path(path)
    doc.write_text(with_table(doc.read_text()))
