"""UI state shared between the widgets: the training status and the last finished run."""

from __future__ import annotations

from enum import Enum

from psygnal import Signal


class TrainState(str, Enum):
    """What the Train widget is doing; buttons are enabled from it."""

    IDLE = "idle"
    STARTING = "starting"
    TRAINING = "training"
    PAUSED = "paused"
    STOPPING = "stopping"


class _RunEvents:
    """Module-level hub: the Train widget publishes runs, the Generate widget listens."""

    run_saved = Signal(str)  # run folder with a new checkpoint

    def __init__(self) -> None:
        self.last_run: str | None = None

    def publish(self, run_dir: str) -> None:
        """Remember ``run_dir`` as the newest run and tell every listener."""
        self.last_run = str(run_dir)
        self.run_saved.emit(self.last_run)


runs = _RunEvents()
