"""The textbook loop, the benchmark's baseline: PyTorch's DCGAN example (Radford et al. 2015).

ConvTranspose/BatchNorm generator, BatchNorm discriminator, BCE, Adam 2e-4 / (0.5, 0.999), batch
64, N(0, 0.02) init; the condition enters as a one-hot vector concatenated to z and as one-hot
planes concatenated to D's input (the usual cDCGAN). It is sampled the way the example does
(train-mode BatchNorm).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class DCGen(nn.Module):
    def __init__(self, nz: int, n_cls: int, size: int, ngf: int = 64):
        super().__init__()
        self.nz, self.n_cls = nz, n_cls
        levels = int(np.log2(size)) - 3  # 64 px: 4x4 -> 8 -> 16 -> 32 -> 64
        ch = ngf * 2**levels
        layers = [
            nn.ConvTranspose2d(nz + n_cls, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(levels):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, 1, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z, y):
        onehot = nn.functional.one_hot(y, self.n_cls).float()
        return self.main(torch.cat([z, onehot], 1)[:, :, None, None])


class DCDisc(nn.Module):
    def __init__(self, n_cls: int, size: int, ndf: int = 64):
        super().__init__()
        self.n_cls = n_cls
        levels = int(np.log2(size)) - 3
        layers = [nn.Conv2d(1 + n_cls, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(levels):
            layers += [
                nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch * 2),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)

    def forward(self, x, y):
        planes = nn.functional.one_hot(y, self.n_cls).float()[:, :, None, None]
        return self.main(torch.cat([x, planes.expand(-1, -1, *x.shape[-2:])], 1)).flatten()


def _dcgan_init(m):
    name = m.__class__.__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class DCGANRunner:
    """The textbook loop, one D+G update per :meth:`step`."""

    name = "dcgan"

    def __init__(self, images, labels, n_cls, size, seed=0, batch=64, nz=100, bf16=False):
        torch.manual_seed(seed)
        self.bf16 = bf16  # autocast the forward passes to bfloat16 (for the throughput table)
        self.images, self.labels, self.n_cls, self.nz, self.batch = images, labels, n_cls, nz, batch
        self.G, self.D = DCGen(nz, n_cls, size), DCDisc(n_cls, size)
        self.G.apply(_dcgan_init)
        self.D.apply(_dcgan_init)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce = nn.BCEWithLogitsLoss()
        self.steps = 0

    def step(self):
        b = self.batch
        idx = torch.randint(0, len(self.images), (b,))
        real, y = self.images[idx], self.labels[idx]
        ones, zeros = torch.ones(b), torch.zeros(b)
        cast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16)
        self.D.zero_grad()
        z = torch.randn(b, self.nz)
        with cast:
            fake = self.G(z, y)
            logits = self.D(real, y).float(), self.D(fake.detach(), y).float()
        loss_d = self.bce(logits[0], ones) + self.bce(logits[1], zeros)
        loss_d.backward()
        self.opt_d.step()
        self.G.zero_grad()
        with cast:
            logits_g = self.D(fake, y).float()
        loss_g = self.bce(logits_g, ones)
        loss_g.backward()
        self.opt_g.step()
        self.steps += 1

    @torch.no_grad()
    def sample(self, n, label, seed):
        # as the example does: the generator stays in train mode (batch statistics), fed the
        # usual mix of conditions so the statistics match training
        g = torch.Generator().manual_seed(seed)
        out = []
        while sum(len(o) for o in out) < n:
            y = torch.randint(0, self.n_cls, (self.batch,), generator=g)
            y[: self.batch // self.n_cls] = label
            z = torch.randn(self.batch, self.nz, generator=g)
            out.append(self.G(z, y)[y == label][:, 0])
        return torch.cat(out)[:n].numpy()

    @property
    def batch_size(self):
        return self.batch
