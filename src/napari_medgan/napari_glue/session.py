"""What one napari session knows across the dock widgets and the writer hooks: the newest run
with a checkpoint and the memorization verdicts of evaluated checkpoints (Qt-free: psygnal)."""

from __future__ import annotations

from pathlib import Path

from psygnal import Signal


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


def checkpoint_key(path: str | Path) -> str:
    """One spelling per checkpoint folder (absolute, symlinks resolved)."""
    return str(Path(path).expanduser().resolve())


class _MemorizationVerdicts:
    """Module-level registry: the Evaluate widget records, per checkpoint folder, whether the
    memorization test flagged copying; the Generate widget warns before sampling from it."""

    verdict = Signal(str, object)  # checkpoint key, reasons (empty list: not flagged)

    def __init__(self) -> None:
        self.flagged: dict[str, list[str]] = {}

    def publish(self, checkpoint: str | Path, reasons: list[str]) -> None:
        """Record the verdict of the newest evaluation of ``checkpoint`` and tell listeners."""
        key = checkpoint_key(checkpoint)
        if reasons:
            self.flagged[key] = list(reasons)
        else:
            self.flagged.pop(key, None)
        self.verdict.emit(key, list(reasons))

    def reasons(self, checkpoint: str | Path | None) -> list[str]:
        """Why ``checkpoint`` was flagged (empty when never flagged or cleared since)."""
        if checkpoint is None or not str(checkpoint):
            return []
        return list(self.flagged.get(checkpoint_key(checkpoint), []))


memorization = _MemorizationVerdicts()
