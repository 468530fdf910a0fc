"""A 1-D chain, the smallest useful JAX environment on rlk's ``Environment`` contract.

States ``0 .. length - 1``; an episode starts at 0. Action 0 moves left, action 1 moves right
(walls at both ends). Reaching ``length - 1`` gives reward 1 and terminates the episode
(``discount`` 0); otherwise the episode is truncated after ``max_steps`` steps (``discount``
stays 1). ``last`` is True on either. The observation is the one-hot position.

A uniformly random policy reaches the end within 20 steps only part of the time; the optimal
policy (always right) gets return 1 in ``length - 1`` steps.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from pydantic import Field

from rlk.core.config import PluginConfig
from rlk.core.interfaces import Environment
from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, TimeStep


class ChainConfig(PluginConfig):
    """Options of ``example-chain`` (``rlk show-config --env example-chain``; ``-o env.length=8``)."""

    length: int = Field(5, ge=2, description="number of states; the right end is the goal")
    max_steps: int = Field(20, ge=1, description="steps after which an episode is truncated")


class ChainState(NamedTuple):
    position: jax.Array  # [] int32, in [0, length)
    t: jax.Array  # [] int32, steps taken in this episode


class Chain(Environment):
    """One unbatched chain; ``reset``/``step`` are pure and jit/vmap-compatible."""

    def __init__(self, config: ChainConfig | None = None):
        self.config = config or ChainConfig()

    @property
    def spec(self) -> EnvSpec:
        c = self.config
        return EnvSpec(
            name="example-chain",
            observation=ArraySpec(shape=(c.length,), dtype="float32"),
            action=DiscreteSpec(num_values=2),
            max_episode_steps=c.max_steps,
        )

    def _observe(self, state: ChainState) -> jax.Array:
        return jax.nn.one_hot(state.position, self.config.length, dtype=jnp.float32)

    def reset(self, key: jax.Array) -> tuple[ChainState, TimeStep]:
        del key  # deterministic start
        state = ChainState(position=jnp.int32(0), t=jnp.int32(0))
        return state, TimeStep(self._observe(state), jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False))

    def step(self, state: ChainState, action: jax.Array, key: jax.Array) -> tuple[ChainState, TimeStep]:
        del key  # deterministic dynamics
        c = self.config
        move = 2 * action.astype(jnp.int32) - 1  # 0 -> -1 (left), 1 -> +1 (right)
        state = ChainState(jnp.clip(state.position + move, 0, c.length - 1), state.t + 1)
        terminated = state.position == c.length - 1
        truncated = jnp.logical_and(state.t >= c.max_steps, jnp.logical_not(terminated))
        ts = TimeStep(
            observation=self._observe(state),
            reward=terminated.astype(jnp.float32),
            discount=jnp.where(terminated, 0.0, 1.0).astype(jnp.float32),  # truncation keeps 1
            last=jnp.logical_or(terminated, truncated),
        )
        return state, ts
