"""bf16 on the CPU: chosen by ``auto`` only where the CPU has it natively; fp32 weights."""

import pytest
import torch

from engine_fixtures import mni_volumes, tiny_config
from napari_medgan.engine import Trainer, build_dataset
from napari_medgan.engine.devices import cpu_has_fast_bf16, precision_for


@pytest.mark.parametrize("native", [True, False])
def test_auto_takes_bf16_only_on_cpus_that_have_it(monkeypatch, native):
    import napari_medgan.engine.devices as devices

    assert isinstance(cpu_has_fast_bf16(), bool)
    monkeypatch.setattr(devices, "cpu_has_fast_bf16", lambda: native)
    # elsewhere bf16 is emulated and slower than fp32
    assert precision_for(torch.device("cpu")) == ("bf16" if native else "fp32")


def test_training_in_bf16_on_cpu_keeps_fp32_weights(tmp_path):
    ds = build_dataset(mni_volumes(), 32)
    cfg = tiny_config(tmp_path, steps=4, preview_every=0, precision="bf16", r1_every=2)
    trainer = Trainer(cfg, ds)
    assert trainer.precision == "bf16"
    reports = list(trainer.run())
    losses = [[r.losses["loss_d"], r.losses["loss_g"]] for r in reports]
    assert all(torch.isfinite(torch.tensor(pair)).all() for pair in losses)
    assert all(p.dtype == torch.float32 for p in trainer.G.parameters())
    before = [p.detach().clone() for p in trainer.G.parameters()]
    trainer.close()
    assert any(not torch.equal(a, b) for a, b in zip(before, Trainer(cfg, ds).G.parameters()))


def test_conditional_batchnorm_keeps_bf16_activations():
    """The class gain and bias join in the activations' dtype: an fp32 embedding must not turn
    the rest of each generator layer (and its backward) into fp32 under bf16 autocast."""
    from napari_medgan.engine.models import build_models

    g, _ = build_models(32, 3, 16, 8, 32, "dcgan", True, "onehot", "batchnorm")
    dtypes = []
    for norm in g.norms:
        norm.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g(torch.randn(4, 16), torch.tensor([0, 1, 2, 0]))
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)
