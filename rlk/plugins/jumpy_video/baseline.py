"""The autoregressive baseline of the speed comparison: roll a frame-to-frame model forward step by step.

The paper compares JUMP's direct ("jumpy") sampling of a far frame with video models that must
sample every intermediate frame (SV2P, SVG). This baseline is a stochastic frame-to-frame model
built from JUMP's own networks, so a step costs what JUMP's pieces cost:

  z_t ~ p(z | f(x_t, e(v_t))),   x_{t+1} = g(z_t, e(v_{t+1}))

one encoder pass, one prior pass and one renderer pass per step, ``lax.scan`` over the steps.
Reaching frame ``t`` from the last context frame costs ``t`` steps; JUMP costs one encoder pass per
context frame and one renderer pass, whatever ``t``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlk.plugins.jumpy_video.model import Jump


def autoregressive_rollout(jump: Jump, params, x0: jax.Array, v0: jax.Array, dv: jax.Array, steps: int,
                           key: jax.Array) -> jax.Array:
    """The frame ``steps`` steps after ``x0 [H, W, C]`` (time ``v0 [dv]``, ``dv`` per step): ``[H, W, C]``."""

    def step(carry, k):
        x, v = carry
        mean, log_std = jump.prior(params, jump.represent(params, x[None], v[None], jnp.ones((1,), bool)))
        z = mean + jnp.exp(log_std) * jax.random.normal(k, mean.shape)
        v_next = v + dv
        return (jump.render(params, z, v_next[None])[0], v_next), None

    (x, _), _ = jax.lax.scan(step, (x0, v0), jax.random.split(key, steps))
    return x
