"""Muesli's network application on flat batches, shared by the categorical and Gaussian variants."""

from __future__ import annotations

import jax

from rlk.nn.muzero_model import scale_latent


def apply_mlp(mlp, x: jax.Array, scale: bool = False) -> jax.Array:
    """An MLP of ``rlk.nn`` on a flat batch ``[M, ...]`` (min-max scaled output if ``scale``, as the model's latents)."""
    y = jax.vmap(mlp)(x)
    return scale_latent(y) if scale else y
