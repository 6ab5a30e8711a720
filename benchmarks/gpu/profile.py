"""What one GPU check measures at which sizes and for how long: :data:`GPU` or :data:`DRY_RUN`.

Importing this module needs nothing beyond the standard library, so the environment can be
checked first. The dry run takes the same code path on the CPU with tiny networks, a few steps
and budgets of seconds, so a typo is caught in CI and not on the first (rare, short) GPU lease.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - the package is imported once the environment is checked
    from napari_medgan.engine import TrainConfig


@dataclass(frozen=True)
class Profile:
    """Sizes, step counts and budgets of one check.

    Attributes
    ----------
    dry_run : bool
        True for the CPU rehearsal (values are not GPU numbers).
    device : str
        Training device (``"cuda"``, ``"cuda:N"`` or ``"cpu"``).
    sizes : tuple of int
        The sizes that stand for 128 and 256 px (the first is also the textbook's and the
        held-out runs').
    tiny : dict
        Per size, settings that replace the ``gpu`` preset's (the dry run's small networks).
    textbook_batch : int
        Batch of the textbook loop (64, the quality benchmark's).
    speed_s : float
        Wall seconds each runner is timed for, after ``warmup_steps``.
    warmup_steps, chunk : int
        Steps before timing; steps between device synchronisations while timing.
    budgets_s : tuple of float
        Two training times (short, long) after which the held-out SWD ratio is read.
    sync_steps : int
        Steps over which host synchronisations are counted (a multiple of the trainer's
        ``sync_every_gpu``).
    child_steps, child_stop_after : int
        Steps of the child run that ends on its own; step after which the other is stopped.
    child_timeout_s : float
        A child run still going after this long is stopped (and killed 30 s later).
    threads : int or None
        Torch CPU threads of the check's own process (None: torch's choice). The dry run takes
        one: on a busy 2-core machine two threads wait on each other (measured: a textbook step
        at 32 px took 0.04 s with one thread, 0.2-4 s with two).
    """

    dry_run: bool
    device: str
    sizes: tuple[int, int]
    tiny: dict[int, dict[str, Any]] = field(default_factory=dict)
    textbook_batch: int = 64
    speed_s: float = 15.0
    warmup_steps: int = 10
    chunk: int = 20
    budgets_s: tuple[float, float] = (120.0, 240.0)
    sync_steps: int = 40
    child_steps: int = 200
    child_stop_after: int = 50
    child_timeout_s: float = 120.0
    threads: int | None = None

    def config(self, size: int, precision: str, **changes: Any) -> TrainConfig:
        """The ``gpu`` preset at ``size`` in ``precision`` (MNI152 axial slices, as the demo)."""
        from napari_medgan.engine.config import preset

        cfg = preset("gpu", size=size, device=self.device)
        cfg = cfg.replace(precision=precision, slice_axis=0, **self.tiny.get(size, {}))
        return cfg.replace(**changes).validate()

    def with_changes(self, **changes: Any) -> Profile:
        """A copy with some fields changed (command-line options)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict."""
        d = dataclasses.asdict(self)
        d["tiny"] = {str(k): v for k, v in self.tiny.items()}
        return d


#: One NVIDIA GPU: about 6.5 minutes in all (docs/gpu.md).
GPU = Profile(dry_run=False, device="cuda", sizes=(128, 256))

#: The CPU rehearsal: tiny networks at 32 and 64 px, budgets of seconds; under a minute on 2 cores.
DRY_RUN = Profile(
    dry_run=True,
    device="cpu",
    sizes=(32, 64),
    tiny={
        32: {"batch_size": 8, "base_channels": 8, "max_channels": 32, "z_dim": 16},
        64: {"batch_size": 4, "base_channels": 4, "max_channels": 16, "z_dim": 16},
    },
    textbook_batch=8,
    speed_s=0.5,
    warmup_steps=2,
    chunk=2,
    budgets_s=(2.0, 4.0),
    sync_steps=10,
    child_steps=4,
    child_stop_after=2,
    child_timeout_s=60.0,
    threads=1,
)
