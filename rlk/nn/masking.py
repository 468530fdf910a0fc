"""Masks over actions and over data: illegal actions out of a policy, padding out of a mean."""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp


def masked_logits(logits: jax.Array, mask: Optional[jax.Array]) -> jax.Array:
    """Logits ``[..., A]`` with illegal actions (``mask [..., A]`` False) at the dtype's minimum: zero
    probability under softmax; unchanged where ``mask`` is None (environments without a mask)."""
    return logits if mask is None else jnp.where(mask, logits, jnp.finfo(logits.dtype).min)


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """The mean of ``x`` over the entries where ``mask`` (same shape, 0/1) is 1; 0 where none is."""
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)
