"""Classic mappings from T1 to a target map, fitted on the training slices only."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

#: Voxels drawn from the training slices to fit a mapping.
FIT_VOXELS = 400_000


def identity(source: np.ndarray, src_window, tgt_window) -> np.ndarray:
    """The source rescaled from its own window onto the target's (no learning at all)."""
    unit = np.clip((source - src_window[0]) / (src_window[1] - src_window[0]), 0, 1)
    return unit * (tgt_window[1] - tgt_window[0]) + tgt_window[0]


class Monotone:
    """The best monotone intensity mapping (isotonic regression, direction chosen by the fit)."""

    def fit(self, source: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> Monotone:
        x, y = _draw(rng, source.ravel(), target.ravel())
        self.model = IsotonicRegression(increasing="auto", out_of_bounds="clip").fit(x, y)
        return self

    def __call__(self, source: np.ndarray) -> np.ndarray:
        return self.model.predict(source.ravel()).reshape(source.shape).astype(np.float32)


class Patch3x3:
    """A least-squares model on each voxel's 3×3 in-plane neighbourhood: the nine values, their
    squares and the monotone mapping of the centre (so it can only improve on :class:`Monotone`)."""

    def fit(self, source, target, monotone: Monotone, rng: np.random.Generator) -> Patch3x3:
        self.monotone = monotone
        features = self._features(source)
        pick = rng.choice(len(features), size=min(FIT_VOXELS, len(features)), replace=False)
        a, y = features[pick], target.reshape(-1)[pick]
        self.coef = np.linalg.lstsq(a.T @ a + 1e-6 * np.eye(a.shape[1]), a.T @ y, rcond=None)[0]
        return self

    def _features(self, source: np.ndarray) -> np.ndarray:
        padded = np.pad(source, ((0, 0), (1, 1), (1, 1)), mode="edge")
        h, w = source.shape[1:]
        nine = [padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)]
        cols = [*nine, *(v * v for v in nine), self.monotone(source), np.ones_like(source)]
        return np.stack([c.reshape(-1) for c in cols], axis=1).astype(np.float64)

    def __call__(self, source: np.ndarray) -> np.ndarray:
        return (self._features(source) @ self.coef).reshape(source.shape).astype(np.float32)


def _draw(rng, x: np.ndarray, y: np.ndarray):
    pick = rng.choice(len(x), size=min(FIT_VOXELS, len(x)), replace=False)
    return x[pick], y[pick]
