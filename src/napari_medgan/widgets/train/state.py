"""The Train widget's state machine."""

from __future__ import annotations

from enum import Enum


class TrainState(str, Enum):
    """What the Train widget is doing; buttons are enabled from it."""

    IDLE = "idle"
    STARTING = "starting"
    TRAINING = "training"
    PAUSED = "paused"
    STOPPING = "stopping"
