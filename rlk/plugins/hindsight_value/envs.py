"""``himo-reveal``: a task whose future holds value-relevant information the present makes hard to compute
(the motivation of Guez et al. 2020, Sec. 1 and 4.1), as a decision.

At the first step the agent sees a context ``x ~ N(0, I_D)`` and picks door ``a`` of ``A``. Each door leads to
a room with features ``y_a = step(x W_a + b_a)`` (``F`` bits; ``W_a [D, F]``, ``b_a [F]`` ~ N(0, 1), fixed by
``task_seed``; ``step(u) = 1[u > 0]``). For ``length - 2`` corridor steps the observation shows ``x`` and the
door but not ``y``; at the last step it shows ``y_a`` and a noise cue ``c ~ N(0, cue_std^2)``, and the next
action (any) ends the episode with reward ``r = sum(x) sum(y_a) / sqrt(D) + c`` (the illustrative task's
reward, plus noise nobody can predict). The value of a corridor state is a product of ``sum(x)`` and a
discontinuous function of projections of ``x``: hard to fit from ``(x, a)``, easy given the revealed
``y``, which lies ``length - 2`` steps in the future (inside HiMo's window for ``k >= length - 2``).

Observation ``[D + A + F + 1 + length]``: ``x``, the door (one-hot, zero before the choice), ``y`` and
``c`` (zero until revealed), the step (one-hot).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.interfaces import Environment
from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, TimeStep
from rlk.plugins.hindsight_value.config import DelayedRevealConfig


class RevealState(NamedTuple):
    x: jax.Array      # [D] context
    door: jax.Array   # [] int32, -1 before the choice
    t: jax.Array      # [] int32 step within the episode
    cue: jax.Array    # [] the noise cue, drawn at reset


def door_tables(config: DelayedRevealConfig) -> tuple[np.ndarray, np.ndarray]:
    """``W [A, D, F]`` and ``b [A, F]``, fixed by ``task_seed``."""
    c = config
    rng = np.random.default_rng(c.task_seed)
    w = rng.normal(size=(c.doors, c.context_dims, c.feature_dims)).astype(np.float32)
    return w, rng.normal(size=(c.doors, c.feature_dims)).astype(np.float32)


class DelayedReveal(Environment):
    """Pick a door on a context; its hard-to-compute value shows ``length - 2`` steps later."""

    def __init__(self, config: DelayedRevealConfig | None = None):
        self.config = config or DelayedRevealConfig()
        w, b = door_tables(self.config)
        self.w, self.b = jnp.asarray(w), jnp.asarray(b)

    @property
    def spec(self) -> EnvSpec:
        c = self.config
        size = c.context_dims + c.doors + c.feature_dims + 1 + c.length
        return EnvSpec(name="himo-reveal", observation=ArraySpec(shape=(size,), dtype="float32"),
                       action=DiscreteSpec(num_values=c.doors), max_episode_steps=c.length)

    def features(self, x: jax.Array) -> jax.Array:
        """``y [A, F]``: every door's room features for context ``x [D]``."""
        return (jnp.einsum("d,adf->af", x, self.w) + self.b > 0).astype(jnp.float32)

    def door_rewards(self, x: jax.Array) -> jax.Array:
        """``[A]`` the expected reward of each door for context ``x``: ``sum(x) sum(y_a) / sqrt(D)``."""
        return jnp.sum(x) * jnp.sum(self.features(x), -1) / math.sqrt(self.config.context_dims)

    def _observe(self, s: RevealState) -> jax.Array:
        c = self.config
        revealed = (s.t == c.length - 1) & (s.door >= 0)
        y = jnp.where(revealed, self.features(s.x)[jnp.maximum(s.door, 0)], 0.0)
        door = jnp.where(s.door >= 0, jax.nn.one_hot(s.door, c.doors), 0.0)
        return jnp.concatenate([s.x, door, y, jnp.where(revealed, s.cue, 0.0)[None], jax.nn.one_hot(s.t, c.length)])

    def reset(self, key: jax.Array) -> tuple[RevealState, TimeStep]:
        c = self.config
        kx, kc = jax.random.split(key)
        s = RevealState(jax.random.normal(kx, (c.context_dims,)), jnp.int32(-1), jnp.int32(0),
                        c.cue_std * jax.random.normal(kc))
        return s, TimeStep(self._observe(s), jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False))

    def step(self, state: RevealState, action: jax.Array, key: jax.Array) -> tuple[RevealState, TimeStep]:
        del key
        c = self.config
        door = jnp.where(state.t == 0, action.astype(jnp.int32), state.door)
        done = state.t == c.length - 1
        reward = jnp.where(done, self.door_rewards(state.x)[door] + state.cue, 0.0).astype(jnp.float32)
        s = RevealState(state.x, door, jnp.minimum(state.t + 1, c.length - 1), state.cue)
        return s, TimeStep(self._observe(s), reward, jnp.where(done, 0.0, 1.0).astype(jnp.float32), done)
