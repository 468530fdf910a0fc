"""The Frechet distance in the feature space of a CNN classifier trained on the same dataset.

An offline stand-in for FID (Heusel et al. 2017), which uses Inception-v3 features: here the
features are the penultimate layer (``width`` ReLU units) of a small convolutional classifier
(two stride-2 3x3 convolutions, 16 and 32 channels, then a dense layer) fitted with Adam, from a
fixed seed, on the dataset's training split; its test accuracy is reported beside every Frechet
distance. The numbers compare runs on one dataset; they are not FID values.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

CHANNELS = (16, 32)
BATCH = 64


def _conv(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    """3x3 convolution, stride 2, SAME padding, then ReLU: ``x`` ``[N, H, W, C]``, ``w`` ``[C * 9, C_out]``
    (rows ordered channel, then kernel row, then kernel column). Written as patches times a matrix, which
    XLA's CPU backend runs several times faster than its convolution's gradient."""
    patches = jax.lax.conv_general_dilated_patches(x, (3, 3), (2, 2), "SAME",
                                                   dimension_numbers=("NHWC", "OIHW", "NHWC"))
    return jax.nn.relu(patches @ w + b)


def classifier_init(key: jax.Array, shape: tuple[int, int], width: int, classes: int) -> dict[str, jax.Array]:
    """Parameters of the classifier for ``[H, W]`` images (He-normal weights, zero biases)."""
    (c1, c2), (h, w) = CHANNELS, shape
    flat = ((h + 3) // 4) * ((w + 3) // 4) * c2  # after two SAME stride-2 convolutions: ceil(n / 4) a side
    ks = jax.random.split(key, 4)
    he = lambda k, s, fan: jax.random.normal(k, s) * np.sqrt(2.0 / fan)
    return {"w1": he(ks[0], (9, c1), 9), "b1": jnp.zeros(c1),
            "w2": he(ks[1], (9 * c1, c2), 9 * c1), "b2": jnp.zeros(c2),
            "w3": he(ks[2], (flat, width), flat), "b3": jnp.zeros(width),
            "w4": he(ks[3], (width, classes), width) * 0.5, "b4": jnp.zeros(classes)}


def classifier_features(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """``[N, width]`` penultimate features of images ``[N, H, W]`` in [0, 1]."""
    h = _conv(x[..., None], params["w1"], params["b1"])
    h = _conv(h, params["w2"], params["b2"])
    return jax.nn.relu(h.reshape(h.shape[0], -1) @ params["w3"] + params["b3"])


def classifier_logits(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    return classifier_features(params, x) @ params["w4"] + params["b4"]


def fit_classifier(x: np.ndarray, y: np.ndarray, classes: int, width: int, steps: int, seed: int = 0) -> dict[str, jax.Array]:
    """Adam (1e-3) on the cross-entropy for ``steps`` updates of ``BATCH`` examples drawn in epochs."""
    params = classifier_init(jax.random.PRNGKey(seed), x.shape[1:], width, classes)
    rng = np.random.default_rng(seed)
    epochs = -(-steps * BATCH // len(x))
    order = np.concatenate([rng.permutation(len(x)) for _ in range(epochs)])[: steps * BATCH].reshape(steps, BATCH)
    opt = optax.adam(1e-3)
    xs, ys = jnp.asarray(x), jnp.asarray(y)

    def loss(p, idx):
        logits = classifier_logits(p, xs[idx])
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, ys[idx]))

    def update(carry, idx):
        p, s = carry
        g = jax.grad(loss)(p, idx)
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), None

    (params, _), _ = jax.jit(lambda p, o: jax.lax.scan(update, (p, opt.init(p)), o))(params, jnp.asarray(order))
    return params


@dataclasses.dataclass(frozen=True)
class FeatureClassifier:
    params: dict[str, Any]
    shape: tuple[int, int]
    test_accuracy: float

    @classmethod
    def fit(cls, dataset, width: int, steps: int, seed: int = 0) -> "FeatureClassifier":
        """Fits on ``dataset``'s training split (memoised on the data and settings) and scores the test split."""
        train, test = dataset.arrays("train"), dataset.arrays("test")
        digest = hashlib.sha1()
        for a in (train["x"], train["y"], test["x"], test["y"]):
            digest.update(np.ascontiguousarray(a).tobytes())
        key = (digest.hexdigest(), width, steps, seed)
        if key not in _FITTED:
            with jax.ensure_compile_time_eval():  # fitted for real even when first asked inside a jit trace
                params = fit_classifier(train["x"], train["y"], dataset.num_classes, width, steps, seed)
                pred = np.asarray(jnp.argmax(jax.jit(classifier_logits)(params, jnp.asarray(test["x"])), -1))
            _FITTED[key] = cls(params, tuple(train["x"].shape[1:]), float(np.mean(pred == test["y"])))
        return _FITTED[key]

    def features(self, x_flat: jax.Array) -> jax.Array:
        return classifier_features(self.params, x_flat.reshape(x_flat.shape[0], *self.shape))


_FITTED: dict[tuple, FeatureClassifier] = {}


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
