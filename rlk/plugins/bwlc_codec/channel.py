"""The bandwidth-limited channel (BWLC) of Ullrich, Viola & Rezende (2020), in JAX.

A code of ``K`` real symbols is sent; the receiver gets only the first ``k`` of them, ``k`` drawn
per example from ``p(k)``; optionally each received symbol carries additive white Gaussian noise
at a given SNR under an average power constraint. All functions are batched over a leading ``[B]``.
"""

from __future__ import annotations

from typing import Optional

import chex
import jax
import jax.numpy as jnp


def bandwidth_mask(k: jax.Array, code_dim: int) -> jax.Array:
    """``m[b, i] = 1`` if ``i < k[b]`` else ``0``: the receiver keeps exactly the first ``k`` symbols.

    Args:
      k: ``[B]`` integer bandwidths in ``0 .. code_dim``.
    Returns:
      ``[B, code_dim]`` float mask.
    """
    chex.assert_rank(k, 1)
    return (jnp.arange(code_dim)[None, :] < k[:, None]).astype(jnp.float32)


def relaxed_bandwidth_mask(k: jax.Array, code_dim: int, temperature: float) -> jax.Array:
    """A differentiable relaxation of ``bandwidth_mask`` for real-valued ``k``:
    ``m[b, i] = sigmoid((k[b] - i - 1/2) / temperature)``; it tends to the hard mask as the
    temperature goes to 0, and has gradients with respect to ``k`` (and passes them to the code)."""
    chex.assert_rank(k, 1)
    i = jnp.arange(code_dim, dtype=jnp.float32)[None, :]
    return jax.nn.sigmoid((k[:, None].astype(jnp.float32) - i - 0.5) / temperature)


def sample_bandwidth(key: jax.Array, batch: int, code_dim: int, k_min: int, dist: str = "uniform") -> jax.Array:
    """``k ~ p(k)``: ``uniform`` on ``{k_min, ..., K}``, or ``full`` (always ``K``: no bandwidth limit)."""
    if dist == "full":
        return jnp.full((batch,), code_dim, jnp.int32)
    return jax.random.randint(key, (batch,), k_min, code_dim + 1)


def power_normalise(code: jax.Array, power: float = 1.0) -> jax.Array:
    """Scales each example's code to average power ``power`` per symbol: ``||s||^2 = K * power``."""
    chex.assert_rank(code, 2)
    K = code.shape[-1]
    return code * jnp.sqrt(K * power / (jnp.sum(code ** 2, axis=-1, keepdims=True) + 1e-8))


def noise_std(snr_db: Optional[float], power: float = 1.0) -> float:
    """AWGN standard deviation for a signal of average power ``power`` at ``snr_db`` (0 if None)."""
    return 0.0 if snr_db is None else float((power / 10.0 ** (snr_db / 10.0)) ** 0.5)


def bwlc(code: jax.Array, k: jax.Array, noise: jax.Array, sigma: float, mask: Optional[jax.Array] = None):
    """The channel: ``y = (code + sigma * noise) * m_k``; returns ``(y, m_k)``.

    Args:
      code: ``[B, K]`` channel input (power-normalised by the caller when ``sigma > 0``).
      k: ``[B]`` bandwidths (ignored when ``mask`` is given, e.g. a relaxed one).
      noise: ``[B, K]`` standard normal draws.
      sigma: noise standard deviation (``noise_std(snr_db)``).
    """
    chex.assert_equal_shape([code, noise])
    m = bandwidth_mask(k, code.shape[-1]) if mask is None else mask
    return (code + sigma * noise) * m, m
