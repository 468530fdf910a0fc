"""gymnax classic-control environments (CartPole, Acrobot, MountainCar, Pendulum) as rlk ``Environment``s.

gymnax's ``step`` auto-resets; rlk's ``AutoReset`` wrapper does that, so the adapter calls the
no-reset ``step_env`` with gymnax's default parameters. The mapping to ``TimeStep`` is:

- ``observation``: gymnax's observation as float32.
- ``reward``: gymnax's reward as a float32 scalar.
- ``discount``: ``1 - terminated``; ``terminated`` is what ``step_env`` returns (gymnax 1.0: the
  natural end only: pole fallen, goal reached).
- ``last``: ``terminated | truncated``, with ``truncated = env.is_truncated(state, params)``
  (``state.time >= params.max_steps_in_episode``, gymnax's time limit); truncation keeps discount 1.
- ``legal_action_mask``, ``current_player``: None (single-agent); ``info``: ``{}``.

Actions: ``Discrete(n)`` becomes ``DiscreteSpec(n)``, a ``Box`` becomes ``BoxSpec(shape, low, high)``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.interfaces import Environment
from rlk.core.types import ActionSpec, ArraySpec, BoxSpec, DiscreteSpec, EnvSpec, TimeStep


def action_spec(space: Any) -> ActionSpec:
    """A gymnax action space as an rlk action spec (``Discrete`` or a uniform-bounds ``Box``)."""
    if hasattr(space, "n"):
        return DiscreteSpec(num_values=int(space.n))
    low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
    if low.size > 1 and not (np.all(low == low.flat[0]) and np.all(high == high.flat[0])):
        raise ValueError(f"BoxSpec needs the same bounds in every dimension, got {low} .. {high}")
    return BoxSpec(shape=tuple(space.shape), low=float(low.flat[0]), high=float(high.flat[0]))


def strong_dtypes(tree: Any) -> Any:
    """Every leaf as a non-weakly-typed array (gymnax resets put Python ints such as ``time=0``
    in the state), so ``lax.scan`` carries keep one type across steps."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


class GymnaxEnv(Environment):
    """One unbatched gymnax environment without auto-reset (see the module docstring)."""

    def __init__(self, env_id: str):
        import gymnax

        self.env_id = env_id
        self._env, self._params = gymnax.make(env_id)
        obs_space = self._env.observation_space(self._params)
        self._spec = EnvSpec(
            name=env_id,
            observation=ArraySpec(shape=tuple(obs_space.shape), dtype="float32"),
            action=action_spec(self._env.action_space(self._params)),
            max_episode_steps=int(self._params.max_steps_in_episode),
        )

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    def reset(self, key: jax.Array) -> tuple[Any, TimeStep]:
        """``env.reset_env(key, default_params)``; reward 0, discount 1, ``last`` False."""
        obs, state = self._env.reset_env(key, self._params)
        ts = TimeStep(jnp.asarray(obs, jnp.float32), jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False))
        return strong_dtypes(state), ts

    def step(self, state: Any, action: jax.Array, key: jax.Array) -> tuple[Any, TimeStep]:
        """``env.step_env`` (no auto-reset); truncation from gymnax's ``is_truncated``."""
        obs, state, reward, terminated, _ = self._env.step_env(key, state, action, self._params)
        terminated = jnp.asarray(terminated, jnp.bool_)
        truncated = jnp.asarray(self._env.is_truncated(state, self._params), jnp.bool_)
        ts = TimeStep(
            observation=jnp.asarray(obs, jnp.float32),
            reward=jnp.asarray(reward, jnp.float32).reshape(()),
            discount=jnp.where(terminated, 0.0, 1.0).astype(jnp.float32),
            last=terminated | truncated,
            info={},
        )
        return strong_dtypes(state), ts


def make_gymnax(env_id: str, config: Any = None) -> Environment:
    """Builds gymnax's ``env_id`` (``CartPole-v1``, ``Acrobot-v1``, ``MountainCar-v0``,
    ``Pendulum-v1``) with its default parameters. ``config`` is unused (the registry passes None)."""
    del config
    return GymnaxEnv(env_id)
