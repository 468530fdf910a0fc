"""Consistency of jointly sampled frames on moving-shapes (the shape turns up or down after ``t_fork``).

For a set of sampled frames ``x_1..x_N`` at consecutive times after the fork, and the last context
frame ``x_ref`` (before the fork), with ``cy(x)`` the intensity-weighted mean row of a frame (pixels
above 0.2 count, by their excess over 0.2):

- ``branch(x_n) = sign(cy(x_n) - cy(x_ref))``: did the shape go down (+1) or up (-1);
- ``branch_agreement``: the share of sample sets whose ``N`` frames all lie on the same branch
  (the data: 1; frames drawn independently from a 50/50 model: ``2 * 0.5^N``);
- ``step_jump``: the mean ``|cy(x_{n+1}) - cy(x_n)|`` over consecutive frames, in pixels (the data:
  ``vy = 0.4``; a frame on the other branch than its neighbour jumps by several pixels);
- ``down_fraction``: the share of frames on the down branch (about 0.5 when both futures are drawn).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def centroid_row(x: jax.Array) -> jax.Array:
    """``cy``: the weighted mean row (pixel centres at ``i + 0.5``) of frames ``[..., H, W, C]`` -> ``[...]``."""
    m = jnp.maximum(jnp.sum(x, axis=-1) / x.shape[-1] - 0.2, 0.0)
    rows = jnp.arange(x.shape[-3]) + 0.5
    return jnp.sum(m * rows[:, None], axis=(-2, -1)) / jnp.maximum(jnp.sum(m, axis=(-2, -1)), 1e-6)


def consistency_metrics(frames: jax.Array, ref: jax.Array) -> dict[str, jax.Array]:
    """The module's metrics of sample sets ``frames [B, D, N, H, W, C]`` against ``ref [B, H, W, C]``."""
    cy = centroid_row(frames)                               # [B, D, N]
    branch = jnp.sign(cy - centroid_row(ref)[:, None, None])
    agree = jnp.all(branch == branch[..., :1], axis=-1)
    return {"branch_agreement": jnp.mean(agree.astype(jnp.float32)),
            "step_jump": jnp.mean(jnp.abs(jnp.diff(cy, axis=-1))),
            "down_fraction": jnp.mean((branch > 0).astype(jnp.float32))}
