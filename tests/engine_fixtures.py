"""Small real data for engine and CLI tests: the MNI152 templates, downsampled."""

from __future__ import annotations

import functools

import numpy as np

from napari_medgan.engine import TrainConfig, Volume

#: The one small network of the test suite (``small_config`` in conftest, ``tiny_config``).
SMALL_CONFIG = dict(
    size=32, batch_size=8, base_channels=8, max_channels=32, z_dim=16, augment=(),
    preview_every=0, checkpoint_every=0, device="cpu",
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def mni_arrays() -> tuple[tuple[str, np.ndarray, tuple[float, ...]], ...]:
    """(name, (z, y, x) array at 4 mm, spacing) for T1, GM and WM."""
    from napari_medgan.io import load_mni152

    return tuple(
        (im.name, np.ascontiguousarray(im.data[::2, ::2, ::2]), tuple(s * 2 for s in im.spacing))
        for im in load_mni152()
    )


def mni_volumes(conditional: bool = True) -> list[Volume]:
    """The three templates as volumes (conditions T1/GM/WM, or none)."""
    return [
        Volume(data=a, spacing=sp, condition=name if conditional else None, name=name)
        for name, a, sp in mni_arrays()
    ]


def tiny_config(out_dir, **changes) -> TrainConfig:
    """:data:`SMALL_CONFIG` with the latent, augmentation, steps and previews the engine tests
    were tuned with."""
    base = TrainConfig(
        **{
            **SMALL_CONFIG, "z_dim": 32, "augment": TrainConfig().augment, "steps": 12,
            "preview_every": 5, "seed": 3, "out_dir": str(out_dir),
        }
    )  # fmt: skip
    return base.replace(**changes)


def copy_real(real, labels, class_names, n, condition=None, seed=0, units="model"):
    """A "generator" that memorised: ``n`` training slices of ``condition``.

    Module-level (and bound with ``functools.partial``) so that a sampler patched with it can
    be pickled into the Evaluate widget's child process.
    """
    pool = real[labels == class_names.index(condition)]
    return pool[np.random.default_rng(seed).choice(len(pool), n, replace=False)]
