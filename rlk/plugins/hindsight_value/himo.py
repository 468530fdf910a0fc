"""HiMo's networks and its hindsight data (the ``himo`` loss in ``losses.py`` puts them on a host agent).

Guez et al. 2020, "Value-driven Hindsight Modelling" (arXiv:2002.08329), Sec. 3 and Fig. 1:

- ``phi_t = phi(tau_{t+1:t+k})``: a ``d``-dimensional feature of the future trajectory, learned only
  through the hindsight value ``v+``. Here (``phi_input="trajectory"``, the default) a backward GRU over
  embeddings of the observations ``x_{t+1}, ..., x_{t+k}`` of ``t``'s episode, read from ``x_{t+k}`` back
  to ``x_{t+1}``, cut at the episode's end and the unroll's end, then a linear map to ``d``. The paper
  defines phi on the future trajectory; which network its agents use and whether rewards and actions
  enter it could not be read here: the GRU over observations is this plugin's assumption.
  ``phi_input="frame"`` is the ablation ``phi(x_{t+k})`` of the last observation of that window alone.
- ``phi_hat_t = g(x_t)``: the model, predicting ``phi_t`` from the present;
- ``v+(x_t, phi_t)`` and ``v_m(x_t, phi_hat_t)``: value heads on the present and the (predicted)
  hindsight feature. ``v_m`` is the value used for acting and bootstrapping.

The model-free control (``model_free_control``) keeps all four networks and trains ``v_m(x, g(x))`` by the
value loss alone, end to end through ``g``: the same value network, hindsight losses off.
"""

from __future__ import annotations

import math
from typing import Callable, Literal, NamedTuple, Sequence, Union

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.nn.observations import scale_pixels
from rlk.nn.torsos import MLP
from rlk.plugins.hindsight_value.config import HiMoConfig


class FutureWindow(NamedTuple):
    """The future trajectory phi reads, for ``N`` steps.

    Attributes:
      observation: ``[N, k, *obs_shape]`` ``x_{t+1}, ..., x_{t+k}`` (entries outside ``mask`` are padding, never read).
      mask: ``[N, k]`` bool, true for the steps of ``t``'s episode inside the unroll (a prefix of the window).
    """

    observation: jax.Array
    mask: jax.Array


class TrajectoryPhi(eqx.Module):
    """``phi(tau_{t+1:t+k})``: per-step MLP embedding, a GRU run backward over the valid steps, a linear map."""

    embed: MLP
    gru: eqx.nn.GRUCell
    out: eqx.nn.Linear
    activation: Callable[[jax.Array], jax.Array] = eqx.field(static=True)

    def __init__(self, key: jax.Array, obs_size: int, phi_size: int, hidden: Sequence[int], activation=jax.nn.relu):
        k1, k2, k3 = jax.random.split(key, 3)
        width = hidden[-1]
        self.embed = MLP(k1, obs_size, hidden[:-1], width, activation=activation)
        self.gru = eqx.nn.GRUCell(width, width, key=k2)
        self.out = eqx.nn.Linear(width, phi_size, key=k3)
        self.activation = activation

    def batch(self, window: FutureWindow) -> jax.Array:
        """``FutureWindow`` of ``N`` steps -> ``phi [N, d]``; an empty window gives ``out(0)``."""
        n, k = window.mask.shape
        e = self.activation(self.embed.batch(_flat(window.observation.reshape((n * k,) + window.observation.shape[2:]))))
        e = e.reshape(n, k, -1)

        def backward(h, inputs):
            e_j, valid_j = inputs
            return jnp.where(valid_j[:, None], jax.vmap(self.gru)(e_j, h), h), None

        h0 = jnp.zeros((n, self.gru.hidden_size), jnp.float32)
        h, _ = jax.lax.scan(backward, h0, (jnp.swapaxes(e, 0, 1), window.mask.T), reverse=True)
        return jax.vmap(self.out)(h)


class HiMoHeads(eqx.Module):
    """The four HiMo networks; ``obs_size`` is the flat observation size, ``d`` the feature size."""

    phi: Union[TrajectoryPhi, MLP]  # future trajectory (or frame) -> phi [d]
    model: MLP    # observation [obs_size] -> phi_hat [d]
    v_plus: MLP   # [obs_size + d] -> v+ [1]
    v_m: MLP      # [obs_size + d] -> v_m [1]

    def __init__(self, key: jax.Array, obs_size: int, phi_size: int, hidden: Sequence[int],
                 activation=jax.nn.relu, phi_input: Literal["trajectory", "frame"] = "trajectory"):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        mlp = lambda k, i, o: MLP(k, i, hidden, o, activation=activation)
        self.phi = (TrajectoryPhi(k1, obs_size, phi_size, hidden, activation) if phi_input == "trajectory"
                    else mlp(k1, obs_size, phi_size))
        self.model = mlp(k2, obs_size, phi_size)
        self.v_plus = mlp(k3, obs_size + phi_size, 1)
        self.v_m = mlp(k4, obs_size + phi_size, 1)


def init_heads(key: jax.Array, observation_shape: Sequence[int], config: HiMoConfig) -> HiMoHeads:
    return HiMoHeads(key, math.prod(observation_shape), config.phi_size, config.hidden_sizes, phi_input=config.phi_input)


def _flat(x: jax.Array) -> jax.Array:
    x = x.reshape((x.shape[0], -1))
    return scale_pixels(x).astype(jnp.float32)


def model_value(heads: HiMoHeads, observation: jax.Array, through_model: bool = False) -> jax.Array:
    """``v_m(x, phi_hat(x)) [N]`` for observations ``[N, ...]``: the value for acting and bootstrapping.
    ``through_model``: no stop-gradient on ``phi_hat`` (the model-free control trains g through v_m)."""
    x = _flat(observation)
    phi_hat = heads.model.batch(x)
    phi_hat = phi_hat if through_model else jax.lax.stop_gradient(phi_hat)
    return heads.v_m.batch(jnp.concatenate([x, phi_hat], -1))[:, 0]


class HiMoOutputs(NamedTuple):
    """HiMo's outputs on ``N`` steps.

    Attributes:
      phi: ``[N, d]`` the hindsight feature of the future.
      phi_hat: ``[N, d]`` the model's prediction of it from the present.
      v_plus: ``[N]`` v+(x, phi) (gradients flow into phi).
      v_m: ``[N]`` v_m(x, stop_grad(phi_hat)).
    """

    phi: jax.Array
    phi_hat: jax.Array
    v_plus: jax.Array
    v_m: jax.Array


def hindsight_feature(heads: HiMoHeads, future: Union[FutureWindow, jax.Array]) -> jax.Array:
    """``phi [N, d]`` of a ``FutureWindow`` (``phi_input="trajectory"``) or of frames ``[N, ...]`` ("frame")."""
    if isinstance(heads.phi, TrajectoryPhi):
        return heads.phi.batch(future)
    return heads.phi.batch(_flat(future))


def himo_outputs(heads: HiMoHeads, observation: jax.Array, future: Union[FutureWindow, jax.Array]) -> HiMoOutputs:
    """All HiMo outputs on ``N`` steps: observations ``[N, ...]`` and their futures (``hindsight_feature``)."""
    x = _flat(observation)
    phi = hindsight_feature(heads, future)
    phi_hat = heads.model.batch(x)
    v_plus = heads.v_plus.batch(jnp.concatenate([x, phi], -1))[:, 0]
    v_m = heads.v_m.batch(jnp.concatenate([x, jax.lax.stop_gradient(phi_hat)], -1))[:, 0]
    return HiMoOutputs(phi, phi_hat, v_plus, v_m)


def future_window(last: jax.Array, horizon: int) -> tuple[jax.Array, jax.Array]:
    """For ``last`` flags ``[T+1, B]``, the steps of ``tau_{t+1:t+k}``: ``(index [T, B, k], mask [T, B, k])``.

    ``index[t, b, j-1] = min(t + j, T)``; ``mask`` is true while ``t + j <= T`` (inside the unroll) and no
    ``last`` flag lies in ``t+1 .. t+j`` (``last[j]``: the observation there is already the next episode's
    first, after auto-reset, so ``t``'s episode ends before it).
    """
    T = last.shape[0] - 1
    t = jnp.arange(T)[:, None, None]
    j = jnp.arange(1, horizon + 1)[None, None, :]
    index = jnp.broadcast_to(jnp.minimum(t + j, T), (T, last.shape[1], horizon))
    ended = last[index, jnp.arange(last.shape[1])[None, :, None]]
    mask = (jnp.cumsum(ended, axis=-1) == 0) & (t + j <= T)
    return index, mask


def future_index(last: jax.Array, horizon: int) -> jax.Array:
    """``[T, B]`` the index of the last observation of ``future_window`` (``t`` itself if it is empty): the
    frame ``x_{t+k}`` cut at the episode's and the unroll's end, which ``phi_input="frame"`` reads."""
    _, mask = future_window(last, horizon)
    return jnp.arange(last.shape[0] - 1)[:, None] + jnp.sum(mask, -1)


def gather_future(observation: jax.Array, index: jax.Array) -> jax.Array:
    """``observation [T+1, B, ...]``, ``index [T, B, ...]`` -> ``observation[index[t, b, ...], b]``."""
    b = jnp.arange(observation.shape[1]).reshape((1, -1) + (1,) * (index.ndim - 2))
    return observation[index, b]
