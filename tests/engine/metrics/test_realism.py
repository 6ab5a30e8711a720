"""Realism on real MNI152 slices: the classifier two-sample test sits at chance for two halves of
the real slices and detects the same slices with Gaussian noise; the band power ratios are 1 for a
set against itself, below 1 in the top octave for blurred slices and above for noisy ones; an
evaluation reports both per condition, beside the real baseline, the noise control and the
control rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from test_metrics_mni import untrained_samples

from napari_medgan.engine import Volume, build_dataset
from napari_medgan.engine.metrics import (
    band_powers,
    c2st,
    realism,
    score,
    spectrum_ratio,
    write_report,
)
from napari_medgan.engine.metrics.realism import SPECTRUM_OK, band_edges
from napari_medgan.engine.metrics.stats import mean_ci, stratified_mean_ci

NOISE = 0.1


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (two cores, other jobs beside)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def noisy(x: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(x + rng.normal(0, NOISE, x.shape), -1, 1).astype(np.float32)


def blurred(x: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    return np.stack([gaussian_filter(im, sigma) for im in x]).astype(np.float32)


@pytest.fixture(scope="module")
def halves():
    """The T1 template's axial slices at 64 px (the demo's slicing) in two random halves."""
    from napari_medgan.io import load_mni152

    im = next(i for i in load_mni152() if i.name == "T1")
    ds = build_dataset([Volume(im.data, tuple(im.spacing), name="T1")], 64, 0)
    x = ds.images[:, 0].numpy()
    order = np.random.default_rng(0).permutation(len(x))
    half = len(x) // 2
    return x[order[:half]], x[order[half : 2 * half]]


@pytest.mark.full_realism
def test_real_halves_are_at_chance_and_noise_is_detected(halves):
    a, b = halves
    real = c2st(a, b, seed=0)
    assert real.n == len(a) >= 30 and len(real.fold_accuracy) == 5
    assert real.ci[0] <= 0.5 <= real.ci[1], real
    assert 0.35 < real.value < 0.65, real
    control = c2st(noisy(a), b, seed=0)  # the sensitivity control: σ = 5 % of the range
    assert control.value > 0.8, control
    assert control.ci[0] > max(real.ci[1], 0.5), (control, real)


def test_c2st_is_seeded_balanced_and_checks_its_inputs(halves):
    a, b = halves[0][:10], halves[1][:14]
    first, again = c2st(a, b, epochs=2, seed=3), c2st(a, b, epochs=2, seed=3)
    assert first.n == 10 and len(first.correct) == 20 and len(first.fold_accuracy) == 5
    assert first.value == again.value and np.array_equal(first.correct, again.correct)
    assert first.value == pytest.approx(np.mean(first.fold_accuracy))  # equal fold sizes
    with pytest.raises(ValueError, match="sizes differ"):
        c2st(a, b[:, :32, :32])
    with pytest.raises(ValueError, match="at least 2"):
        c2st(a[:1], b)


def test_stratified_interval_averages_conditions_and_reduces_to_mean_ci():
    v, ci = stratified_mean_ci([np.ones(10), np.r_[np.ones(5), np.zeros(15)]], 200, seed=0)
    assert v == pytest.approx(0.625) and ci[0] < v < ci[1] <= 1.0  # (1 + 0.25) / 2
    x = np.random.default_rng(0).random(30)
    assert stratified_mean_ci([x], 100, seed=4) == mean_ci(x, 100, seed=4)


def test_spectrum_of_a_set_against_itself_is_one_and_white_noise_is_flat(halves):
    a, _ = halves
    assert band_edges((64, 64)) == [(0.25, 0.5), (0.125, 0.25), (0.0625, 0.125),
                                    (0.03125, 0.0625)]
    np.testing.assert_allclose(spectrum_ratio(a, a), 1.0, rtol=1e-12)
    white = np.random.default_rng(1).normal(0, 0.5, (64, 64, 64))
    power = band_powers(white).mean(0)  # a flat spectrum at σ² in every band
    np.testing.assert_allclose(power, 0.25, rtol=0.1)
    real = band_powers(a).mean(0)  # real slices: power falls towards fine detail
    assert np.all(np.diff(real) > 0), real


def test_blur_lowers_and_noise_raises_the_top_octave(halves):
    a, b = halves
    lo, hi = SPECTRUM_OK
    real = spectrum_ratio(a, b)  # two halves of the real slices read as real in every band
    assert np.all((real > lo) & (real < hi)), real
    blur = spectrum_ratio(blurred(a), a)  # the same slices, blurred or noisy
    assert blur[0] < 0.5 and blur[0] < blur[1] < blur[3] <= 1, blur
    noise = spectrum_ratio(noisy(a), a)  # (clipping at -1 dims the coarse bands a little)
    assert noise[0] > 1.2 and noise[0] > 1.1 * noise[1:].max(), noise


@pytest.mark.full_realism
def test_evaluation_reports_realism_per_condition_beside_its_controls(mni_slabs, tmp_path,
                                                                     monkeypatch, one_thread):
    """32 px, three conditions, five scored sets: with a quarter of the epochs (the noise
    control's power at full training is tested above)."""
    monkeypatch.setattr(realism, "EPOCHS", realism.EPOCHS // 4)
    ref, t, tl = mni_slabs["ref"], mni_slabs["t"], mni_slabs["tl"]
    ref.realism.clear()
    images = t.copy()
    images[tl == 1] = blurred(t[tl == 1])  # GM blurred; T1 and WM are real training slices
    res = score(ref, images, tl, untrained=untrained_samples(3, tl))
    c2, sp = res.metrics["c2st"], res.metrics["spectrum"]

    assert c2["better"] == "chance" and c2["ratio"] is None
    assert c2["baseline_ci"][0] <= 0.5 <= c2["baseline_ci"][1], c2
    assert isinstance(c2["sensitivity"]["detected"], bool)
    assert c2["sensitivity"]["value"] > c2["baseline"], c2["sensitivity"]
    per = c2["per_condition"]
    assert set(per) == {"T1", "GM", "WM"} == set(c2["baseline_per_condition"])
    assert per["GM"] > 0.8 and per["GM"] > max(per["T1"], per["WM"]) + 0.2, per
    assert c2["distinguishable"]
    assert sp["per_condition"]["GM"] < SPECTRUM_OK[0], sp["per_condition"]
    for name in ("T1", "WM"):
        assert SPECTRUM_OK[0] < sp["per_condition"][name] < SPECTRUM_OK[1], sp["per_condition"]
    assert len(sp["per_band"]) == len(sp["baseline_per_band"]) == 4
    assert sp["sensitivity"]["value"] > sp["baseline"], sp["sensitivity"]

    rows = res.to_dict()["controls"]
    assert rows["untrained"]["metrics"]["c2st"]["value"] > 0.9
    assert rows["verbatim"]["metrics"]["c2st"]["value"] < 0.7
    assert not rows["verbatim"]["metrics"]["c2st"]["distinguishable"]

    report = write_report(res, tmp_path)
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert {"c2st", "spectrum"} <= set(data["metrics"])
    assert "c2st" in data["controls"]["untrained"]["metrics"]
    text = report.read_text()
    assert "## Realism" in text and "noise control" in text
    assert (tmp_path / "spectrum_bands.png").is_file()
