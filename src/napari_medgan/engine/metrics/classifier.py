"""Conditional accuracy: an independent condition classifier trained on real labelled slices."""

from __future__ import annotations

import numpy as np

from .features import TrainedNet, train_net

CLASSIFIER_STEPS = 200


def train_classifier(
    images: np.ndarray, labels: np.ndarray, steps: int = CLASSIFIER_STEPS, seed: int = 0
) -> TrainedNet:
    """Train a condition classifier (its own weights and seed, no rotation task).

    It is independent of the GAN's discriminator and of the feature extractor, so a generator
    cannot score well by fooling the network it was trained against.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if np.unique(labels).size < 2:
        raise ValueError("conditional accuracy needs real slices of at least two conditions")
    return train_net(
        images, {"condition": labels}, kind="classifier", rotation=False, steps=steps,
        seed=seed + 1,
    )


def correct(classifier: TrainedNet, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per image 1.0 where the classifier's top class equals the target condition, else 0.0."""
    if len(images) == 0:
        return np.zeros(0)
    pred = classifier.predict(images, "condition").argmax(1)
    return (pred == np.asarray(targets)).astype(np.float64)
