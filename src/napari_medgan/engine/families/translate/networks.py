"""Networks of the ``translate`` family: a U-Net generator and a patch discriminator on pairs."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import spectral_norm


def _norm(channels: int) -> nn.GroupNorm:
    """GroupNorm: per-image statistics, so the EMA generator needs no re-estimation."""
    return nn.GroupNorm(min(8, channels), channels)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), _norm(c_out), nn.LeakyReLU(0.2),
        nn.Conv2d(c_out, c_out, 3, padding=1), _norm(c_out), nn.LeakyReLU(0.2),
    )  # fmt: skip


def unet_levels(size: int) -> int:
    """Downsamplings of the U-Net: down to 4x4 pixels, at most 5."""
    return max(1, min(int(math.log2(size)) - 2, 5))


class UNetGenerator(nn.Module):
    """Source image ``(B, 1, S, S)`` → target image in [-1, 1] (pix2pix's U-Net layout).

    Fully convolutional: trained on ``crop``-px windows it translates whole ``size``-px slices.
    Each level halves the resolution with a stride-2 convolution; the decoder upsamples
    (nearest + 3×3 convolution, no checkerboard) and joins the encoder's features of the same
    resolution, so the layout of the source reaches the output directly.
    """

    def __init__(
        self, size: int, base_channels: int = 32, max_channels: int = 256, crop: int = 0
    ) -> None:
        super().__init__()
        self.size = int(size)
        levels = unet_levels(min(size, crop) if crop else size)  # trained on crop-px windows
        widths = [min(base_channels * 2**i, max_channels) for i in range(levels + 1)]
        self.stem = _conv_block(1, widths[0])
        self.down = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1),
                _norm(widths[i + 1]),
                nn.LeakyReLU(0.2),
                _conv_block(widths[i + 1], widths[i + 1]),
            )
            for i in range(len(widths) - 1)
        )
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(widths[i + 1], widths[i], 3, padding=1),
                _norm(widths[i]),
                nn.LeakyReLU(0.2),
            )
            for i in range(len(widths) - 1)
        )
        self.merge = nn.ModuleList(_conv_block(2 * w, w) for w in widths[:-1])
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(source)]
        for down in self.down:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up, merge in zip(reversed(self.up), reversed(self.merge)):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return torch.tanh(self.head(x))


class PatchDiscriminator(nn.Module):
    """Real/fake logits per patch of a (source, image) pair stacked as two channels.

    Three stride-2 convolutions and a 3×3 head: each logit sees a patch of about 34 px, so the
    discriminator judges local texture and edges while the L1 term holds the layout.
    """

    def __init__(self, base_channels: int = 64, max_channels: int = 256) -> None:
        super().__init__()
        w = [min(base_channels * 2**i, max_channels) for i in range(3)]
        sn = spectral_norm
        self.main = nn.Sequential(
            sn(nn.Conv2d(2, w[0], 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(w[0], w[1], 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(w[1], w[2], 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(w[2], 1, 3, padding=1)),
        )  # fmt: skip

    def forward(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.main(torch.cat([source, image], dim=1)).flatten(1)
