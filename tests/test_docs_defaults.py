"""Defaults that README.md and docs/ name stay those of the code.

README's preset table is rendered from ``preset()`` (``engine.preset_table``, as docs/cli.md's
settings table is from the settings spec); the other defaults the pages write out in prose are
checked one by one against the value the code uses.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from napari_medgan.engine.config import preset
from napari_medgan.engine.data import CT_WINDOW
from napari_medgan.engine.holdout import DEFAULT_GAP, DEFAULT_SLABS
from napari_medgan.engine.preset_table import (
    COLUMNS,
    ROWS,
    TABLE_BEGIN,
    TABLE_END,
    markdown_table,
    with_table,
)
from napari_medgan.engine.settings import SETTING, show

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, ROOT / ".napari-hub" / "DESCRIPTION.md", *sorted((ROOT / "docs").glob("*.md"))]
WORDS = {1: "one", 2: "two", 3: "three", 4: "four"}


def _flat(text: str) -> str:
    """Text with every run of whitespace as one space (prose is wrapped at any word)."""
    return re.sub(r"\s+", " ", text)


def default(name: str) -> str:
    return show(SETTING[name].default)


def test_readme_preset_table_is_up_to_date():
    doc = README.read_text()
    assert doc.count(TABLE_BEGIN) == 1 and doc.count(TABLE_END) == 1
    assert with_table(doc) == doc, (
        "README.md's preset table is out of date: run "
        "python -c 'from napari_medgan.engine.preset_table import write_table; write_table()'"
    )


def test_preset_table_cells_come_from_the_presets():
    table = markdown_table().splitlines()
    assert len(table) == 2 + len(ROWS)
    cells = [line.removeprefix("| ").removesuffix(" |").split(" | ") for line in table[2:]]
    rows = {label: values for label, *values in cells}
    assert all(len(values) == len(COLUMNS) for values in rows.values())
    for i, (_, name, size, family) in enumerate(COLUMNS):
        c = preset(name, size=size, family=family)
        assert rows["size"][i] == f"{c.size} px"
        assert rows["steps"][i].startswith(str(c.steps))
        assert rows["batch"][i] == str(c.batch_size)
        assert rows["EMA decay"][i] == show(c.ema_decay)
        r1 = rows["R1 penalty"][i]
        assert r1 == "off" if not c.r1_gamma else r1.startswith(f"γ {show(c.r1_gamma)}")
        if family == "gan":
            assert rows["discriminator"][i] == c.discriminator
            assert rows["class code"][i] == c.class_input
        else:  # settings the family does not read
            assert rows["discriminator"][i] == "—"
    # what README's prose says of the presets
    cpu, gpu = preset("cpu"), preset("gpu")
    assert (cpu.discriminator, cpu.class_input, cpu.arch) == ("batchnorm", "onehot", "dcgan")
    assert (gpu.discriminator, gpu.class_input, gpu.arch) == ("batchnorm", "onehot", "dcgan")
    assert cpu.r1_gamma == gpu.r1_gamma == 0 and cpu.ada_target > 0 and gpu.ada_target > 0


# (page, text with {placeholders} filled from the code): each must appear in the page
CLAIMS = [
    (README, "(`--holdout`, default {holdout};"),
    (README, "(`--holdout-slabs`, default {holdout_slabs};"),
    (README, "otherwise {slab_word} slabs of neighbouring slices per scan"),
    (README, "each with {gap} more slices on both sides"),
    (README, "Every `--score-every` steps (default {score_every})"),
    (README, "The {keep_word} newest periodic checkpoints are kept"),
    (README, "`--preset cpu`: {cpu_size} px, {cpu_steps} steps"),
    (README, "`--preset gpu`: {gpu_size} px, 256 px with `--size 256`"),
    (README, "the adversarial loss plus {l1_weight} × the L1 distance"),
    (README, "−{ct_low} to {ct_high} unless `--ct-window`"),
    (README, "less than {min_foreground_pct} % foreground"),
    (README, "Adam, learning rate 2e-4 and betas ({beta1}, {beta2})"),
    (README, "(decay {ema_decay}, with a warm-up)"),
    (README, "`r1_every` steps ({r1_every})"),
    (README, "(E[sign D(real)] above {ada_target})"),
    (ROOT / "docs" / "cohorts.md", "HU window −{ct_low}…{ct_high}"),
    (ROOT / "docs" / "widgets.md", "empty: −{ct_low},{ct_high}"),
    (ROOT / "docs" / "widgets.md", "when a condition has a single scan; default {holdout_slabs}"),
    (ROOT / "docs" / "quality.md", "the default window is −{ct_low} … {ct_high} HU"),
]


def _values() -> dict[str, str]:
    low, high = CT_WINDOW
    cpu, gpu = preset("cpu"), preset("gpu")
    assert low < 0, "the claims write the CT window's low end as −N"
    return {
        **{s: default(s) for s in ("holdout", "holdout_slabs", "score_every", "ema_decay",
                                   "r1_every", "ada_target", "beta1", "beta2", "l1_weight")},
        "slab_word": WORDS[DEFAULT_SLABS],
        "gap": str(DEFAULT_GAP),
        "keep_word": WORDS[SETTING["keep_checkpoints"].default],
        "cpu_size": str(cpu.size), "cpu_steps": str(cpu.steps), "gpu_size": str(gpu.size),
        "ct_low": f"{-low:g}", "ct_high": f"{high:g}",
        "min_foreground_pct": f"{100 * SETTING['min_foreground'].default:g}",
    }  # fmt: skip


@pytest.mark.parametrize(("page", "claim"), CLAIMS, ids=[f"{p.name}:{c[:30]}" for p, c in CLAIMS])
def test_default_named_in_the_docs_is_the_codes(page, claim):
    text = claim.format(**_values())
    assert text in _flat(page.read_text()), f"{page.name} should say {text!r} (the code's default)"


def test_readme_learning_rate_and_slab_count_are_the_codes():
    # README writes the learning rate as 2e-4; the settings spec holds the number
    assert SETTING["lr_g"].default == SETTING["lr_d"].default == 2e-4
    assert DEFAULT_SLABS == SETTING["holdout_slabs"].default


def test_every_ct_window_in_the_docs_is_the_engines():
    low, high = CT_WINDOW
    pattern = re.compile(rf"[−-]{-low:g}\s*(?:…|\.\.|,| to )\s*(\d+)")
    found = 0
    for page in PAGES:
        for match in pattern.finditer(page.read_text()):
            found += 1
            assert float(match.group(1)) == high, f"{page.name}: {match.group(0)!r}"
    assert found >= 4


def test_run_folders_load_their_best_checkpoint_as_the_docs_say():
    from napari_medgan.engine.families.translate.infer import Translator
    from napari_medgan.engine.inference import load_model
    from napari_medgan.engine.sampling import Sampler

    for fn in (load_model, Sampler.from_checkpoint, Translator.from_checkpoint):
        assert inspect.signature(fn).parameters["prefer"].default == "best", fn
    widgets = _flat((ROOT / "docs" / "widgets.md").read_text())
    assert "newest checkpoint is used" not in widgets
    assert widgets.count("a run folder (its `best` checkpoint, the best held-out score") == 2
    assert "read `best` when a run has one (else `latest`)" in _flat(README.read_text())
