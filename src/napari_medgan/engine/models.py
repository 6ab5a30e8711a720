"""Generators and discriminators for single-channel images, optionally class-conditional.

Two architectures (``TrainConfig.arch``):

``dcgan`` (default)
    The DCGAN layout (Radford et al., 2015: 4×4 transposed convolutions doubling the size, 4×4
    stride-2 convolutions halving it), so FLOPs per image match the textbook recipe at equal
    widths. The class enters the generator as a one-hot code beside the latent and through
    class-conditional BatchNorm (the class sets each layer's gain and bias, so a condition swap
    with the same latent keeps the anatomy and changes the contrast).
``upconv``
    The seed's networks (nearest upsampling + 3×3 convolutions, class code beside the latent);
    checkpoints written before ``arch`` existed load as ``upconv``.

Two discriminators (``TrainConfig.discriminator``): ``batchnorm`` (default), DCGAN's, with the
class as input planes; ``projection``, spectrally normalised with minibatch standard deviation and
a class projection head (Miyato & Koyama, 2018), what checkpoints before that setting used. Which
one, and a one-hot class code instead of a learned embedding, decide whether the generator
collapses at 64 px (docs/quality.md).

Widths grow as resolution shrinks, capped at ``max_channels``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .config import ARCHS, CLASS_INPUTS


def channels_at(resolution: int, size: int, base: int, cap: int) -> int:
    """Width of the layers working at ``resolution`` in a network for ``size`` images."""
    return int(min(base * size // resolution, cap))


def _levels(size: int) -> int:
    levels = int(math.log2(size)) - 2
    if 2 ** (levels + 2) != size or levels < 1:
        raise ValueError(f"image size must be a power of two >= 8 (got {size})")
    return levels


def class_code(
    kind: str, num_classes: int, z_dim: int
) -> tuple[nn.Embedding | None, int]:
    """The generator's class code: its learned embedding (or None) and its width.

    ``onehot`` appends the class as a one-hot code, the conditional GAN's own input (Mirza &
    Osindero, 2014). ``embedding`` (checkpoints written before ``class_input`` existed) appends a
    learned ``z_dim`` embedding that starts at the latent's scale (N(0, 1) entries): the class
    part of the input soon dominates, BatchNorm, normalising over a batch of mixed classes,
    scales the latent's share down, and every sample of a condition comes out alike (at 64 px
    within 100 steps; docs/quality.md).
    """
    if kind not in CLASS_INPUTS:
        raise ValueError(f"unknown class input {kind!r}; choose from {', '.join(CLASS_INPUTS)}")
    if kind == "embedding":
        return nn.Embedding(num_classes, z_dim), z_dim
    return None, num_classes


def join_class(
    z: torch.Tensor, labels: torch.Tensor | None, embed: nn.Embedding | None, num_classes: int
) -> torch.Tensor:
    """``z`` with the class code of ``labels`` appended (see :func:`class_code`)."""
    if labels is None:
        raise ValueError("a conditional generator needs class labels")
    code = embed(labels) if embed is not None else F.one_hot(labels, num_classes).to(z.dtype)
    return torch.cat([z, code], dim=1)


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
    class_input : str
        How the class joins the latent (see :func:`class_code`).
    """

    def __init__(
        self,
        z_dim: int,
        size: int,
        num_classes: int = 1,
        base_channels: int = 32,
        max_channels: int = 256,
        class_input: str = "onehot",
    ) -> None:
        super().__init__()
        self.z_dim, self.size, self.num_classes = z_dim, size, num_classes
        self.conditional = num_classes > 1
        c0 = channels_at(4, size, base_channels, max_channels)
        self.embed, code_width = (
            class_code(class_input, num_classes, z_dim) if self.conditional else (None, 0)
        )
        in_dim = z_dim + code_width
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
            z = join_class(z, labels, self.embed, self.num_classes)
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


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose gain and bias come from the class (de Vries et al., 2017; BigGAN)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=num_classes <= 1)
        self.embed = None
        if num_classes > 1:
            self.embed = nn.Embedding(num_classes, 2 * channels)
            nn.init.ones_(self.embed.weight[:, :channels])
            nn.init.zeros_(self.embed.weight[:, channels:])

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = self.bn(x)
        if self.embed is None:
            return x
        # in the activations' dtype: under bf16/fp16 autocast the fp32 embedding would otherwise
        # promote every later elementwise op of the layer (and its backward) to fp32
        gain, bias = self.embed(labels).to(x.dtype).chunk(2, dim=1)
        return x * gain[:, :, None, None] + bias[:, :, None, None]


class DCGANGenerator(nn.Module):
    """DCGAN-layout generator with class-conditional BatchNorm; see the module docstring."""

    def __init__(
        self,
        z_dim: int,
        size: int,
        num_classes: int = 1,
        base_channels: int = 64,
        max_channels: int = 512,
        class_input: str = "onehot",
    ) -> None:
        super().__init__()
        self.z_dim, self.size, self.num_classes = z_dim, size, num_classes
        self.conditional = num_classes > 1
        levels = _levels(size)
        # the class enters twice: beside the latent (so samples follow their condition from
        # the first steps: CBN gains start equal for every class) and through the per-layer
        # conditional BatchNorm (so the class can modulate contrast at every scale)
        self.embed, code_width = (
            class_code(class_input, num_classes, z_dim) if self.conditional else (None, 0)
        )
        widths = [
            channels_at(2 * 4 * 2**k, size, base_channels, max_channels) for k in range(levels)
        ]
        in_dim = z_dim + code_width
        self.stem = nn.ConvTranspose2d(in_dim, widths[0], 4, 1, 0, bias=False)
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[k], widths[k + 1], 4, 2, 1, bias=False)
            for k in range(levels - 1)
        )
        self.norms = nn.ModuleList(ConditionalBatchNorm(w, num_classes) for w in widths)
        self.to_image = nn.ConvTranspose2d(widths[-1], 1, 4, 2, 1)
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            z = join_class(z, labels, self.embed, self.num_classes)
        h = torch.relu(self.norms[0](self.stem(z[:, :, None, None]), labels))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = torch.relu(norm(up(h), labels))
        return torch.tanh(self.to_image(h))


class DCGANProjectionDiscriminator(nn.Module):
    """DCGAN-layout discriminator: minibatch stddev, class projection, optional spectral norm."""

    def __init__(
        self,
        size: int,
        num_classes: int = 1,
        base_channels: int = 64,
        max_channels: int = 512,
        spectral: bool = True,
    ) -> None:
        super().__init__()
        sn = spectral_norm if spectral else (lambda m: m)
        self.size, self.num_classes = size, num_classes
        self.conditional = num_classes > 1
        layers: list[nn.Module] = []
        res, c = size, 1
        for _ in range(_levels(size)):
            c_out = channels_at(res, size, base_channels, max_channels)
            layers += [
                sn(nn.Conv2d(c, c_out, 4, stride=2, padding=1)),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            res, c = res // 2, c_out
        self.features = nn.Sequential(*layers)
        self.mbstd_group = 4
        self.head = nn.Sequential(sn(nn.Conv2d(c + 1, c, 3, padding=1)), nn.LeakyReLU(0.2, True))
        self.linear = sn(nn.Linear(c, 1))
        self.embed = sn(nn.Embedding(num_classes, c)) if self.conditional else None

    forward = Discriminator.forward


class BatchNormDiscriminator(nn.Module):
    """The DCGAN discriminator: stride-2 convolutions with BatchNorm, the class as input planes.

    Real and fake batches go through it separately, so its BatchNorm sees a batch of only one
    kind: a batch of fakes that all look alike has statistics no real batch has. With it, the
    generators here stay as varied as real slices at 64 px where the projection discriminator
    (:class:`DCGANProjectionDiscriminator`) let them collapse to one image per condition
    (docs/quality.md).
    """

    def __init__(
        self, size: int, num_classes: int = 1, base_channels: int = 64, max_channels: int = 512
    ) -> None:
        super().__init__()
        self.size, self.num_classes = size, num_classes
        self.conditional = num_classes > 1
        res, c = size, 1 + (num_classes if self.conditional else 0)
        layers: list[nn.Module] = []
        for k in range(_levels(size)):
            c_out = channels_at(res, size, base_channels, max_channels)
            layers.append(nn.Conv2d(c, c_out, 4, stride=2, padding=1, bias=False))
            if k:  # as in DCGAN: no normalisation on the input layer
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            res, c = res // 2, c_out
        layers.append(nn.Conv2d(c, 1, 4, stride=1, padding=0, bias=False))
        self.main = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            if labels is None:
                raise ValueError("a conditional discriminator needs class labels")
            planes = F.one_hot(labels, self.num_classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[-2:])], dim=1)
        return self.main(x).flatten()


def build_generator(
    arch: str,
    size: int,
    num_classes: int,
    z_dim: int,
    base_channels: int,
    max_channels: int,
    class_input: str = "onehot",
) -> nn.Module:
    """The generator of architecture ``arch`` (see :data:`ARCHS`) and ``class_input``."""
    if arch == "dcgan":
        return DCGANGenerator(z_dim, size, num_classes, base_channels, max_channels, class_input)
    if arch == "upconv":
        return Generator(z_dim, size, num_classes, base_channels, max_channels, class_input)
    raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")


def build_models(
    size: int,
    num_classes: int,
    z_dim: int,
    base_channels: int,
    max_channels: int,
    arch: str = "upconv",
    spectral: bool = True,
    class_input: str = "onehot",
    discriminator: str = "projection",
) -> tuple[nn.Module, nn.Module]:
    """A generator and its discriminator.

    ``discriminator``: ``"batchnorm"`` (:class:`BatchNormDiscriminator`, for either ``arch``) or
    ``"projection"`` (the ``arch``'s own; ``spectral``: spectral norm in the dcgan one).
    """
    g = build_generator(arch, size, num_classes, z_dim, base_channels, max_channels, class_input)
    if discriminator == "batchnorm":
        return g, BatchNormDiscriminator(size, num_classes, base_channels, max_channels)
    if discriminator != "projection":
        raise ValueError(f"unknown discriminator {discriminator!r}")
    if arch == "dcgan":
        d = DCGANProjectionDiscriminator(size, num_classes, base_channels, max_channels, spectral)
        return g, d
    return g, Discriminator(size, num_classes, base_channels, max_channels)
