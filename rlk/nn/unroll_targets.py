"""Aligning a learned model's K-step predictions with a trajectory (MuZero, Muesli).

From each state s_j of a ``[T+1, N]`` sequence the model is unrolled k = 1..K steps with the actions
actually taken; its step-k predictions are trained on what happened at j + k, unless an episode
ended on the way (auto-reset trajectories) or the sequence ran out.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlk.core.types import TimeStep
from rlk.nn.value_transforms import Support, scalar_to_two_hot


def model_targets(ts: TimeStep, cmpo: jax.Array, G: jax.Array, support: Support, K: int) -> dict:
    """Targets for the model after k = 1..K steps from s_j, and their masks; leaves ``[K, T, N, ...]``.

    ``cmpo [T+1, N, A]`` is the policy target at every step (Muesli: CMPO; MuZero: search visits) and
    ``G [<= T+1, N]`` the value target (Retrace or n-step returns; missing tail steps are masked).
    With ``ts`` of ``T + 1`` steps (``ts[j + 1]`` holds the reward of action ``a_j``):
    - policy: ``cmpo[j + k]``, valid if no episode ended in ``(j, j + k]`` and ``j + k <= T``;
    - reward: two-hot of ``ts.reward[j + k]`` (the reward of ``a_{j+k-1}``), valid if no episode
      ended in ``(j, j + k)`` (the terminal transition's own reward counts) and ``j + k <= T``;
    - value: two-hot of the return ``G[j + k]`` (defined for ``j + k < len(G)``), valid if no
      episode ended in ``(j, j + k]``.
    """
    T = ts.reward.shape[0] - 1
    N = ts.reward.shape[1]
    n_values = G.shape[0]
    pad = lambda x, fill: jnp.concatenate([x, jnp.full((K + 1,) + x.shape[1:], fill, x.dtype)], 0)
    ended = pad(jnp.cumsum(ts.last.astype(jnp.int32), axis=0), 10 ** 6)  # [T+1+K+1, N]
    cmpo = pad(cmpo, 0.0)
    reward = pad(ts.reward, 0.0)
    G = pad(jnp.concatenate([G, jnp.zeros((T + 1 - G.shape[0], N), G.dtype)], 0), 0.0)
    j = jnp.arange(T)

    def at_k(k):
        idx = j + k
        no_end_incl = (ended[idx] - ended[j]) == 0  # no last in (j, j + k]
        no_end_excl = (ended[idx - 1] - ended[j]) == 0  # no last in (j, j + k)
        inside = (idx <= T)[:, None]
        return (cmpo[idx], scalar_to_two_hot(reward[idx], support), scalar_to_two_hot(G[idx], support),
                (no_end_incl & inside).astype(jnp.float32), (no_end_excl & inside).astype(jnp.float32),
                (no_end_incl & (idx < n_values)[:, None]).astype(jnp.float32))

    pol, rew, val, pm, rm, vm = jax.vmap(at_k)(jnp.arange(1, K + 1))
    return {"model_policy": pol, "model_reward": rew, "model_value": val,
            "model_policy_mask": pm, "model_reward_mask": rm, "model_value_mask": vm}
