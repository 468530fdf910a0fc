"""The behaviour policy (it sees the bear) and the data it generates, in JAX.

Following Rezende et al. 2020 (Section 4), the behaviour policy has an intermediate variable ``z``
between what it knows and the action it takes: its action probabilities ``p = pi_b(. | obs)`` and an
*intention* ``i ~ p``; the executed action is ``a = i`` with probability ``1 - epsilon`` and uniform
otherwise, so ``m(a | z) = (1 - epsilon) [a = i] + epsilon / A`` (intention) or
``(1 - epsilon) p[a] + epsilon / A`` (probabilities). Either ``z`` blocks the backdoor path
``a <- bear -> r``: the action depends on the bear only through ``z``.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from pydantic import Field

from rlk.core.config import PluginConfig
from rlk.plugins.partial_models.env import FuzzyBear


class BehaviourConfig(PluginConfig):
    # The behaviour policy hugs teddies and runs from grizzlies most of the time (the paper's data
    # comes from an agent that sees the bear); epsilon keeps every action possible (positivity).
    p_forest: float = Field(0.5, gt=0.0, lt=1.0, description="probability of going to the forest at home")
    p_hug_teddy: float = Field(0.9, ge=0.0, le=1.0, description="probability of hugging a teddy")
    p_hug_grizzly: float = Field(0.1, ge=0.0, le=1.0, description="probability of hugging a grizzly")
    epsilon: float = Field(0.2, gt=0.0, le=1.0, description="probability that the executed action is uniform instead of the intention")


def behaviour_probs(config: BehaviourConfig, observation: jax.Array) -> jax.Array:
    """``[4] -> [2]``: the behaviour policy's action probabilities (before the epsilon noise)."""
    at_home, _, teddy, _ = observation
    p_first = jnp.where(at_home > 0, 1.0 - config.p_forest,
                        jnp.where(teddy > 0, config.p_hug_teddy, config.p_hug_grizzly))
    return jnp.stack([p_first, 1.0 - p_first])


def executed_action_probs(z_probs: jax.Array, epsilon: float) -> jax.Array:
    """``m(a | p) = (1 - epsilon) p + epsilon / A``: the action distribution given the probabilities."""
    return (1.0 - epsilon) * z_probs + epsilon / z_probs.shape[-1]


def rollout(env: FuzzyBear, policy: Callable[[jax.Array], jax.Array], epsilon: float, key: jax.Array,
            num_episodes: int, num_steps: int) -> dict[str, jax.Array]:
    """Episodes of any policy with the behaviour's structure, padded to ``num_steps`` steps (jit-compatible).

    ``policy(observation [obs_dim]) -> p [A]`` gives the action probabilities (the backdoor ``z``); the
    intention is ``i ~ p`` and the executed action ``a = i`` with probability ``1 - epsilon``, else uniform.
    Steps after the end are an absorbing state: reward 0, probabilities uniform, a uniform intention
    and the same epsilon noise (MuZero's convention for unrolls past an episode's end).

    Returns a dict of arrays: ``obs0 [N, obs_dim]``, ``obs [N, T, obs_dim]`` (the observation each step
    acts on), ``probs [N, T, A]``, ``intention [N, T]``, ``action [N, T]``, ``reward [N, T]``, ``valid [N, T]``
    (the step happened in the environment), ``bear [N]`` (for checks only; no model sees it).
    """
    num_actions = env.spec.action.num_values

    def episode(key):
        reset_key, key = jax.random.split(key)
        state, ts = env.reset(reset_key)

        def step(carry, key):
            state, ts, done = carry
            u = jax.random.uniform(key, (3,))  # one draw for the intention, the noise and the uniform action
            probs = jnp.where(done, jnp.full((num_actions,), 1.0 / num_actions), policy(ts.observation))
            intention = jnp.minimum(jnp.sum(u[0] >= jnp.cumsum(probs)), num_actions - 1)  # inverse-CDF sample of p
            uniform = jnp.minimum((u[2] * num_actions).astype(jnp.int32), num_actions - 1)
            action = jnp.where(u[1] < epsilon, uniform, intention)
            state, next_ts = env.step(state, action, key)  # FuzzyBear's step is deterministic
            reward = jnp.where(done, 0.0, next_ts.reward)
            out = dict(obs=ts.observation, probs=probs, intention=intention, action=action, reward=reward, valid=~done)
            return (state, next_ts, done | next_ts.last), out

        _, out = jax.lax.scan(step, (state, ts, jnp.bool_(False)), jax.random.split(key, num_steps), unroll=True)
        return dict(obs0=ts.observation, bear=state.bear, **out)

    return jax.vmap(episode)(jax.random.split(key, num_episodes))


def collect(env: FuzzyBear, config: BehaviourConfig, key: jax.Array, num_episodes: int) -> dict[str, jax.Array]:
    """Episodes of the behaviour policy (``rollout`` with ``behaviour_probs``), padded to ``K`` steps."""
    return rollout(env, lambda obs: behaviour_probs(config, obs), config.epsilon, key, num_episodes,
                   env.spec.max_episode_steps)
