"""MuZero's training targets from replayed sequences: n-step value targets (Schrittwieser et al. 2020,
eq. 3, with two-player sign flips), potential-shaped rewards (``go.py``), and model steps past an episode's
end as an absorbing state (MuZero pseudocode, ``make_target``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import rlax

from rlk.core.types import TimeStep
from rlk.nn.value_transforms import Support, scalar_to_two_hot
from rlk.plugins.muzero.go import shaped_reward


def n_step_returns(ts: TimeStep, value: jax.Array, gamma: float, n: int, sign: float = 1.0) -> jax.Array:
    """MuZero's value targets z_j (eq. 3) for ``j < T``: ``[T, N]``.

    ``ts`` has leaves ``[T+1, N]`` (``ts[j+1]`` holds the reward of ``a_j``), ``value [T+1, N]`` the
    bootstrap values of ``ts[j].observation``. ``z_j = sum_{i<n} gamma^i r_{j+i+1} + gamma^n v_{j+n}``,
    cut at an episode's end and bootstrapped from the last state where the sequence ends first.
    Two-player games (``sign=-1``, players alternating): rewards are the mover's and values the player
    to move's, so each step flips the sign, ``z_j = r_{j+1} - gamma r_{j+2} + ... + (-gamma)^n v_{j+n}``.
    """
    discount = sign * gamma * ts.discount * (1.0 - ts.last.astype(jnp.float32))  # index j: the transition into j
    return jax.vmap(lambda r, d, v: rlax.n_step_bootstrapped_returns(r, d, v, n), in_axes=1, out_axes=1)(
        ts.reward[1:], discount[1:], value[1:])


def area_shaped_rewards(ts: TimeStep, potential, coef: float) -> TimeStep:
    """``ts [T+1, N]`` with potential-shaped rewards (``go.py``; Go: the area margin) at indices ``1..T``: the
    reward of ``a_{t-1}`` gains ``coef * (phi_mover(s_t) - phi_mover(s_{t-1}))``, with ``phi = 0`` where the
    game ended (after ``last`` the observation is already the next game's)."""
    one = lambda r, o, o2, last: shaped_reward(potential, r, o, o2, last, coef)
    shape = lambda o, o2, last, r: jax.vmap(one)(r, o, o2, last)
    shaped = jax.vmap(shape)(ts.observation[:-1], ts.observation[1:], ts.last[1:], ts.reward[1:])
    return ts._replace(reward=jnp.concatenate([ts.reward[:1], shaped], 0))


def absorbing_targets(ts: TimeStep, targets: dict, support: Support, K: int) -> dict:
    """Treats model steps past an episode's end as an absorbing state (MuZero pseudocode, ``make_target``).

    ``model_targets`` masks every target after an end; MuZero instead trains the model to predict
    value 0 there, and reward 0 after the terminal transition, so that the search, whose model
    knows no episode end, values a terminal transition as its reward alone. Policy targets stay masked.
    """
    T = ts.reward.shape[0] - 1
    ended = jnp.cumsum(ts.last.astype(jnp.int32), axis=0)  # [T+1, N]
    j = jnp.arange(T)
    zero = scalar_to_two_hot(jnp.zeros(()), support)

    def at_k(k):
        after_incl = (ended[jnp.minimum(j + k, T)] - ended[j]) > 0  # an end in (j, min(j + k, T)]
        after_excl = (ended[jnp.minimum(j + k - 1, T)] - ended[j]) > 0  # an end in (j, j + k)
        return after_incl, after_excl

    v_abs, r_abs = jax.vmap(at_k)(jnp.arange(1, K + 1))  # [K, T, N]
    out = dict(targets)
    out["model_value"] = jnp.where(v_abs[..., None], zero, targets["model_value"])
    out["model_value_mask"] = jnp.where(v_abs, 1.0, targets["model_value_mask"])
    out["model_reward"] = jnp.where(r_abs[..., None], zero, targets["model_reward"])
    out["model_reward_mask"] = jnp.where(r_abs, 1.0, targets["model_reward_mask"])
    return out
