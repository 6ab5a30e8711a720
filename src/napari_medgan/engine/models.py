"""DCGAN-class generator and discriminator for single-channel images, optionally class-conditional.

The generator takes a latent vector (and a class index, through an embedding concatenated to the
latent); the discriminator is a spectrally normalised conv net with a projection head for the
class (Miyato & Koyama, 2018). Widths grow as resolution shrinks, capped at ``max_channels``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def channels_at(resolution: int, size: int, base: int, cap: int) -> int:
    """Width of the layers working at ``resolution`` in a network for ``size`` images."""
    return int(min(base * size // resolution, cap))


def _levels(size: int) -> int:
    levels = int(math.log2(size)) - 2
    if 2 ** (levels + 2) != size or levels < 1:
        raise ValueError(f"image size must be a power of two >= 8 (got {size})")
    return levels


class Generator(nn.Module):
    """Latent (+ class) → image in [-1, 1], shape ``(B, 1, size, size)``.

    Parameters
    ----------
    z_dim : int
        Latent dimension.
    size : int
        Output resolution (power of two).
    num_classes : int
        Number of conditions; 1 or less gives an unconditional generator.
    base_channels, max_channels : int
        Width at full resolution and the cap on widths.
    """

    def __init__(
        self,
        z_dim: int,
        size: int,
        num_classes: int = 1,
        base_channels: int = 32,
        max_channels: int = 256,
    ) -> None:
        super().__init__()
        self.z_dim, self.size, self.num_classes = z_dim, size, num_classes
        self.conditional = num_classes > 1
        c0 = channels_at(4, size, base_channels, max_channels)
        in_dim = z_dim * 2 if self.conditional else z_dim
        self.embed = nn.Embedding(num_classes, z_dim) if self.conditional else None
        self.stem = nn.Sequential(
            nn.Linear(in_dim, c0 * 16),
            nn.Unflatten(1, (c0, 4, 4)),
            nn.BatchNorm2d(c0),
            nn.ReLU(inplace=True),
        )
        blocks = []
        res, c_in = 4, c0
        for _ in range(_levels(size)):
            res *= 2
            c_out = channels_at(res, size, base_channels, max_channels)
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.to_image = nn.Sequential(nn.Conv2d(c_in, 1, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            if labels is None:
                raise ValueError("a conditional generator needs class labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.to_image(self.blocks(self.stem(z)))


class Discriminator(nn.Module):
    """Image (+ class) → real/fake logit, shape ``(B,)``; projection head when conditional."""

    def __init__(
        self,
        size: int,
        num_classes: int = 1,
        base_channels: int = 32,
        max_channels: int = 256,
    ) -> None:
        super().__init__()
        self.size, self.num_classes = size, num_classes
        self.conditional = num_classes > 1
        c = channels_at(size, size, base_channels, max_channels)
        layers: list[nn.Module] = [
            spectral_norm(nn.Conv2d(1, c, 3, padding=1)),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        res = size
        for _ in range(_levels(size)):
            res //= 2
            c_out = channels_at(res, size, base_channels, max_channels)
            layers += [
                spectral_norm(nn.Conv2d(c, c_out, 4, stride=2, padding=1)),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            c = c_out
        self.features = nn.Sequential(*layers)
        self.mbstd_group = 4
        self.head = nn.Sequential(
            spectral_norm(nn.Conv2d(c + 1, c, 3, padding=1)), nn.LeakyReLU(0.2, inplace=True)
        )
        self.linear = spectral_norm(nn.Linear(c, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, c)) if self.conditional else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.head(minibatch_stddev(self.features(x), self.mbstd_group)).sum(dim=(2, 3))
        out = self.linear(h).squeeze(1)
        if self.conditional:
            if labels is None:
                raise ValueError("a conditional discriminator needs class labels")
            out = out + (self.embed(labels) * h).sum(dim=1)
        return out


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append the mean feature standard deviation within groups of the batch as a channel.

    This lets the discriminator see a batch's lack of variety, the usual guard against mode
    collapse on small data sets (Karras et al., 2018).
    """
    b, c, h, w = x.shape
    g = min(group, b)
    if b % g:
        g = 1
    if g == 1:
        return torch.cat([x, x.new_zeros(b, 1, h, w)], dim=1)
    y = x.reshape(g, b // g, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (b // g,)
    y = y.repeat(g)[:, None, None, None].expand(b, 1, h, w)
    return torch.cat([x, y], dim=1)


def build_models(
    size: int, num_classes: int, z_dim: int, base_channels: int, max_channels: int
) -> tuple[Generator, Discriminator]:
    """A matching generator/discriminator pair."""
    g = Generator(z_dim, size, num_classes, base_channels, max_channels)
    d = Discriminator(size, num_classes, base_channels, max_channels)
    return g, d
