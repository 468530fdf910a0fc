"""Environment wrappers: auto-reset and episode statistics, as combinators over ``Environment``."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlk.core.interfaces import Environment
from rlk.core.types import EnvSpec, TimeStep


class Wrapper(Environment):
    """Forwards everything to the wrapped environment."""

    def __init__(self, env: Environment):
        self.env = env

    @property
    def spec(self) -> EnvSpec:
        return self.env.spec

    def reset(self, key: jax.Array) -> tuple[Any, TimeStep]:
        return self.env.reset(key)

    def step(self, state: Any, action: jax.Array, key: jax.Array) -> tuple[Any, TimeStep]:
        return self.env.step(state, action, key)


class AutoReset(Wrapper):
    """Starts a new episode after the last step (the ``TimeStep`` convention of ``rlk.core.types``).

    The returned observation (and legal-action mask, current player) come from the new episode;
    reward, discount, ``last`` and info from the transition that ended the old one.
    """

    def step(self, state: Any, action: jax.Array, key: jax.Array) -> tuple[Any, TimeStep]:
        step_key, reset_key = jax.random.split(key)
        state, ts = self.env.step(state, action, step_key)
        reset_state, reset_ts = self.env.reset(reset_key)
        pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ts.last, a, b), new, old)
        state = pick(reset_state, state)
        ts = ts._replace(
            observation=pick(reset_ts.observation, ts.observation),
            legal_action_mask=pick(reset_ts.legal_action_mask, ts.legal_action_mask),
            current_player=pick(reset_ts.current_player, ts.current_player),
        )
        return state, ts


class EpisodeStatsState(NamedTuple):
    inner: Any
    episode_return: jax.Array
    episode_length: jax.Array


class EpisodeStats(Wrapper):
    """Adds ``info['episode_return']`` and ``info['episode_length']`` of episodes as they end.

    Wrap the raw environment with this first and ``AutoReset`` outside it, so the statistics see
    the terminal transition; the running sums restart after ``last``.
    """

    def reset(self, key: jax.Array) -> tuple[EpisodeStatsState, TimeStep]:
        inner, ts = self.env.reset(key)
        zero = jnp.float32(0.0)
        ts = ts._replace(info={**ts.info, "episode_return": zero, "episode_length": jnp.int32(0)})
        return EpisodeStatsState(inner, zero, jnp.int32(0)), ts

    def step(self, state: EpisodeStatsState, action: jax.Array, key: jax.Array) -> tuple[EpisodeStatsState, TimeStep]:
        inner, ts = self.env.step(state.inner, action, key)
        ret = state.episode_return + ts.reward.astype(jnp.float32)
        length = state.episode_length + 1
        info = {
            **ts.info,
            "episode_return": jnp.where(ts.last, ret, 0.0),
            "episode_length": jnp.where(ts.last, length, 0),
        }
        keep = jnp.logical_not(ts.last)
        new = EpisodeStatsState(inner, jnp.where(keep, ret, 0.0), jnp.where(keep, length, 0))
        return new, ts._replace(info=info)


def for_training(env: Environment) -> Environment:
    """The wrappers Anakin applies: episode statistics inside, auto-reset outside."""
    return AutoReset(EpisodeStats(env))
