"""HiMo's networks and its hindsight data (the ``himo`` loss in ``losses.py`` puts them on a host agent).

Guez et al. 2020, "Value-driven Hindsight Modelling" (arXiv:2002.08329), Sec. 3 and Fig. 1:

- ``phi_t = phi(x_{t+k})``: a ``d``-dimensional feature of the future (here of the observation ``k``
  steps ahead in the same episode), learned only through the hindsight value ``v+``;
- ``phi_hat_t = g(x_t)``: the model, predicting ``phi_t`` from the present;
- ``v+(x_t, phi_t)`` and ``v_m(x_t, phi_hat_t)``: value heads on the present and the (predicted)
  hindsight feature. ``v_m`` is the value used for acting and bootstrapping.

Each head is a small MLP on the flat observation (concatenated with ``phi`` or ``phi_hat``); the
stop-gradients are placed as the paper places them (see ``losses.py``).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.nn.observations import scale_pixels
from rlk.nn.torsos import MLP
from rlk.plugins.hindsight_value.config import HiMoConfig


class HiMoHeads(eqx.Module):
    """The four HiMo networks; ``obs_size`` is the flat observation size, ``d`` the feature size."""

    phi: MLP      # future observation [obs_size] -> phi [d]
    model: MLP    # observation [obs_size] -> phi_hat [d]
    v_plus: MLP   # [obs_size + d] -> v+ [1]
    v_m: MLP      # [obs_size + d] -> v_m [1]

    def __init__(self, key: jax.Array, obs_size: int, phi_size: int, hidden: Sequence[int],
                 activation=jax.nn.relu):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        mlp = lambda k, i, o, s: MLP(k, i, hidden, o, activation=activation, out_scale=s)
        self.phi = mlp(k1, obs_size, phi_size, 1.0)
        self.model = mlp(k2, obs_size, phi_size, 1.0)
        self.v_plus = mlp(k3, obs_size + phi_size, 1, 1.0)
        self.v_m = mlp(k4, obs_size + phi_size, 1, 1.0)


def init_heads(key: jax.Array, observation_shape: Sequence[int], config: HiMoConfig) -> HiMoHeads:
    return HiMoHeads(key, math.prod(observation_shape), config.phi_size, config.hidden_sizes)


def _flat(x: jax.Array) -> jax.Array:
    x = x.reshape((x.shape[0], -1))
    return scale_pixels(x).astype(jnp.float32)


def model_value(heads: HiMoHeads, observation: jax.Array) -> jax.Array:
    """``v_m(x, phi_hat(x)) [N]`` for observations ``[N, ...]``: the value for acting and bootstrapping."""
    x = _flat(observation)
    phi_hat = heads.model.batch(x)
    return heads.v_m.batch(jnp.concatenate([x, jax.lax.stop_gradient(phi_hat)], -1))[:, 0]


class HiMoOutputs(NamedTuple):
    """HiMo's outputs on ``N`` steps.

    Attributes:
      phi: ``[N, d]`` the hindsight feature of the future observation.
      phi_hat: ``[N, d]`` the model's prediction of it from the present.
      v_plus: ``[N]`` v+(x, phi) (gradients flow into phi).
      v_m: ``[N]`` v_m(x, stop_grad(phi_hat)).
    """

    phi: jax.Array
    phi_hat: jax.Array
    v_plus: jax.Array
    v_m: jax.Array


def himo_outputs(heads: HiMoHeads, observation: jax.Array, future_observation: jax.Array) -> HiMoOutputs:
    """All HiMo outputs on ``N`` steps: observations ``[N, ...]`` and their futures ``[N, ...]``."""
    x, x_future = _flat(observation), _flat(future_observation)
    phi = heads.phi.batch(x_future)
    phi_hat = heads.model.batch(x)
    v_plus = heads.v_plus.batch(jnp.concatenate([x, phi], -1))[:, 0]
    v_m = heads.v_m.batch(jnp.concatenate([x, jax.lax.stop_gradient(phi_hat)], -1))[:, 0]
    return HiMoOutputs(phi, phi_hat, v_plus, v_m)


def future_index(last: jax.Array, horizon: int) -> jax.Array:
    """For a trajectory ``[T+1, B]`` of ``last`` flags, the index ``[T, B]`` of ``x_t``'s future.

    ``min(t + k, T)``, but never past the end of ``t``'s episode: if the episode ends at step ``j``
    (``last[j]``; the observation there is already the next episode's first, after auto-reset), the
    future is ``x_{j-1}``, the last observation of ``t``'s episode (``x_t`` itself if ``j = t + 1``).
    """
    T = last.shape[0] - 1
    t = jnp.arange(T)[:, None]
    offset = jnp.zeros((T, last.shape[1]), jnp.int32)
    alive = jnp.ones((T, last.shape[1]), bool)
    for d in range(1, horizon + 1):  # k is a small static constant
        idx = jnp.minimum(t + d, T)
        alive = alive & ~jnp.take_along_axis(last, jnp.broadcast_to(idx, alive.shape), 0) & (t + d <= T)
        offset = jnp.where(alive, d, offset)
    return t + offset


def gather_future(observation: jax.Array, index: jax.Array) -> jax.Array:
    """``observation [T+1, B, ...]``, ``index [T, B]`` -> ``observation[index[t, b], b] [T, B, ...]``."""
    b = jnp.arange(observation.shape[1])[None, :]
    return observation[index, b]
