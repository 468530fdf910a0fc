"""Sequence replay on flashbax, for agents that keep their replay inside the learner state (Muesli, MuZero).

An update joins the online batch of sequences with sequences sampled from a FIFO buffer of past ones
(Muesli, Hessel et al. 2021, section 4.3 and Table 5: "replay proportion"; MuZero Reanalyse's replay).
``SequenceReplay`` holds what every such agent wrote for itself before: the item layout, the number of
replayed sequences for a replay fraction, the example item that sizes the buffer, which leaves are
per replica, and the join of online and replayed data.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Optional, Sequence

import flashbax as fbx
import jax
import jax.numpy as jnp

from rlk.core.types import EnvSpec, TimeStep, Trajectory


class Sequences(NamedTuple):
    """``N`` sequences of ``T`` steps, time-major.

    Attributes:
      timestep: ``TimeStep`` with leaves ``[T+1, N, ...]`` (no ``info``, no ``current_player``).
      action: ``[T, N, ...]`` actions taken.
      extras: per-step data the agent recorded when acting, by name, ``[T, N, ...]`` each (Muesli: the
        behaviour ``log_prob [T, N]``; MuZero: the search's ``search_policy [T, N, A]``).
    """

    timestep: TimeStep
    action: jax.Array
    extras: dict[str, jax.Array]


# An agent's replayed extras: name -> (shape of one step's entry, dtype).
ExtrasSpec = Mapping[str, tuple[tuple[int, ...], Any]]
LOG_PROB: ExtrasSpec = {"log_prob": ((), jnp.float32)}


def num_replayed(num_online: int, replay_fraction: float) -> int:
    """Replayed sequences per batch so that they are ``replay_fraction`` of it: ``round(n f / (1 - f))``."""
    return int(round(num_online * replay_fraction / (1.0 - replay_fraction)))


def sequences(traj: Trajectory, extras: Sequence[str] = ("log_prob",)) -> Sequences:
    """A trajectory ``[T+1, B]`` as ``Sequences`` with the ``extras`` of ``traj.extras`` named (episode
    statistics and the player to move dropped)."""
    return Sequences(traj.timestep._replace(info={}, current_player=None), traj.action,
                     {name: traj.extras[name] for name in extras})


def _swap(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)


def _example(spec: EnvSpec, unroll_length: int, action_shape: tuple, action_dtype, extras: ExtrasSpec) -> Sequences:
    """One buffer item (batch-major, without its batch axis): zeros shaped like a sequence of ``spec``."""
    T = unroll_length
    obs = jnp.zeros((T + 1,) + tuple(spec.observation.shape), spec.observation.dtype)
    mask = jnp.zeros((T + 1, spec.action.num_values), jnp.bool_) if spec.has_legal_action_mask else None
    ts = TimeStep(obs, jnp.zeros((T + 1,), jnp.float32), jnp.zeros((T + 1,), jnp.float32), jnp.zeros((T + 1,), jnp.bool_), mask)
    return Sequences(ts, jnp.zeros((T,) + action_shape, action_dtype),
                     {name: jnp.zeros((T,) + tuple(shape), dtype) for name, (shape, dtype) in extras.items()})


class SequenceReplay(NamedTuple):
    """A FIFO buffer of sequences and how many to replay per update.

    ``num_replay`` sequences per draw, ``draws`` independent draws per update (MuZero samples afresh for
    each of its gradient steps); ``sample`` returns ``[T, draws * num_replay]`` time-major.
    """

    buffer: Any
    num_replay: int
    draws: int
    example: Sequences

    def init(self) -> Any:
        return self.buffer.init(self.example)

    def add(self, state: Any, online: Sequences) -> Any:
        """Adds the online sequences (time-major ``[T+1, N]``) to the buffer."""
        return self.buffer.add(state, _swap(online))

    def sample(self, state: Any, key: jax.Array) -> Sequences:
        """``draws * num_replay`` sequences from the buffer, time-major (draw-major on the batch axis)."""
        return _swap(self.buffer.sample(state, key).experience)

    def add_and_join(self, state: Any, online: Sequences, key: jax.Array) -> tuple[Any, Sequences]:
        """Adds ``online``; returns the new state and ``online`` followed on the batch axis by one draw of
        replayed sequences (``[T(+1), N + num_replay]``); no replay when ``num_replay`` is 0."""
        state = self.add(state, online)
        if self.num_replay == 0:
            return state, online
        return state, join(online, self.sample(state, key))


def join(online: Sequences, replayed: Sequences) -> Sequences:
    """Online and replayed sequences side by side on the batch axis (axis 1)."""
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis=1), online, replayed)


def make_sequence_replay(spec: EnvSpec, unroll_length: int, num_online: int, replay_fraction: float, capacity: int,
                         draws: int = 1, extras: Optional[ExtrasSpec] = None) -> SequenceReplay:
    """A buffer of ``capacity`` sequences of ``spec``'s steps, replaying ``replay_fraction`` of each batch of
    ``num_online`` online sequences (``draws`` draws per update); ``extras``: the per-step extras kept with
    them (default: the behaviour ``log_prob``)."""
    n = num_replayed(num_online, replay_fraction)
    buffer = fbx.make_item_buffer(max_length=capacity, min_length=1, sample_batch_size=max(n * draws, 1),
                                  add_sequences=True, add_batches=False)
    if spec.action.kind == "discrete":
        action_shape, action_dtype = (), jnp.int32
    else:
        action_shape, action_dtype = tuple(spec.action.shape), jnp.float32
    return SequenceReplay(buffer, n, draws, _example(spec, unroll_length, action_shape, action_dtype,
                                                     LOG_PROB if extras is None else extras))


def replica_local(state: Any, field: str = "replay") -> Any:
    """For an agent's ``Agent.replica_local``: the learner state's replay items are per replica (axis 1 of
    flashbax's experience), everything else replicated. ``state`` is a NamedTuple with a ``field`` buffer."""
    axes = jax.tree.map(lambda _: None, state)
    buffer = getattr(axes, field)
    experience = jax.tree.map(lambda _: 1, getattr(state, field).experience)
    return axes._replace(**{field: buffer.replace(experience=experience)})
