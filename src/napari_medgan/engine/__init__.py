"""The Qt-free engine: data, models, losses, training loop, checkpoints, sampling.

Nothing here imports Qt or napari, so the same code serves the GUI, the CLI, tests without a
display and headless multi-GPU runs.
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
