"""Offline evaluation: quality, diversity, condition fidelity and memorization of generated slices.

Every metric works offline (feature networks are trained here on real slices), reports a
real-vs-real baseline and a bootstrap interval, and splits real data per volume. See
``docs/evaluation.md``.
"""

from .evaluate import (
    EvaluationCancelled,
    EvaluationResult,
    Reference,
    evaluate,
    prepare_reference,
    score,
)
from .features import TrainedNet, frechet_distance, kid
from .memorization import CTTest, nearest_neighbours, nearest_training_slices
from .msssim import ms_ssim, msssim_config, pairwise_msssim
from .report import write_report
from .sampled import dataset_for, evaluate_sampler
from .stats import Split, bootstrap_two_sample, group_split, mean_ci
from .swd import laplacian_pyramid, swd

__all__ = [
    "CTTest",
    "EvaluationCancelled",
    "EvaluationResult",
    "Reference",
    "Split",
    "TrainedNet",
    "bootstrap_two_sample",
    "dataset_for",
    "evaluate",
    "evaluate_sampler",
    "frechet_distance",
    "group_split",
    "kid",
    "laplacian_pyramid",
    "mean_ci",
    "ms_ssim",
    "msssim_config",
    "nearest_neighbours",
    "nearest_training_slices",
    "pairwise_msssim",
    "prepare_reference",
    "score",
    "swd",
    "write_report",
]
