"""Interfaces every plugin implements. Shapes, not code: see ARCHITECTURE.md ("Contracts").

Agents follow optax's shape: a NamedTuple of pure functions with the state passed in and out,
built by a factory ``make(config, spec, axis_name)``. Environments are small classes with pure
``reset``/``step`` methods. Nothing here places devices: backends and architectures do.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Iterator, Literal, NamedTuple, Optional, Protocol

import jax
import numpy as np

from rlk.core.errors import RlkError
from rlk.core.types import EnvSpec, TimeStep, Trajectory

PRNGKey = jax.Array
Params = Any
Metrics = dict[str, jax.Array]


class Environment(abc.ABC):
    """A JAX-native environment (for Anakin): one unbatched instance, pure functions.

    ``reset`` and ``step`` are traced under ``jit``/``vmap``; the state is any pytree.
    Auto-reset and episode statistics are added by wrappers (``rlk.core.wrappers``). An environment
    that can be stepped from a saved state may declare its dynamics in ``spec.simulator`` (a
    ``rlk.core.types.Simulator``), which agents that search the true environment (MuZero) use.
    """

    @property
    @abc.abstractmethod
    def spec(self) -> EnvSpec: ...

    @abc.abstractmethod
    def reset(self, key: PRNGKey) -> tuple[Any, TimeStep]: ...

    @abc.abstractmethod
    def step(self, state: Any, action: jax.Array, key: PRNGKey) -> tuple[Any, TimeStep]: ...

    def render(self, state: Any) -> Optional[jax.Array]:
        """One unbatched state as an RGB image ``uint8 [H, W, 3]`` (``rlk eval --video``); pure and
        jit-able. None (the default): this environment does not render."""
        return None


class HostEnvironment(abc.ABC):
    """A batch of ``num_envs`` Python/C++ environments (for Sebulba): numpy in, numpy ``TimeStep`` out.

    Same conventions as ``Environment`` after its wrappers: leaves are batched ``[num_envs, ...]``,
    episodes auto-reset in the same step (after ``last`` the observation is the new episode's first),
    and ``info`` carries ``episode_return`` / ``episode_length`` of the episodes that ended (0
    elsewhere). Rewards are the raw environment rewards (report them undistorted).
    """

    num_envs: int

    @property
    @abc.abstractmethod
    def spec(self) -> EnvSpec: ...

    @abc.abstractmethod
    def reset(self, seed: int) -> TimeStep: ...

    @abc.abstractmethod
    def step(self, action: np.ndarray) -> TimeStep: ...

    def close(self) -> None:  # pragma: no cover - optional
        pass


class HostEnvironmentFactory(abc.ABC):
    """What a host-environment plugin's factory returns: the spec, and batches of environments.

    Sebulba builds one batch per actor thread: ``make(num_envs, seed)``.
    """

    @property
    @abc.abstractmethod
    def spec(self) -> EnvSpec: ...

    @abc.abstractmethod
    def make(self, num_envs: int, seed: int) -> HostEnvironment: ...


class LearnerState(Protocol):
    """Whatever pytree an agent keeps; it must expose the acting parameters as ``params``."""

    params: Params


class Agent(NamedTuple):
    """An agent as pure functions, written for one device and one batch.

    Attributes:
      init: ``(key, ) -> LearnerState``; the spec was given to the factory.
      initial_actor_state: ``(batch_size) -> actor_state`` (recurrent state, or ``()``).
      act: ``(params, actor_state, timestep[B], key) -> (action[B], actor_state, extras[B])``.
      eval_act: as ``act`` but greedy (used by evaluation).
      update: ``(learner_state, trajectory[T+1, B], key) -> (learner_state, metrics)``; collective
        ops (gradient averaging) use the ``axis_name`` the factory was given, if any.
      num_envs: the global batch of environments the agent's hyperparameters assume.
      unroll_length: ``T``, the number of steps per trajectory.
      replica_local: optional ``(learner_state) -> pytree of Optional[int]``: for each leaf of the
        learner state, the axis along which it is split over replicas (a replay buffer's item
        axis: each device keeps its own data), or None where the leaf is replicated (the default).
      policy_network: optional ``(params) -> (description, network)``: the greedy policy of one seed's
        ``params`` as a standalone network (``rlk.nn.policy``), for ``rlk export``; None: not exportable.
    """

    init: Callable[[PRNGKey], Any]
    initial_actor_state: Callable[[int], Any]
    act: Callable[..., tuple[jax.Array, Any, dict]]
    eval_act: Callable[..., tuple[jax.Array, Any, dict]]
    update: Callable[[Any, Trajectory, PRNGKey], tuple[Any, Metrics]]
    num_envs: int
    unroll_length: int
    replica_local: Optional[Callable[[Any], Any]] = None
    policy_network: Optional[Callable[[Params], tuple[dict, Any]]] = None


class Loss(Protocol):
    """A named pure loss: ``(outputs, batch, config) -> (scalar, metrics)``."""

    def __call__(self, outputs: Any, batch: Any, config: Any) -> tuple[jax.Array, Metrics]: ...


class Model(NamedTuple):
    """A supervised or generative model (for the Trainer architecture), as pure functions.

    Written for one device and one batch, like an agent; the Trainer averages gradients over
    devices. Randomness comes per example, so a batch split over devices draws the same numbers as
    the whole batch on one device (and the data-parallel step equals the single-device step).

    Attributes:
      init: ``(key) -> params``, a pytree of arrays.
      loss: ``(params, batch, keys[B]) -> (scalar, metrics)``; ``batch`` is a dict of arrays with a
        leading batch axis ``[B, ...]``, ``keys`` one PRNG key per example; the scalar and the
        metrics are means over the batch (so averaging them over equal shards gives the global mean).
      evaluate: ``(params, batch, key) -> metrics``: evaluation metrics (scalars) on ``batch``, the
        whole evaluation split (or its first ``eval_examples``), with one key.
      sample: ``(params, batch, key) -> images [R, C, *example_shape]``: a grid of samples or
        reconstructions of ``batch``'s first examples (``rlk sample``).
    """

    init: Callable[[PRNGKey], Params]
    loss: Callable[[Params, Any, jax.Array], tuple[jax.Array, Metrics]]
    evaluate: Callable[[Params, Any, PRNGKey], Metrics]
    sample: Optional[Callable[[Params, Any, PRNGKey], jax.Array]] = None


class DatasetSpec(NamedTuple):
    """What a model needs to know about a dataset.

    Attributes:
      shape: the shape of one example's ``x`` (images: ``[H, W]`` or ``[H, W, C]``, values in [0, 1]).
      num_classes: number of labels ``y`` (``0`` when the dataset has none).
      sizes: examples per split, e.g. ``{"train": 1437, "test": 360}``.
    """

    shape: tuple[int, ...]
    num_classes: int
    sizes: dict[str, int]


class Dataset(abc.ABC):
    """A dataset shipped or generated offline; yields numpy batches (dicts ``{"x": [B, ...], "y": [B]}``).

    ``batches(split, batch_size, seed, start)`` is deterministic: the same arguments give the same
    batches, and ``start=n`` yields what the ``n``-th batch onwards would have been (exact resume).
    The training split is shuffled each epoch from ``seed``; ``arrays(split)`` is a whole split in
    a fixed order (for evaluation).
    """

    @property
    @abc.abstractmethod
    def spec(self) -> DatasetSpec: ...

    @abc.abstractmethod
    def batches(self, split: str, batch_size: int, seed: int, start: int = 0) -> Iterator[dict[str, np.ndarray]]: ...

    @abc.abstractmethod
    def arrays(self, split: str) -> dict[str, np.ndarray]: ...


class Backend(Protocol):
    """A platform: the devices a run uses and the mesh over them (see ``rlk.plugins.backends``)."""

    platform: str

    @property
    def devices(self) -> list[jax.Device]: ...

    def mesh(self) -> jax.sharding.Mesh: ...


class ProgramInfo(NamedTuple):
    """What the run loop knows of a program, fixed when the architecture builds it.

    Attributes:
      kind: ``"agent"`` (``RunConfig.steps`` counts env steps) or ``"model"`` (it counts updates).
      steps_per_call: ``RunConfig.steps`` units one compiled call advances every seed by.
      updates_per_call: learner updates per call (metrics.csv's ``step`` counts them).
      counters: the row counters beside ``step``, per call (``{"env_steps": n}``, ``{"examples": n}``).
      num_devices: the devices the program runs on (summary.json's ``devices``).
      first_columns: metrics.csv's leading columns, in order (the others follow sorted).
      unit: what a step is called in the progress bar and messages (``"env steps"``, ``"updates"``).
      tensorboard_axis: the row counter TensorBoard plots against (``"env_steps"``, ``"step"``).
      headline: the row value the progress bar shows (``"episode_return"``, ``"loss"``).
      max_rows_per_call: ``1``: ``compile``'s step is ``step(state)`` and makes one row (``steps_per_call``
        and ``updates_per_call`` are per row and per call); above: ``step(state, rows)`` makes ``rows``
        rows (1..max_rows_per_call) and its metrics' leaves are ``[S, max_rows_per_call, ...]``, row ``i``
        at ``[:, i]`` (``rlk.core.rows``).
    """

    kind: Literal["agent", "model"]
    steps_per_call: int
    updates_per_call: int
    counters: dict[str, int]
    num_devices: int
    first_columns: tuple[str, ...]
    unit: str
    tensorboard_axis: str
    headline: str
    max_rows_per_call: int = 1


class Progress(NamedTuple):
    """What the run loop hands ``Program.summary`` at the end of a run.

    Attributes:
      calls: compiled calls the final state has made in all (a resumed run's earlier ones included).
      timed_calls: the calls made (and timed) by this process.
      train_s: their time in seconds.
      last: the last metric row's values, ``[S]`` per column (a resumed finished run: read back from
        its metrics file).
    """

    calls: int
    timed_calls: int
    train_s: float
    last: dict[str, np.ndarray]


class Program(abc.ABC):
    """What an architecture builds for a run; ``rlk.core.run`` calls nothing else.

    The state is one pytree for all seeds (a leading seed axis), checkpointed as is. ``compile(state)``
    returns ``step(state) -> (state, metrics)``, which advances every seed by ``info.steps_per_call``;
    ``summarise(metrics)`` turns its metrics into per-seed row values ``{column: [S]}``.
    ``evaluate(state, episodes, seed)`` is what ``rlk eval`` prints (agents: greedy returns over
    ``episodes`` per seed; models: evaluation metrics); ``greedy=False``: the agents' training policy
    instead (programs that evaluate during training); ``summary(evaluation, progress)`` is what
    summary.json holds beyond the loop's own fields (timings, seeds, plugin names, devices).
    ``evaluates_during_training``: ``evaluate`` may run between calls (on a host copy of the state) and
    training goes on after it, its ``per_seed_mean_return`` giving the loop's ``eval_return`` rows.
    """

    info: ProgramInfo
    evaluates_during_training: bool = False

    @abc.abstractmethod
    def init(self, seeds: list[int]) -> Any: ...

    @abc.abstractmethod
    def shardings(self, state: Any) -> Any: ...

    @abc.abstractmethod
    def compile(self, state: Any) -> Callable[[Any], tuple[Any, Metrics]]: ...

    @abc.abstractmethod
    def summarise(self, metrics: Metrics) -> dict[str, np.ndarray]: ...

    @abc.abstractmethod
    def evaluate(self, state: Any, episodes: int, seed: int, greedy: bool = True) -> dict[str, Any]: ...

    @abc.abstractmethod
    def summary(self, evaluation: dict[str, Any], progress: Progress) -> dict[str, Any]: ...

    def sample(self, state: Any, seed: int) -> np.ndarray:
        """A grid of samples ``[R, C, *example_shape]`` (``rlk sample``); programs without any raise."""
        raise RlkError("this run draws no samples")

    def close(self) -> None:
        """Releases threads and host resources (called once the run ends, also on errors)."""


class Architecture(Protocol):
    """Builds a ``Program``: ``(make_agent, env, backend, run_config, config) -> Program``.

    ``make_agent(axis_name)`` builds the agent; the architecture calls it once, with the mesh axis over
    which the agent averages gradients (or ``None``), and keeps the agent for training and evaluation
    (collectives appear only in ``update``), so agents name axes but never place devices.
    """

    def __call__(self, make_agent: Callable[[Optional[str]], Agent], env: Any, backend: Backend, config: Any) -> Program: ...
