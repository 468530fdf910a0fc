"""Categorical value and reward heads: the signed hyperbolic transform and two-hot targets.

h(x) = sign(x)(sqrt(|x| + 1) - 1) + eps x (Pohlen et al. 2018, eq. 1; used by MuZero and Muesli);
a scalar is squashed by h and written as a two-hot distribution over ``num_atoms`` evenly spaced
atoms on ``[min_value, max_value]`` (in h-space); reading a distribution back applies h^-1.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import rlax


class Support(NamedTuple):
    """Atoms of a categorical head, in the transformed (h) space."""

    min_value: float
    max_value: float
    num_atoms: int


def scalar_to_two_hot(x: jax.Array, support: Support) -> jax.Array:
    """``[...]`` scalars -> ``[..., num_atoms]`` two-hot distributions of h(x)."""
    h = rlax.signed_hyperbolic(x)
    return rlax.transform_to_2hot(h, support.min_value, support.max_value, support.num_atoms)


def two_hot_to_scalar(probs: jax.Array, support: Support) -> jax.Array:
    """``[..., num_atoms]`` probabilities -> ``[...]`` scalars (expectation in h-space, then h^-1)."""
    h = rlax.transform_from_2hot(probs[None] if probs.ndim == 1 else probs, support.min_value,
                                 support.max_value, support.num_atoms)
    return rlax.signed_parabolic(h[0] if probs.ndim == 1 else h)


def logits_to_scalar(logits: jax.Array, support: Support) -> jax.Array:
    return two_hot_to_scalar(jax.nn.softmax(logits, axis=-1), support)


def cross_entropy(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """``-sum p log softmax(logits)`` over the last axis."""
    return -jnp.sum(target_probs * jax.nn.log_softmax(logits, axis=-1), axis=-1)
