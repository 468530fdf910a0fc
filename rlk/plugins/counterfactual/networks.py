"""CCA networks (Mesnard et al. 2021, section 3 and Fig. 1): policy, state value, a backward GRU
hindsight network ``Phi``, and three heads on ``[X_t; Phi_t]``: the future-conditional baseline
``V(X_t, Phi_t)``, the future-conditional critic ``Q(X_t, Phi_t, .)`` and the hindsight
classifier ``h(.|X_t, Phi_t)``; and (not in the paper) a one-step model ``m(X_t, A_t)`` whose
prediction errors the GRU can read instead of the raw future (``hindsight_inputs='innovations'``).

Time-major shapes: ``T`` steps, ``B`` environments, ``D`` flat observation size, ``H`` the size
of ``Phi``.
"""

from __future__ import annotations

import math
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.core.types import EnvSpec
from rlk.nn.torsos import MLP


class CCANetwork(eqx.Module):
    """All CCA parameters in one pytree (a single optimiser state)."""

    policy: MLP
    value: MLP
    hindsight: eqx.nn.GRUCell
    fc_value: MLP
    fc_q: MLP
    classifier: MLP
    model: MLP  # one-step predictor of [f_{t+1}; r_{t+1}] from [X_t; onehot(A_t)] (hindsight_inputs='innovations')


def make_network(key: jax.Array, spec: EnvSpec, hindsight_dim: int, hidden: tuple[int, ...],
                 hindsight_size: int, model_hidden: Optional[tuple[int, ...]] = None) -> CCANetwork:
    """``hindsight_dim``: size of the per-step hindsight features (``info['hindsight']``); ``model_hidden``:
    the one-step model's hidden sizes (None: ``hidden``; ``()``: linear in ``[X_t; onehot(A_t)]``)."""
    obs = math.prod(spec.observation.shape)
    num_actions = spec.action.num_values
    k = jax.random.split(key, 6)
    head_in = obs + hindsight_size
    return CCANetwork(
        policy=MLP(k[0], obs, hidden, num_actions, out_scale=0.01),
        value=MLP(k[1], obs, hidden, 1),
        hindsight=eqx.nn.GRUCell(hindsight_dim + 1, hindsight_size, key=k[2]),
        fc_value=MLP(k[3], head_in, hidden, 1),
        fc_q=MLP(k[4], head_in, hidden, num_actions),
        classifier=MLP(k[5], head_in, hidden, num_actions, out_scale=0.01),
        # its own key (folded in) so that the other heads' initialisation is as before it existed
        model=MLP(jax.random.fold_in(key, 7), obs + num_actions, hidden if model_hidden is None else model_hidden,
                  hindsight_dim + 1),
    )


def hindsight_statistic(cell: eqx.nn.GRUCell, features: jax.Array, reward: jax.Array, last: jax.Array) -> jax.Array:
    """``Phi [T, B, H]``: a GRU run backwards in time over what followed each action.

    Args:
      cell: the GRU cell.
      features: ``[T, B, F]``, ``features[t]`` what the transition ``t -> t+1`` showed
        (``info['hindsight']`` of ``timestep[t+1]``).
      reward: ``[T, B]`` the reward ``r_{t+1}`` of that transition.
      last: ``[T, B]`` whether that transition ended the episode.

    ``Phi_t = GRU([features_t; r_{t+1}], Phi_{t+1} * (1 - last_t))``: the statistic of step ``t``
    summarises the rest of its own episode within the unroll (``Phi_T = 0``).
    """
    T, B = reward.shape
    inputs = jnp.concatenate([features.reshape(T, B, -1).astype(jnp.float32), reward[..., None]], axis=-1)

    def step(phi_next, x):
        inp, done = x
        phi_next = phi_next * (1.0 - done.astype(jnp.float32))[:, None]
        phi = jax.vmap(cell)(inp, phi_next)
        return phi, phi

    _, phi = jax.lax.scan(step, jnp.zeros((B, cell.hidden_size), jnp.float32), (inputs, last), reverse=True)
    return phi
