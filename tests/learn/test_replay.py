"""SequenceReplay: the item layout, the replay count, add/sample/join, and the per-replica leaves."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, TimeStep, Trajectory
from rlk.learn.replay import Sequences, join, make_sequence_replay, num_replayed, replica_local, sequences


@pytest.mark.parametrize("n, f, want", [(64, 0.5, 64), (64, 0.0, 0), (16, 0.8, 64), (10, 0.25, 3)])
def test_num_replayed_makes_the_fraction(n, f, want):
    assert num_replayed(n, f) == want
    if want:
        assert abs(want / (n + want) - f) <= 0.5 / (n + want) + 1e-9


def _spec():
    return EnvSpec(name="toy", observation=ArraySpec(shape=(3,)),
                   action=DiscreteSpec(num_values=2))


def _traj(T, B, start):
    obs = start + jnp.arange((T + 1) * B * 3, dtype=jnp.float32).reshape(T + 1, B, 3)
    ts = TimeStep(obs, jnp.ones((T + 1, B)), jnp.ones((T + 1, B)), jnp.zeros((T + 1, B), bool), None,
                  info={"episode_return": jnp.zeros((T + 1, B))})
    return Trajectory(ts, jnp.ones((T, B), jnp.int32), {"log_prob": jnp.full((T, B), -0.5)})


def test_add_and_join_returns_online_then_replayed_sequences():
    T, B = 4, 2
    replay = make_sequence_replay(_spec(), T, B, replay_fraction=0.5, capacity=16)
    assert replay.num_replay == 2
    state = replay.init()
    online = sequences(_traj(T, B, 0.0))
    state, batch = replay.add_and_join(state, online, jax.random.key(0))
    assert batch.timestep.observation.shape == (T + 1, 2 * B, 3) and batch.action.shape == (T, 2 * B)
    np.testing.assert_array_equal(batch.timestep.observation[:, :B], online.timestep.observation)
    # the buffer holds only the online sequences so far: every replayed one is one of them
    online_seqs = {tuple(np.asarray(online.timestep.observation[:, b]).ravel()) for b in range(B)}
    for b in range(B, 2 * B):
        assert tuple(np.asarray(batch.timestep.observation[:, b]).ravel()) in online_seqs


def test_draws_and_no_replay():
    T, B = 3, 4
    replay = make_sequence_replay(_spec(), T, B, replay_fraction=0.5, capacity=16, draws=3)
    state = replay.add(replay.init(), sequences(_traj(T, B, 0.0)))
    assert replay.sample(state, jax.random.key(1)).action.shape == (T, 3 * 4)
    none = make_sequence_replay(_spec(), T, B, replay_fraction=0.0, capacity=16)
    online = sequences(_traj(T, B, 0.0))
    _, batch = none.add_and_join(none.init(), online, jax.random.key(0))
    assert batch.action.shape == (T, B)


def test_extras_of_the_agents_choice_are_kept():
    """MuZero keeps its search policy [T, N, A] instead of the behaviour log-probability."""
    T, B, A = 3, 2, 2
    traj = _traj(T, B, 0.0)
    traj = traj._replace(extras={"search_policy": jnp.full((T, B, A), 0.5), "log_prob": traj.extras["log_prob"]})
    replay = make_sequence_replay(_spec(), T, B, replay_fraction=0.5, capacity=8, extras={"search_policy": ((A,), jnp.float32)})
    online = sequences(traj, ("search_policy",))
    assert set(online.extras) == {"search_policy"}
    state, batch = replay.add_and_join(replay.init(), online, jax.random.key(0))
    assert batch.extras["search_policy"].shape == (T, 2 * B, A)
    np.testing.assert_array_equal(batch.extras["search_policy"], 0.5)


def test_join_concatenates_on_the_batch_axis():
    a, b = sequences(_traj(2, 1, 0.0)), sequences(_traj(2, 3, 100.0))
    j = join(a, b)
    assert j.timestep.observation.shape == (3, 4, 3)
    np.testing.assert_array_equal(j.timestep.observation[:, 1:], b.timestep.observation)


def test_replica_local_marks_only_the_items():
    from typing import Any, NamedTuple

    class State(NamedTuple):
        params: Any
        replay: Any

    replay = make_sequence_replay(_spec(), 2, 2, replay_fraction=0.5, capacity=8)
    axes = replica_local(State({"w": jnp.zeros(2)}, replay.init()))
    assert axes.params == {"w": None}
    assert set(jax.tree.leaves(axes.replay.experience)) == {1}
    assert axes.replay.current_index is None
    assert isinstance(axes.replay.experience, Sequences)
