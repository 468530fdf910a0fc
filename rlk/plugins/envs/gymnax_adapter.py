"""gymnax environments (every one in ``catalogue.GYMNAX_PARAMS``) as rlk ``Environment``s.

gymnax's ``step`` auto-resets; rlk's ``AutoReset`` wrapper does that, so the adapter calls the
no-reset ``step_env`` with the env's ``default_params``, the fields the run's config sets replaced
(``-o env.max_steps_in_episode=200``). The mapping to ``TimeStep`` is:

- ``observation``: gymnax's observation as float32; a ``Discrete(n)`` observation (FrozenLake's
  cell index) one-hot, ``[n]``.
- ``reward``: gymnax's reward as a float32 scalar.
- ``discount``: ``1 - terminated``; ``terminated`` is what ``step_env`` returns (gymnax 1.0: the
  natural end only: pole fallen, goal reached).
- ``last``: ``terminated | truncated``, with ``truncated = env.is_truncated(state, params)``
  (``state.time >= params.max_steps_in_episode``, gymnax's time limit); truncation keeps discount 1.
- ``legal_action_mask``, ``current_player``: None (single-agent); ``info``: ``{}``.

Actions: ``Discrete(n)`` becomes ``DiscreteSpec(n)``, a ``Box`` becomes ``BoxSpec(shape, low, high)``.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import BaseModel

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


def observation_spec(space: Any) -> ArraySpec:
    """A gymnax observation space as an rlk spec: its shape, or ``[n]`` for a one-hot ``Discrete(n)``."""
    shape = (int(space.n),) if hasattr(space, "n") else tuple(space.shape)
    return ArraySpec(shape=shape, dtype="float32")


def with_params(default: Any, overrides: dict[str, Any]) -> Any:
    """gymnax's ``default_params`` with ``overrides`` replacing fields (tuples as arrays of the default's dtype)."""
    values = {
        k: jnp.asarray(v, jnp.asarray(getattr(default, k)).dtype) if isinstance(v, (tuple, list)) else v
        for k, v in overrides.items()
    }
    return default.replace(**values)


def strong_dtypes(tree: Any) -> Any:
    """Every leaf as a non-weakly-typed array (gymnax resets put Python ints such as ``time=0``
    in the state), so ``lax.scan`` carries keep one type across steps."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


class GymnaxEnv(Environment):
    """One unbatched gymnax environment without auto-reset (see the module docstring)."""

    def __init__(self, env_id: str, params: Optional[dict[str, Any]] = None):
        import gymnax

        self.env_id = env_id
        self._env, default = gymnax.make(env_id)
        self._params = with_params(default, params or {})
        obs_space = self._env.observation_space(self._params)
        self._one_hot = int(obs_space.n) if hasattr(obs_space, "n") else None
        self._spec = EnvSpec(
            name=env_id,
            observation=observation_spec(obs_space),
            action=action_spec(self._env.action_space(self._params)),
            max_episode_steps=int(self._params.max_steps_in_episode),
        )

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    def _observation(self, obs: jax.Array) -> jax.Array:
        if self._one_hot is not None:
            return jax.nn.one_hot(obs, self._one_hot, dtype=jnp.float32)
        return jnp.asarray(obs, jnp.float32)

    def reset(self, key: jax.Array) -> tuple[Any, TimeStep]:
        """``env.reset_env(key, params)``; reward 0, discount 1, ``last`` False."""
        obs, state = self._env.reset_env(key, self._params)
        ts = TimeStep(self._observation(obs), jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False))
        return strong_dtypes(state), ts

    def step(self, state: Any, action: jax.Array, key: jax.Array) -> tuple[Any, TimeStep]:
        """``env.step_env`` (no auto-reset); truncation from gymnax's ``is_truncated``."""
        obs, state, reward, terminated, _ = self._env.step_env(key, state, action, self._params)
        terminated = jnp.asarray(terminated, jnp.bool_)
        truncated = jnp.asarray(self._env.is_truncated(state, self._params), jnp.bool_)
        ts = TimeStep(
            observation=self._observation(obs),
            reward=jnp.asarray(reward, jnp.float32).reshape(()),
            discount=jnp.where(terminated, 0.0, 1.0).astype(jnp.float32),
            last=terminated | truncated,
            info={},
        )
        return strong_dtypes(state), ts


def make_gymnax(env_id: str, config: Optional[BaseModel] = None) -> Environment:
    """Builds gymnax's ``env_id`` with the ``EnvParams`` fields of ``config`` (``catalogue.gymnax_config``;
    None: gymnax's defaults)."""
    return GymnaxEnv(env_id, config.model_dump() if config is not None else None)
