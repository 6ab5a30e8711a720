"""The translate family: pairs, training through the shared loop, resume, whole-scan inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_fixtures import mni_arrays, tiny_config
from napari_medgan.engine import DataError, Sampler, Trainer, Volume, build_dataset
from napari_medgan.engine.checkpoint import load_checkpoint
from napari_medgan.engine.families import FamilyError, get_family
from napari_medgan.engine.families.translate.infer import Translator
from napari_medgan.engine.families.translate.pairs import build_pairs


def pair(target: str = "GM") -> tuple[Volume, Volume]:
    arrays = {name: (a, sp) for name, a, sp in mni_arrays()}
    src = Volume(arrays["T1"][0], arrays["T1"][1], name="T1")
    tgt = Volume(arrays[target][0], arrays[target][1], name=target)
    return src, tgt


def translate_config(out, **changes):
    return tiny_config(out, family="translate", augment=("translation",), **changes)


def train(cfg, ds, resume=None):
    trainer = Trainer(cfg, ds, resume=resume)
    reports = list(trainer.run())
    trainer.close()
    return reports


def test_pairs_stack_source_and_target_as_channels():
    ds = build_pairs([pair()], size=32)
    assert ds.images.shape[1:] == (2, 32, 32)
    assert ds.roles["source"]["name"] == "T1" and ds.roles["target"]["name"] == "GM"
    assert set(ds.transforms) == {"source", "target"} and ds.class_names == ["GM"]
    # the two channels are different images of the same slices
    assert not torch.equal(ds.images[:, 0], ds.images[:, 1])


def test_pair_on_two_grids_is_refused_naming_both():
    src, tgt = pair()
    moved = Volume(tgt.data, tgt.spacing, name="GM", origin=(5.0, 0.0, 0.0))
    with pytest.raises(DataError, match=r"not on the same grid.*T1: shape.*GM: shape.*origin \(5"):
        build_pairs([(src, moved)], size=32)
    cropped = Volume(tgt.data[:, 1:], tgt.spacing, name="GM")
    with pytest.raises(DataError, match="not on the same grid"):
        build_pairs([(src, cropped)], size=32)


def test_translation_trains_in_the_shared_loop(tmp_path):
    ds = build_pairs([pair()], size=32)
    reports = train(translate_config(tmp_path, steps=12, score_every=6), ds)
    assert set(reports[-1].losses) == set(get_family("translate").loss_names)
    assert all(np.isfinite(list(r.losses.values())).all() for r in reports)
    previews = [r for r in reports if r.preview is not None]
    assert previews[-1].preview.shape == (3, 4, 32, 32)
    assert previews[-1].preview_names == ["T1", "T1 → GM", "GM"]
    scored = [r for r in reports if r.heldout_score is not None]
    assert scored and scored[-1].heldout_baseline > 0
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.config["family"] == "translate" and ckpt.meta["roles"]["target"]["name"] == "GM"
    # the held-out pairs never reach training (same rule as the GAN's split)
    assert len(reports) and ckpt.meta["split"]["mode"] == "slabs"


def test_l1_falls_while_training(tmp_path):
    ds = build_pairs([pair()], size=32)
    reports = train(translate_config(tmp_path, steps=60, preview_every=0, score_every=0), ds)
    l1 = [r.losses["l1"] for r in reports if r.status == "running"]
    assert np.mean(l1[-8:]) < 0.75 * np.mean(l1[:4])


def test_resume_is_exact(tmp_path):
    ds = build_pairs([pair()], size=32)
    train(translate_config(tmp_path / "a", steps=8), ds)
    train(translate_config(tmp_path / "b", steps=4), ds)
    train(translate_config(tmp_path / "b", steps=8), ds, resume=tmp_path / "b")
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    for name in ("G", "G_ema", "D"):
        for key, value in a.models[name].items():
            assert torch.equal(value, b.models[name][key]), (name, key)


def test_translator_keeps_the_input_grid_and_refuses_other_units(tmp_path):
    ds = build_pairs([pair()], size=32)
    train(translate_config(tmp_path, steps=3, preview_every=0), ds)
    translator = Translator.from_checkpoint(tmp_path)
    src, _ = pair()
    seen = []
    out = translator.translate(src, progress=lambda *p: seen.append(p), chunk=4)
    assert out.shape == src.data.shape and out.dtype == np.float32
    n = translator.slice_count(src)  # progress: after the units check, then after each chunk
    assert n == src.data.shape[0] and seen[0] == (0, n) and seen[-1] == (n, n)
    assert [d for d, _ in seen] == sorted({d for d, _ in seen}) and len(seen) == 2 + (n - 1) // 4
    t = translator.transforms["target"]
    assert t.low <= out.min() and out.max() <= t.high
    one = translator.translate(Volume(src.data[5], src.spacing[1:], name="slice"))
    assert one.shape == src.data[5].shape
    with pytest.raises(FamilyError, match="other units"):
        translator.translate(Volume(src.data * 1000, src.spacing, name="scaled"))
    with pytest.raises(FamilyError, match="is CT"):
        translator.translate(Volume(src.data, src.spacing, name="ct", modality="CT"))


def test_families_refuse_each_others_requests(tmp_path):
    ds = build_pairs([pair()], size=32)
    train(translate_config(tmp_path / "tr", steps=2, preview_every=0), ds)
    with pytest.raises(FamilyError, match="'translate' run and cannot sample from noise"):
        Sampler.from_checkpoint(tmp_path / "tr")
    gan = build_dataset([pair()[0]], size=32)
    train(tiny_config(tmp_path / "gan", steps=2, preview_every=0), gan)
    with pytest.raises(FamilyError, match="'gan' run and cannot translate"):
        Translator.from_checkpoint(tmp_path / "gan")
    with pytest.raises(DataError, match="needs source/target image pairs"):
        Trainer(translate_config(tmp_path / "x"), gan)
    with pytest.raises(FamilyError, match="unknown model family"):
        get_family("diffusion")


def test_crop_trains_on_windows_and_translates_whole_slices(tmp_path):
    from napari_medgan.engine import ConfigError

    ds = build_pairs([pair()], size=64)
    cfg = translate_config(tmp_path, size=64, crop=32, steps=3, preview_every=3, score_every=3)
    reports = train(cfg, ds)
    assert reports[-1].preview.shape == (3, 4, 64, 64)  # previews and scores use whole slices
    assert reports[-1].heldout_score is not None
    translator = Translator.from_checkpoint(tmp_path)
    src, _ = pair()
    assert translator.translate(src).shape == src.data.shape
    with pytest.raises(ConfigError, match="crop must be smaller than size"):
        translate_config(tmp_path, size=32, crop=32).validate()
