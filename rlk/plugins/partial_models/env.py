"""FuzzyBear (Rezende et al. 2020, "Causally Correct Partial Models for RL", Section 3, Fig. 1), in JAX.

An episode has at most two steps and two actions per step. At home (step 0) the agent chooses to
stay (action 0: reward ``stay_reward``, episode ends) or to go to the forest (action 1: reward 0).
A bear was drawn at reset, hidden until the forest: a grizzly with probability ``p_grizzly``,
otherwise a teddy. In the forest (step 1) the agent hugs (action 0: ``hug_teddy_reward`` if the bear is
a teddy, ``hug_grizzly_reward`` if it is a grizzly) or runs away (action 1: ``run_reward``); the
episode ends. The observation is ``[at_home, in_forest, teddy, grizzly]`` (the bear is visible only
in the forest).

Values under the defaults (the paper's rewards, see ``config.py``): stay 0.6; forest then hug
0.5 * 1 + 0.5 * (-0.5) = 0.25; forest then run 0; forest then hug the teddy and run from the grizzly 0.5.
Staying home is optimal, even for an agent that will see the bear (0.6 > 0.5).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlk.core.interfaces import Environment
from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, TimeStep
from rlk.plugins.partial_models.config import FuzzyBearConfig

HOME, FOREST, DONE = 0, 1, 2
TEDDY, GRIZZLY = 0, 1
STAY, GO_FOREST = 0, 1
HUG, RUN = 0, 1


class FuzzyBearState(NamedTuple):
    position: jax.Array  # [] int32: HOME, FOREST or DONE
    bear: jax.Array  # [] int32: TEDDY or GRIZZLY, drawn at reset


class FuzzyBear(Environment):
    """FuzzyBear: stay home (safe) or meet a hidden teddy/grizzly in the forest and hug or run."""

    def __init__(self, config: FuzzyBearConfig | None = None):
        self.config = config or FuzzyBearConfig()

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(name="fuzzy-bear", observation=ArraySpec(shape=(4,), dtype="float32"),
                       action=DiscreteSpec(num_values=2), max_episode_steps=2)

    @staticmethod
    def observe(state: FuzzyBearState) -> jax.Array:
        """``[at_home, in_forest, teddy, grizzly]``; the bear shows only in the forest."""
        in_forest = state.position == FOREST
        return jnp.stack([state.position == HOME, in_forest, in_forest & (state.bear == TEDDY),
                          in_forest & (state.bear == GRIZZLY)]).astype(jnp.float32)

    def reset(self, key: jax.Array) -> tuple[FuzzyBearState, TimeStep]:
        bear = jax.random.bernoulli(key, self.config.p_grizzly).astype(jnp.int32)
        state = FuzzyBearState(jnp.int32(HOME), bear)
        return state, TimeStep(self.observe(state), jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False))

    def step(self, state: FuzzyBearState, action: jax.Array, key: jax.Array) -> tuple[FuzzyBearState, TimeStep]:
        del key
        c = self.config
        action = action.astype(jnp.int32)
        at_home = state.position == HOME
        hug_reward = jnp.where(state.bear == TEDDY, c.hug_teddy_reward, c.hug_grizzly_reward)
        forest_reward = jnp.where(action == HUG, hug_reward, c.run_reward)
        reward = jnp.where(at_home, jnp.where(action == STAY, c.stay_reward, 0.0), forest_reward)
        reward = jnp.where(state.position == DONE, 0.0, reward)  # stepping past the end: nothing happens
        position = jnp.where(at_home & (action == GO_FOREST), FOREST, DONE).astype(jnp.int32)
        done = position == DONE
        state = FuzzyBearState(position, state.bear)
        ts = TimeStep(self.observe(state), reward.astype(jnp.float32), jnp.where(done, 0.0, 1.0).astype(jnp.float32), done)
        return state, ts


def decision_observations() -> jax.Array:
    """``[3, 4]``: every observation an agent acts on: home, then the forest with a teddy or a grizzly."""
    states = [(HOME, TEDDY), (FOREST, TEDDY), (FOREST, GRIZZLY)]
    return jnp.stack([FuzzyBear.observe(FuzzyBearState(jnp.int32(p), jnp.int32(b))) for p, b in states])
