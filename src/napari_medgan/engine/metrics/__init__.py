"""Offline evaluation: quality, diversity, condition fidelity and memorization of generated slices.

Reference = the run's held-out real slices; baseline = training real vs held-out real at the
same counts; control rows = verbatim training copies and the untrained generator. Realism: a
classifier two-sample test and power-spectrum band ratios with a noise control (``realism``).
KID/FD use a fixed random-weight network (same bytes everywhere). See ``docs/evaluation.md``.
"""

from .copies import CopyGate, copy_distances
from .coverage import coverage_scores
from .evaluate import EvaluationResult, evaluate, score, score_set
from .features import TrainedNet, frechet_distance, kid
from .memorization import CTTest, nearest_neighbours, nearest_training_slices
from .msssim import ms_ssim, msssim_config, pairwise_msssim
from .randnet import RandomFeatures
from .realism import C2STResult, band_powers, c2st, spectrum_ratio
from .reference import EvaluationCancelled, Reference, prepare_reference
from .report import write_report
from .sampled import dataset_for, evaluate_sampler, sample_images, untrained_like
from .stats import Split, bootstrap_two_sample, group_split, mean_ci
from .swd import laplacian_pyramid, swd

__all__ = [
    "C2STResult",
    "CTTest",
    "CopyGate",
    "EvaluationCancelled",
    "EvaluationResult",
    "RandomFeatures",
    "Reference",
    "Split",
    "TrainedNet",
    "band_powers",
    "bootstrap_two_sample",
    "c2st",
    "copy_distances",
    "coverage_scores",
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
    "sample_images",
    "score",
    "score_set",
    "spectrum_ratio",
    "swd",
    "untrained_like",
    "write_report",
]
