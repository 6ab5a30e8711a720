"""Checkpoints: safetensors + JSON only, pickles refused, atomic writes."""

import pickle

import pytest

from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import CheckpointError, Sampler, Trainer, build_dataset
from napari_medgan.engine import checkpoint as ckpt_mod
from napari_medgan.engine.checkpoint import PICKLE_MAGIC, load_checkpoint, resolve


class Boom:
    """Unpickling this would run code."""

    def __reduce__(self):
        return (exec, ("raise SystemExit('pickle code ran')",))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    ds = build_dataset(mni_volumes()[:2], size=32)
    for _ in Trainer(tiny_config(out, steps=4, checkpoint_every=2, keep_checkpoints=5), ds).run():
        pass
    return out


def test_checkpoint_holds_no_pickle(run_dir):
    folder = resolve(run_dir)
    assert folder.name == "step_0000004"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["model.safetensors", "state.json", "train_state.safetensors"]
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert not path.read_bytes()[:4].startswith(PICKLE_MAGIC), path
    ck = load_checkpoint(run_dir)
    assert ck.step == 4 and set(ck.models) == {"G", "G_ema", "D"}
    assert ck.meta["class_names"] == ["T1", "GM"] and ck.rng_state is not None


def _copy(src, dst):
    import shutil

    shutil.copytree(resolve(src), dst)
    return dst


def test_pickle_file_in_checkpoint_is_refused(run_dir, tmp_path):
    folder = _copy(run_dir, tmp_path / "ck")
    (folder / "extra.pkl").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(folder)


def test_pickle_disguised_as_safetensors_is_refused(run_dir, tmp_path):
    folder = _copy(run_dir, tmp_path / "ck")
    (folder / "model.safetensors").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError, match="pickle"):
        Sampler.from_checkpoint(folder)


def test_corrupt_safetensors_is_refused(run_dir, tmp_path):
    folder = _copy(run_dir, tmp_path / "ck")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(folder)


def test_missing_and_wrong_paths(tmp_path):
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="not a napari-medgan checkpoint"):
        load_checkpoint(tmp_path)


def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ds = build_dataset(mni_volumes()[:1], size=32)
    trainer = Trainer(tiny_config(tmp_path, steps=6), ds)
    run = trainer.run()
    for _ in range(2):
        next(run)
    first = trainer.save()
    next(run)
    calls = {"n": 0}
    real_save = ckpt_mod._save_tensors

    def crash_on_second_file(tensors, path):
        calls["n"] += 1
        if calls["n"] == 2:
            path.write_bytes(b"partial")
            raise OSError("disk full")
        real_save(tensors, path)

    monkeypatch.setattr(ckpt_mod, "_save_tensors", crash_on_second_file)
    with pytest.raises(OSError, match="disk full"):
        trainer.save()
    assert resolve(tmp_path) == first
    assert load_checkpoint(tmp_path).step == 2
    leftovers = [p.name for p in (tmp_path / "checkpoints").iterdir()]
    assert leftovers == [first.name]
