"""Observations into networks: uint8 pixels (Atari frames, 0..255) scaled to float32 in [0, 1].

One helper for every network that may see pixels (the actor-critics, the MuZero-style model, HiMo's heads):
``scale_pixels`` leaves non-uint8 observations as they are.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def scale_pixels(observation: jax.Array) -> jax.Array:
    """``observation / 255`` as float32 for uint8 pixels; any other dtype unchanged."""
    return observation.astype(jnp.float32) / 255.0 if observation.dtype == jnp.uint8 else observation
