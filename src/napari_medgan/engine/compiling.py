"""Optional ``torch.compile`` of the training networks (``TrainConfig.compile``).

Compiling fuses the many small element-wise kernels around each convolution (BatchNorm, the
class-conditional gain and bias, activations) into a few generated ones. On the 2-core test CPU
(bf16, 64 px) the cpu preset then trains about 1.07× as many images per CPU-second as without
(1.12× the textbook loop's, against 1.05× eager; benchmarks/results_quality.md), after a one-off
compilation of one to three minutes (seconds when inductor's cache already holds it): worth it
for runs of an hour or more, not for the ten-minute demo, so it is off by default.

Only ``forward`` is replaced, on the instance: parameter names, checkpoints and the EMA copy (made
before compiling, and never compiled) are unaffected. Where compilation cannot work (no C++
compiler, an unsupported Python), training goes on eagerly: errors at compile time fall back to
the plain forward (``torch._dynamo.config.suppress_errors``), with a warning in the log.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)


def compile_networks(*nets: nn.Module) -> bool:
    """Compile each network's ``forward`` in place; False (and eager networks) if unavailable."""
    try:
        import torch._dynamo as dynamo

        dynamo.config.suppress_errors = True  # a failed compile runs the eager code
        compiled = [torch.compile(net.forward, dynamic=False) for net in nets]
    except Exception as exc:  # e.g. "Dynamo is not supported on this Python"
        log.warning("torch.compile unavailable (%s); training without it", exc)
        return False
    for net, forward in zip(nets, compiled):
        net.forward = forward
    return True


def is_compiled(net: nn.Module) -> bool:
    """Whether :func:`compile_networks` replaced ``net.forward``."""
    return "forward" in vars(net)
