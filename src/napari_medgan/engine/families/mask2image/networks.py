"""Networks of the ``mask2image`` family: a SPADE generator and a two-scale patch discriminator.

The generator keeps the layout by modulating every normalised feature map, pixel by pixel, with
scales and shifts computed from the label map (SPADE, Park et al. 2019). Noise enters beside the
labels in every modulation (as in OASIS, Schönfeld et al. 2021): a per-image code broadcast over
the slice varies contrast and texture as a whole, and a few per-pixel noise channels vary the
fine texture, so one mask gives many images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..translate.networks import unet_levels

#: Per-image noise channels (broadcast over the slice) and per-pixel noise channels.
GLOBAL_NOISE, PIXEL_NOISE = 16, 2
NOISE_CHANNELS = GLOBAL_NOISE + PIXEL_NOISE


def make_noise(
    b: int, h: int, w: int, gen: torch.Generator, device: torch.device | str | None = None
) -> torch.Tensor:
    """Noise input ``(b, NOISE_CHANNELS, h, w)`` drawn from ``gen`` (on ``gen``'s device)."""
    code = torch.randn(b, GLOBAL_NOISE, 1, 1, generator=gen, device=gen.device)
    pixel = torch.randn(b, PIXEL_NOISE, h, w, generator=gen, device=gen.device)
    noise = torch.cat([code.expand(-1, -1, h, w), pixel], dim=1)
    return noise if device is None else noise.to(device)


def one_hot(index: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Label indices ``(B, 1, H, W)`` (floats holding integers) → one-hot ``(B, K, H, W)``."""
    return F.one_hot(index[:, 0].round().long().clamp(0, n_labels - 1), n_labels).permute(
        0, 3, 1, 2
    ).float()


class Spade(nn.Module):
    """Normalise ``x`` per image and channel, then scale and shift it per pixel from ``cond``."""

    def __init__(self, channels: int, cond_channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(cond_channels, hidden, 3, padding=1), nn.ReLU())
        self.scale_shift = nn.Conv2d(hidden, 2 * channels, 1)  # 1×1: the 3×3 above sees around

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.scale_shift(self.shared(cond)).chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


class SpadeBlock(nn.Module):
    """A residual block whose two normalisations are SPADE; a width change takes the first
    SPADE's output through a 1×1 convolution as the shortcut."""

    def __init__(self, c_in: int, c_out: int, cond_channels: int) -> None:
        super().__init__()
        mid = min(c_in, c_out)
        self.spade1 = Spade(c_in, cond_channels)
        self.conv1 = nn.Conv2d(c_in, mid, 3, padding=1)
        self.spade2 = Spade(mid, cond_channels)
        self.conv2 = nn.Conv2d(mid, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        h = self.spade1(x, cond)
        dx = self.conv1(act(h, 0.2))
        dx = self.conv2(act(self.spade2(dx, cond), 0.2))
        return (x if self.shortcut is None else self.shortcut(h)) + dx


class SpadeGenerator(nn.Module):
    """Label map (one-hot ``(B, K, S, S)``) + noise → image ``(B, 1, S, S)`` in [-1, 1].

    Fully convolutional: starts from the labels and noise averaged down to 1/2^L of the input,
    then alternates SPADE blocks and 2× nearest upsampling back to full resolution (L from the
    training window: down to 8 px). Trained on ``crop``-px windows it renders whole slices.
    """

    def __init__(
        self,
        size: int,
        n_labels: int,
        base_channels: int = 32,
        max_channels: int = 256,
        crop: int = 0,
    ) -> None:
        super().__init__()
        self.size, self.n_labels = int(size), int(n_labels)
        self.levels = max(1, unet_levels(min(size, crop) if crop else size) - 1)
        widths = [min(base_channels * 2 ** (self.levels - j), max_channels)
                  for j in range(self.levels + 1)]  # fmt: skip
        cond = n_labels + NOISE_CHANNELS
        self.stem = nn.Conv2d(cond, widths[0], 3, padding=1)
        self.blocks = nn.ModuleList(
            SpadeBlock(widths[max(j - 1, 0)], widths[j], cond) for j in range(self.levels + 1)
        )
        self.head = nn.Conv2d(widths[-1], 1, 3, padding=1)

    def forward(self, labels: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([labels, noise.to(labels.dtype)], dim=1)
        scale = 2**self.levels
        x = self.stem(F.avg_pool2d(cond, scale))
        for j, block in enumerate(self.blocks):
            if j:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            factor = 2 ** (self.levels - j)
            x = block(x, F.avg_pool2d(cond, factor) if factor > 1 else cond)
        return torch.tanh(self.head(F.leaky_relu(x, 0.2)))


class _PatchScale(nn.Module):
    """Three stride-2 convolutions (GroupNorm after the first) and a 3×3 head; keeps its
    intermediate features.

    No spectral norm: a Lipschitz-bounded critic separates a blurred image from a sharp one only
    by a small margin (they are close in pixels), and with feature matching as G's main guide it
    stayed at chance (D(real) = D(fake) = 0.50 after 500 steps on the MNI152 pairs).
    """

    def __init__(self, c_in: int, base_channels: int, max_channels: int) -> None:
        super().__init__()
        w = [min(base_channels * 2**i, max_channels) for i in range(3)]

        def down(c_in: int, c_out: int, norm: bool) -> nn.Sequential:
            parts = [nn.Conv2d(c_in, c_out, 4, 2, 1)]
            parts += [nn.GroupNorm(min(8, c_out), c_out)] if norm else []
            return nn.Sequential(*parts, nn.LeakyReLU(0.2))

        self.layers = nn.ModuleList(
            [down(c_in, w[0], False), down(w[0], w[1], True), down(w[1], w[2], True)]
        )
        self.head = nn.Conv2d(w[2], 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return self.head(x).flatten(1), feats


class MaskPatchDiscriminator(nn.Module):
    """Real/fake logits per patch of a (labels, image) pair, at full and half resolution.

    Returns the logits of both scales (concatenated) and every intermediate feature map, which
    the generator's feature-matching term compares between real and synthetic images.
    """

    def __init__(self, n_labels: int, base_channels: int = 32, max_channels: int = 256) -> None:
        super().__init__()
        self.scales = nn.ModuleList(
            _PatchScale(n_labels + 1, base_channels, max_channels) for _ in range(2)
        )

    def forward(
        self, labels: torch.Tensor, image: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = torch.cat([labels, image], dim=1)
        logits, feats = [], []
        for k, scale in enumerate(self.scales):
            out, f = scale(F.avg_pool2d(x, 2) if k else x)
            logits.append(out)
            feats += f
        return torch.cat(logits, dim=1), feats
