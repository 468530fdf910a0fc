"""A JAX environment seen as a host environment, so Sebulba (the asynchronous regime) can run it.

The batch is stepped by one jitted, vmapped function on a chosen device; TimeSteps come back as
numpy. This is how ``rlk train --arch sebulba --env catch`` decouples actors from the learner.
``snapshot()`` / ``restore()`` give the batch's whole state (Sebulba checkpoints it: exact resume).
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import numpy as np

from rlk.core.interfaces import Environment, HostEnvironment, HostEnvironmentFactory
from rlk.core.types import EnvSpec, TimeStep
from rlk.core.wrappers import for_training


class JaxHostEnvironment(HostEnvironment):
    def __init__(self, env: Environment, num_envs: int, seed: int, device: Optional[Any] = None):
        self.env = for_training(env)
        self.num_envs = num_envs
        self.device = device or jax.local_devices()[0]  # many hosts: this process's first device
        self._key = jax.device_put(jax.random.PRNGKey(seed), self.device)
        self._reset = jax.jit(lambda k: jax.vmap(self.env.reset)(jax.random.split(k, num_envs)))
        self._step = jax.jit(lambda s, a, k: jax.vmap(self.env.step)(s, a, jax.random.split(k, num_envs)))
        self._state = None

    @property
    def spec(self) -> EnvSpec:
        return self.env.spec

    def _split(self):
        self._key, sub = jax.random.split(self._key)
        return sub

    def reset(self, seed: int) -> TimeStep:
        self._key = jax.device_put(jax.random.PRNGKey(seed), self.device)
        self._state, ts = self._reset(self._split())
        return jax.device_get(ts)

    def step(self, action: np.ndarray) -> TimeStep:
        action = jax.device_put(np.asarray(action), self.device)
        self._state, ts = self._step(self._state, action, self._split())
        return jax.device_get(ts)

    def snapshot(self) -> dict[str, jax.Array]:
        """The batch's whole state (environment states and key) by field, as in ``snapshot_template``."""
        return {"key": self._key, **{f"state{i}": x for i, x in enumerate(jax.tree.leaves(self._state))}}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continues from a ``snapshot()`` (after ``reset``, which gives the state its structure)."""
        leaves = [snapshot[f"state{i}"] for i in range(len(jax.tree.leaves(self._state)))]
        self._state = jax.device_put(jax.tree.unflatten(jax.tree.structure(self._state), leaves), self.device)
        self._key = jax.device_put(snapshot["key"], self.device)


class JaxHostFactory(HostEnvironmentFactory):
    def __init__(self, env: Environment, device: Optional[Any] = None):
        self.env, self.device = env, device

    @property
    def spec(self) -> EnvSpec:
        return self.env.spec

    def make(self, num_envs: int, seed: int) -> HostEnvironment:
        return JaxHostEnvironment(self.env, num_envs, seed, self.device)

    def snapshot_template(self, num_envs: int) -> dict[str, np.ndarray]:
        """Zeros shaped like a batch's ``snapshot()`` (Sebulba checkpoints the actors' batches with it)."""
        env = for_training(self.env)
        key = jax.random.PRNGKey(0)
        states = jax.eval_shape(lambda k: jax.vmap(env.reset)(jax.random.split(k, num_envs))[0], key)
        return {"key": np.zeros(key.shape, key.dtype),
                **{f"state{i}": np.zeros(x.shape, x.dtype) for i, x in enumerate(jax.tree.leaves(states))}}
