"""The Frechet distance in the feature space of a small classifier trained on the same dataset.

An offline stand-in for FID (Heusel et al. 2017), which uses Inception-v3 features: here the
features are the hidden layer of a one-hidden-layer MLP classifier (scikit-learn's MLPClassifier,
fixed seed) fitted on the dataset's training split, so the numbers compare runs on one dataset but
are not FID values.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.extras import require


@dataclasses.dataclass(frozen=True)
class FeatureClassifier:
    w: np.ndarray  # [D, H]
    b: np.ndarray  # [H]
    test_accuracy: float

    @classmethod
    def fit(cls, dataset, hidden: int = 64, max_train: int = 10_000, seed: int = 0) -> "FeatureClassifier":
        import warnings

        ConvergenceWarning = require("sklearn.exceptions", "bwlc_codec's feature classifier").ConvergenceWarning
        MLPClassifier = require("sklearn.neural_network", "bwlc_codec's feature classifier").MLPClassifier

        train, test = dataset.arrays("train"), dataset.arrays("test")
        x = train["x"][:max_train].reshape(min(max_train, len(train["x"])), -1)
        clf = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=60, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x, train["y"][:max_train])
        acc = float(clf.score(test["x"].reshape(len(test["x"]), -1), test["y"]))
        return cls(clf.coefs_[0].astype(np.float32), clf.intercepts_[0].astype(np.float32), acc)

    def features(self, x_flat: jax.Array) -> jax.Array:
        return jax.nn.relu(x_flat @ self.w + self.b)


def _sqrtm_psd(a: jax.Array) -> jax.Array:
    w, v = jnp.linalg.eigh(a)
    return (v * jnp.sqrt(jnp.clip(w, 0.0))) @ v.T


def frechet_distance(f1: jax.Array, f2: jax.Array) -> jax.Array:
    """``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`` of two feature sets ``[N, H]``."""
    mu1, mu2 = jnp.mean(f1, 0), jnp.mean(f2, 0)
    s1, s2 = jnp.cov(f1, rowvar=False), jnp.cov(f2, rowvar=False)
    r1 = _sqrtm_psd(s1)
    cross = jnp.trace(_sqrtm_psd(r1 @ s2 @ r1))
    return jnp.sum((mu1 - mu2) ** 2) + jnp.trace(s1) + jnp.trace(s2) - 2.0 * cross
