"""The types rlk passes around: specs (static, pydantic) and pytrees (dynamic, jax arrays).

Specs describe an environment once, outside ``jit``; ``TimeStep`` and ``Trajectory`` are the
arrays that flow through compiled code. Shapes below use ``B`` for the batch of environments and
``T`` for the unroll length.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, NamedTuple, Optional, Union

import jax
from pydantic import BaseModel, ConfigDict, Field


class ArraySpec(BaseModel):
    """A fixed-shape array: an observation, or a continuous action."""

    model_config = ConfigDict(frozen=True)
    shape: tuple[int, ...]
    dtype: str = "float32"


class DiscreteSpec(BaseModel):
    """A discrete action in ``[0, num_values)``."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["discrete"] = "discrete"
    num_values: int = Field(gt=0)


class BoxSpec(BaseModel):
    """A continuous action in ``[low, high]^shape``."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["box"] = "box"
    shape: tuple[int, ...]
    low: float = -1.0
    high: float = 1.0


ActionSpec = Union[DiscreteSpec, BoxSpec]


class Simulator(NamedTuple):
    """An environment's true dynamics as pure functions, for an agent that searches over the true
    environment instead of a learned model (MuZero's ``simulator='env'``; Hamrick et al. 2021, section 4).

    The agent sees ``TimeStep``s, not environment states, so the simulator says how to recover the
    states behind a batch ``[B]`` of observations: from the observations themselves, or from a copy
    (``tracked``) the agent keeps in its actor state and advances with its own actions.

    Attributes:
      step: ``(state, action, key) -> (state, TimeStep)``: the unwrapped environment's ``step``, unbatched.
      initial: ``(B) -> tracked``: what an actor state starts with.
      root: ``(tracked, timestep [B]) -> states [B]``: the states behind ``timestep.observation``.
      advance: ``(states [B], action [B]) -> tracked``: the copy after the agent's actions (a fresh
        episode where one ended, as auto-reset does).
      observe: ``(state) -> observation``: what the agent would see in ``state``, unbatched.
      potential: optional ``(observation) -> []``: a heuristic value in ``[-1, 1]`` of a position for the
        player to move (Go: the area-score margin), for potential-based reward shaping; None: none.
    """

    step: Callable[..., Any]
    initial: Callable[..., Any]
    root: Callable[..., Any]
    advance: Callable[..., Any]
    observe: Callable[..., Any]
    potential: Optional[Callable[..., Any]] = None


class EnvSpec(BaseModel):
    """What an agent needs to know about an environment to build its networks.

    Attributes:
      observation: shape and dtype of one (unbatched) observation.
      action: the action space.
      num_players: 1 for single-agent environments, 2 for two-player games (Go).
      has_legal_action_mask: whether ``TimeStep.legal_action_mask`` is provided.
      max_episode_steps: an upper bound on an episode's length (used by evaluation loops).
      simulator: the environment's true dynamics as pure functions (``Simulator``), declared by an
        environment that can be stepped from a saved state; None for the others. Not serialised.
    """

    model_config = ConfigDict(frozen=True)
    name: str
    observation: ArraySpec
    action: ActionSpec = Field(discriminator="kind")
    num_players: int = 1
    has_legal_action_mask: bool = False
    max_episode_steps: int = 1000
    simulator: Optional[Simulator] = Field(None, exclude=True, repr=False)


class TimeStep(NamedTuple):
    """What an environment returns after ``reset`` or ``step``; batched as ``[B, ...]`` by Anakin.

    The convention is gymnax's auto-reset one: after the last step of an episode, ``observation``
    is already the first observation of the next episode, while ``reward``, ``discount`` and
    ``last`` still describe the transition that ended the old one.

    Attributes:
      observation: ``[...obs_shape]`` the observation to act on.
      reward: ``[]`` reward of the transition into this step (0 after reset).
      discount: ``[]`` 0 where the episode terminated, 1 otherwise (a time-limit truncation keeps 1).
      last: ``[]`` bool, the transition into this step ended the episode (terminated or truncated).
      legal_action_mask: ``[num_actions]`` bool, or None for environments without one.
      current_player: ``[]`` int32 player to move (two-player games), or None.
      info: dict of ``[]`` arrays; the episode-statistics wrapper puts ``episode_return`` and
        ``episode_length`` of the episode that ended here (0 where ``last`` is False).
    """

    observation: jax.Array
    reward: jax.Array
    discount: jax.Array
    last: jax.Array
    legal_action_mask: Optional[jax.Array] = None
    current_player: Optional[jax.Array] = None
    info: dict[str, jax.Array] = {}


class Trajectory(NamedTuple):
    """An unroll of ``T`` steps collected by an actor, time-major.

    Attributes:
      timestep: ``TimeStep`` with leaves ``[T + 1, B, ...]``: ``timestep[t]`` is what the agent acted
        on at step ``t``; ``timestep[t + 1]`` holds the reward, discount and ``last`` flag of that
        action, and the final observation to bootstrap from.
      action: ``[T, B, ...]`` the actions taken.
      extras: dict of ``[T, B, ...]`` arrays the agent's ``act`` returned (log-probabilities,
        values, ...), used by off-policy corrections.
    """

    timestep: TimeStep
    action: jax.Array
    extras: dict[str, Any]
