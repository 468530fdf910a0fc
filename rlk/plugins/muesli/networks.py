"""Muesli's networks and their application on flat batches, shared by the categorical and Gaussian variants.

The categorical variant's model is ``rlk.nn.muzero_model.MuZeroModel``; the Gaussian variant's is
``GaussianModel`` below (the same parts, a Gaussian policy head and vector actions). Every pass runs each
part once on a flat batch ``[M, ...]`` of states (XLA:CPU is fastest on few large calls).
"""

from __future__ import annotations

import math
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.nn.muzero_model import scale_latent
from rlk.nn.observations import scale_pixels
from rlk.nn.torsos import MLP

LOG_STD_MIN, LOG_STD_MAX = -5.0, 1.0


class GaussianModel(eqx.Module):
    """The MuZero-style model of ``rlk.nn.muzero_model`` with a Gaussian policy head and vector actions."""

    representation: MLP
    dynamics: MLP
    reward_head: MLP
    policy_head: MLP  # -> [2 D]: mean, log-std (clipped to [LOG_STD_MIN, LOG_STD_MAX])
    value_head: MLP
    action_dim: int = eqx.field(static=True)
    scale_latents: bool = eqx.field(static=True)

    def __init__(self, key, obs_shape, action_dim: int, latent_size: int, hidden, num_atoms: int):
        keys = jax.random.split(key, 5)
        act = jax.nn.relu
        self.action_dim = action_dim
        self.scale_latents = True
        self.representation = MLP(keys[0], math.prod(obs_shape), hidden, latent_size, activation=act)
        self.dynamics = MLP(keys[1], latent_size + action_dim, hidden, latent_size, activation=act)
        self.reward_head = MLP(keys[2], latent_size, hidden, num_atoms, activation=act, out_scale=0.01)
        self.policy_head = MLP(keys[3], latent_size, hidden, 2 * action_dim, activation=act, out_scale=0.01)
        self.value_head = MLP(keys[4], latent_size, hidden, num_atoms, activation=act, out_scale=0.01)


def apply_mlp(mlp, x: jax.Array, scale: bool = False) -> jax.Array:
    """An MLP of ``rlk.nn`` on a flat batch ``[M, ...]`` (min-max scaled output if ``scale``, as the model's latents)."""
    y = jax.vmap(mlp)(x)
    return scale_latent(y) if scale else y


def represent(net, obs: jax.Array) -> jax.Array:
    """The representation on a flat batch ``obs [M, *obs_shape]`` -> latents ``[M, D]``, as ``MuZeroModel.initial``
    computes per example: uint8 pixels (Atari) scaled to [0, 1] first (a no-op for float observations)."""
    return apply_mlp(net.representation, scale_pixels(obs), net.scale_latents)


def gaussian_params(head_out: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Gaussian policy head's output ``[..., 2 D]`` -> mean and log-std ``[..., D]`` (log-std clipped)."""
    mean, log_std = jnp.split(head_out, 2, axis=-1)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """``log N(action; mean, exp(log_std)^2)`` summed over the last (action) axis."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """Entropy of a diagonal Gaussian, ``sum_d log_std_d + 0.5 log(2 pi e)``, over the last axis."""
    return jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e), axis=-1)


def dynamics_every_action(net, latents: jax.Array) -> jax.Array:
    """The dynamics from each of ``latents [M, D]`` with every action, action-major ``[A M, D]``: row ``a M + i``
    is the dynamics on ``[latents[i], one_hot(a)]``. The first layer's product with the latent is computed once per
    state (``latents @ W[:D]``, M rows instead of A M) and the one-hot's share is the weight row ``W[D + a]``: the same
    function as the dynamics on the concatenated inputs, up to float rounding."""
    mlp, D = net.dynamics, latents.shape[1]
    first = mlp.layers[0]
    x = (latents @ first.weight[:D])[None] + first.weight[D:, None, :] + first.bias  # [A, M, H]
    x = x.reshape((-1, x.shape[-1]))
    for layer in mlp.layers[1:]:
        x = layer(mlp.activation(x))
    return scale_latent(x) if net.scale_latents else x


def unroll(net, latents: jax.Array, actions: jax.Array, K: int) -> list[jax.Array]:
    """Latents after k = 0..K dynamics steps from every start of a sequence, with the actions taken.

    ``latents [T N, D]`` at s_j (time-major rows), ``actions [T, N, X]`` as the dynamics take them (one-hot or
    scaled vectors). Step k only unrolls the starts j <= T - k (the others have no target left in the
    sequence), so entry k is ``[(T - k + 1) N, D]`` for k >= 1. The dynamics run K times in a Python loop
    (K is small and static, and XLA:CPU copies a ``lax.scan``'s stacked outputs at every step).
    """
    T, N = actions.shape[:2]
    s, path = latents, [latents]
    for k in range(min(K, T)):  # from s_j after k steps (j <= T - k), with a_{j+k}
        rows = (T - k) * N
        s = apply_mlp(net.dynamics, jnp.concatenate([s[:rows], actions[k:].reshape(rows, -1)], -1), net.scale_latents)
        path.append(s)
    return path


def per_step(x: jax.Array, sizes: Sequence[int], T: int, N: int, K: int) -> jax.Array:
    """Flat head outputs of unroll steps 1..K (``sizes``: starts per step) -> ``[K, T, N, ...]``, with zero
    rows where a start was not unrolled (``j > T - k``; always masked)."""
    parts, i = [], 0
    for n in sizes:
        part = x[i * N:(i + n) * N].reshape((n, N) + x.shape[1:])
        parts.append(jnp.pad(part, [(0, T - n)] + [(0, 0)] * (part.ndim - 1)))
        i += n
    out = jnp.stack(parts)
    return jnp.pad(out, [(0, K - out.shape[0])] + [(0, 0)] * (out.ndim - 1))
