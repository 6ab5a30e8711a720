"""The quality benchmark's textbook loop (``quality.textbook``) on any device and precision.

Same networks, initialisation, optimisers, losses and batch as :class:`DCGANRunner`; only the
device and the arithmetic differ: batches, labels and latents are drawn on the device, the data
sit there too (so the ratio to the project's trainer is not a data-path difference), and the
forward passes run under the engine's own autocast (bf16, or fp16 with the engine's gradient
scaler), the precision the project's trainer runs in.
"""

from __future__ import annotations

import torch
from quality.textbook import DCGANRunner

from napari_medgan.engine.data import SliceDataset
from napari_medgan.engine.devices import autocast, grad_scaler


class DeviceTextbook(DCGANRunner):
    """One textbook D+G update per :meth:`step`, on ``device`` in ``precision``.

    Parameters
    ----------
    dataset : SliceDataset
        Training slices (all of them: the speed rows hold nothing out).
    size : int
        Image size; the networks grow with it as the textbook's do.
    device : torch.device
        Where the networks, data and random draws live.
    precision : str
        ``"bf16"``, ``"fp16"`` (with a gradient scaler) or ``"fp32"``.
    batch : int
        Images per step (the textbook's 64).
    seed : int
        Weights' seed.
    """

    name = "textbook"

    def __init__(
        self,
        dataset: SliceDataset,
        size: int,
        device: torch.device,
        precision: str,
        batch: int = 64,
        seed: int = 0,
    ) -> None:
        n_cls = max(1, len(dataset.class_names))
        super().__init__(dataset.images, dataset.labels, n_cls, size, seed=seed, batch=batch)
        self.device, self.precision = device, precision
        self.G.to(device)  # in place: the optimisers keep their parameters
        self.D.to(device)
        self.images, self.labels = self.images.to(device), self.labels.to(device)
        self.scaler = grad_scaler(device, precision)

    def step(self) -> None:
        """The textbook's D update on real and fake, then its G update, as in ``DCGANRunner``."""
        b, dev, scaler = self.batch, self.device, self.scaler
        idx = torch.randint(0, len(self.images), (b,), device=dev)
        real, y = self.images[idx], self.labels[idx]
        ones, zeros = torch.ones(b, device=dev), torch.zeros(b, device=dev)
        self.D.zero_grad()
        z = torch.randn(b, self.nz, device=dev)
        with autocast(dev, self.precision):
            fake = self.G(z, y)
            logits = self.D(real, y).float(), self.D(fake.detach(), y).float()
        loss_d = self.bce(logits[0], ones) + self.bce(logits[1], zeros)
        scaler.scale(loss_d).backward()
        scaler.step(self.opt_d)
        self.G.zero_grad()
        with autocast(dev, self.precision):
            logits_g = self.D(fake, y).float()
        loss_g = self.bce(logits_g, ones)
        scaler.scale(loss_g).backward()
        scaler.step(self.opt_g)
        scaler.update()
        self.steps += 1

    def close(self) -> None:
        """Drop the networks, optimisers and data (their device memory goes back to the cache)."""
        for name in ("G", "D", "opt_g", "opt_d", "images", "labels"):
            self.__dict__.pop(name, None)
