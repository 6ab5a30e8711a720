"""Adaptive augmentation probability (ADA, Karras et al. 2020).

The discriminator's overfitting is measured by ``r_t = E[sign(D(real))]``: near 0 when it cannot
tell real from fake, near 1 when it has memorised the training images. Every ``interval`` steps
``p`` moves up when ``r_t`` exceeds ``target`` and down otherwise, by an amount that would take it
from 0 to 1 in ``speed_images`` images. Everything stays on the training device (no host sync per
step); :meth:`state_dict` (checkpoints, reports) is the only read-back.
"""

from __future__ import annotations

import torch


class AdaptiveAugment:
    """Probability of each augmentation, fixed or adapted to the discriminator's overfitting.

    Parameters
    ----------
    target : float
        Target value of ``E[sign(D(real))]``; 0 disables adaptation (``p`` stays at ``p``).
    p : float
        Initial (or fixed) probability.
    batch_size : int
        Images per step, to express the adjustment speed in images.
    interval : int
        Steps between updates.
    speed_images : int
        Images over which ``p`` could go from 0 to 1.
    max_p : float
        Upper bound of ``p`` (above ~0.8 augmentations start to leak into the generator).
    device : torch.device
        Where ``p`` and the accumulator live.
    """

    def __init__(
        self,
        target: float,
        p: float = 0.0,
        batch_size: int = 64,
        interval: int = 4,
        speed_images: int = 50_000,
        max_p: float = 0.8,
        device: torch.device | str = "cpu",
    ) -> None:
        self.target, self.interval, self.max_p = float(target), int(interval), float(max_p)
        self.adjust = batch_size * interval / speed_images
        self.p = torch.tensor(float(p), device=device)
        self._acc = torch.zeros(2, device=device)  # sum of signs, count

    @property
    def adaptive(self) -> bool:
        return self.target > 0

    @torch.no_grad()
    def observe(self, real_logits: torch.Tensor, step: int) -> None:
        """Accumulate the sign of D's real logits; update ``p`` every ``interval`` steps.

        ``step`` is the number of steps done including this one.
        """
        if not self.adaptive:
            return
        logits = real_logits.detach().float()
        self._acc += torch.stack([logits.sign().sum(), logits.new_tensor(logits.numel())])
        if step % self.interval == 0:
            r_t = self._acc[0] / self._acc[1].clamp(min=1)
            self.p.add_(torch.sign(r_t - self.target) * self.adjust).clamp_(0.0, self.max_p)
            self._acc.zero_()

    def state_dict(self) -> dict[str, float]:
        """JSON-ready state (reads the device once)."""
        acc = self._acc.tolist()
        return {"p": float(self.p.item()), "acc_sum": acc[0], "acc_n": acc[1]}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.p.fill_(float(state["p"]))
        self._acc[0], self._acc[1] = float(state.get("acc_sum", 0.0)), float(state.get("acc_n", 0))
