"""Muesli's learner state and its replay: trajectories as buffer items, and the batch of one update
(the online sequences joined with sequences sampled from the buffer). Shared by the categorical
(``agent.py``) and Gaussian (``continuous.py``) variants."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rlk.core.types import TimeStep, Trajectory


class MuesliState(NamedTuple):
    """The learner state of both Muesli variants (categorical and Gaussian policies)."""

    params: Any
    target_params: Any
    opt_state: Any
    replay: Any
    adv_var: jax.Array  # debiased EMA of E[adv^2]: numerator and normaliser
    adv_norm: jax.Array
    updates: jax.Array


def replay_item(traj: Trajectory) -> dict:
    """A trajectory as buffer items ``[B, T+1, ...]`` (batch-major), without episode statistics and
    the player to move (two-player games keep their legal-action masks; values need only alternation)."""
    ts = traj.timestep._replace(info={}, current_player=None)
    swap = lambda x: jnp.swapaxes(x, 0, 1)
    return {"timestep": jax.tree.map(swap, ts), "action": swap(traj.action),
            "log_prob": swap(traj.extras["log_prob"])}


def _from_items(items: dict) -> tuple[TimeStep, jax.Array, jax.Array]:
    swap = lambda x: jnp.swapaxes(x, 0, 1)
    return jax.tree.map(swap, items["timestep"]), swap(items["action"]), swap(items["log_prob"])


def online_and_replayed(buffer: Any, replay: Any, item: dict, n_replay: int, key: jax.Array):
    """Adds the online sequences ``item`` (``replay_item``) to the buffer; returns the new buffer
    state and the batch of one update, time-major: the online sequences followed (on the batch axis)
    by ``n_replay`` sequences sampled from the buffer (timesteps, actions, behaviour log-probs)."""
    replay = buffer.add(replay, item)
    ts, action, log_prob = _from_items(item)
    if n_replay > 0:
        r_ts, r_action, r_log_prob = _from_items(buffer.sample(replay, key).experience)
        cat = lambda a, b: jnp.concatenate([a, b], axis=1)
        ts = jax.tree.map(cat, ts, r_ts)
        action, log_prob = cat(action, r_action), cat(log_prob, r_log_prob)
    return replay, ts, action, log_prob
