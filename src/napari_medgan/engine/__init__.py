"""The Qt-free engine: data, models, losses, training loop, checkpoints, sampling.

Nothing here imports Qt or napari, so the same code serves the GUI, the CLI, tests without a
display and headless multi-GPU runs.

Words used in names: *holdout* is the act and its settings (``holdout``, ``HoldoutSplit``:
which slices are kept from training); *held-out* (``heldout_*``) describes those slices and what
is measured on them (``heldout_set``, ``heldout_score``). A *generator* is always a network; the
trainer's random-number stream is ``rng``. A model *family* (``families``) is one kind of model
behind the shared training loop.
"""

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .config import AUGMENT_OPS, LOSSES, SIZES, ConfigError, TrainConfig, default_for_device
from .data import (
    DataError,
    IntensityTransform,
    SliceDataset,
    SliceGeometry,
    Volume,
    build_dataset,
    to_native,
)
from .devices import available_devices, resolve_device
from .holdout import HoldoutError, HoldoutSplit, split_dataset
from .models import Discriminator, Generator
from .sampling import Sampler, SamplingError
from .trainer import Trainer, TrainingError, TrainReport

__all__ = [
    "AUGMENT_OPS",
    "LOSSES",
    "SIZES",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Discriminator",
    "Generator",
    "HoldoutError",
    "HoldoutSplit",
    "IntensityTransform",
    "Sampler",
    "SamplingError",
    "SliceDataset",
    "SliceGeometry",
    "TrainConfig",
    "TrainReport",
    "Trainer",
    "TrainingError",
    "Volume",
    "available_devices",
    "build_dataset",
    "default_for_device",
    "load_checkpoint",
    "resolve_device",
    "save_checkpoint",
    "split_dataset",
    "to_native",
]
