"""The JUMP objective (Kumar et al. 2019, arXiv:1806.04012, Sec. 3), as pure functions.

With a context set ``C = {(v_i, x_i)}`` and a target set ``T = {(v'_j, x'_j)}`` of a video or scene,
JUMP maximises the evidence lower bound

  log p(x'_T | v'_T, C) >= E_{q(z | C, T)} [ sum_j log p(x'_j | z, v'_j) ] - KL( q(z | C, T) || p(z | C) )

where the prior ``p(z | C)`` and posterior ``q(z | C, T)`` are diagonal Gaussians computed from the
summed representations ``r_C = sum_{i in C} f(v_i, x_i)`` and ``r_C + r_T``, and the renderer's
pixel likelihood ``p(x' | z, v')`` is a Gaussian of fixed std around its mean image.
"""

from __future__ import annotations

import chex
import distrax
import jax
import jax.numpy as jnp


def diagonal_gaussian_kl(mean_q: jax.Array, log_std_q: jax.Array, mean_p: jax.Array, log_std_p: jax.Array) -> jax.Array:
    """``KL(N(mean_q, std_q^2) || N(mean_p, std_p^2))`` of diagonal Gaussians, summed over the last axis.

    Args:
      mean_q, log_std_q: the posterior ``q(z | C, T)``, ``[..., Z]``.
      mean_p, log_std_p: the prior ``p(z | C)``, ``[..., Z]``.
    Returns:
      ``[...]``, the KL term of the ELBO in nats.
    """
    chex.assert_equal_shape([mean_q, log_std_q, mean_p, log_std_p])
    q = distrax.MultivariateNormalDiag(mean_q, jnp.exp(log_std_q))
    p = distrax.MultivariateNormalDiag(mean_p, jnp.exp(log_std_p))
    return q.kl_divergence(p)


def gaussian_pixel_log_likelihood(x: jax.Array, mean: jax.Array, std: float) -> jax.Array:
    """``log p(x | z, v) = sum_pixels log N(x; mean, std^2)`` over the last three axes ``[H, W, C]``."""
    chex.assert_equal_shape([x, mean])
    return jnp.sum(distrax.Normal(mean, std).log_prob(x), axis=(-3, -2, -1))


def negative_elbo(log_likelihood_t: jax.Array, kl: jax.Array, beta: float = 1.0) -> jax.Array:
    """``-ELBO = -sum_j log p(x'_j | z, v'_j) + beta * KL`` per example.

    Args:
      log_likelihood_t: ``[B, N_T]`` log-likelihood of each target frame under one posterior draw of z.
      kl: ``[B]``.
      beta: KL weight (1: the ELBO).
    """
    chex.assert_rank([log_likelihood_t, kl], [2, 1])
    return -jnp.sum(log_likelihood_t, axis=-1) + beta * kl
