"""Sebulba (Hessel et al. 2021, "Podracer architectures for scalable RL", section 4).

Host environments are stepped in actor threads, several per actor device; each thread acts with the
latest parameters it has on its device, collects ``unroll_length`` steps of its batch of
environments and puts the trajectory on a bounded queue. The learner takes one trajectory from
every thread, joins them into the agent's batch, runs ``update`` data-parallel over the learner
mesh (the Replicator) and sends the new parameters back to the actor devices.

Bounds and failures: the queue is bounded (actors block when the learner falls behind, and never
deadlock: every wait has a timeout and checks for a stop); the learner waits at most
``learner_timeout_s`` for data; an actor that raises stops the run with its error, after the
learner's state is checkpointed. Queue length and parameter staleness (learner updates between the
parameters an actor used and the update that consumes its data) are reported as metrics.

Stops are prompt: actors check the stop flag at every environment step, and the learner checks
for SIGINT/SIGTERM after every update (one trajectory per actor thread), not only between compiled
calls of the run loop (``log_every_steps`` chunks, minutes of Atari on a CPU). An interrupted call
returns the metrics of the updates it made; the run loop then checkpoints and stops as usual. The
chunk counts as done, so a resumed run makes up to one chunk of updates fewer than asked.

Host state: environments with state of their own (MuJoCo's observation normaliser: a factory
with ``initial_state()``, batches with ``get_state()`` / ``set_state()``) have it in
``SebulbaState.host``, one entry per actor thread, snapshot after every call, so it is
checkpointed with the learner. A resumed run's actors start from it, and evaluation (at the end of
training or ``rlk eval`` of a saved run) normalises with the saved statistics, merged over threads
by the factory's ``merge_states``. The leaves are stored as their raw bytes (uint8), so float64
statistics go through device placement and checkpoints bit-exactly.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from typing import Any, Callable, NamedTuple, Optional

import jax
import numpy as np
from jax.sharding import PartitionSpec as P
from pydantic import Field

from rlk.core.config import PluginConfig
from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent, Environment, HostEnvironmentFactory, Program, Progress
from rlk.core.types import TimeStep, Trajectory
from rlk.learn.evaluate import evaluate_host
from rlk.plugins.backends import episodes
from rlk.plugins.backends.replicator import DATA_AXIS, Replicator, batch_specs, replicated_specs


class SebulbaConfig(PluginConfig):
    actor_threads_per_device: int = Field(2, ge=1, description="actor threads per actor device (Podracer: several)")
    queue_size: int = Field(4, ge=1, description="trajectories in flight per actor thread (bounds staleness)")
    learner_timeout_s: float = Field(120.0, gt=0, description="longest wait of the learner for a trajectory")


class SebulbaState(NamedTuple):
    """The learner's state (leading seed axis of 1, like Anakin's), its key, and the host
    environments' own state (``()`` when they have none; see the module docstring)."""

    learner: Any
    key: jax.Array
    host: Any = ()


def encode_host(states: list[dict], template: dict) -> dict:
    """Per-thread host states -> one uint8 array per field ``[threads, *shape, itemsize]`` (raw bytes)."""
    out = {}
    for k, like in template.items():
        like = np.asarray(like)
        stacked = np.stack([np.asarray(s[k], like.dtype).reshape(like.shape) for s in states])
        out[k] = np.ascontiguousarray(stacked)[..., None].view(np.uint8)
    return out


def decode_host(host: dict, template: dict) -> list[dict]:
    """The inverse of ``encode_host``: one state dict per actor thread."""
    fields = {}
    for k, like in template.items():
        like = np.asarray(like)
        raw = np.ascontiguousarray(np.asarray(jax.device_get(host[k]), np.uint8))
        fields[k] = raw.view(like.dtype)[..., 0]
    threads = next(iter(fields.values())).shape[0] if fields else 0
    return [{k: v[i].copy() for k, v in fields.items()} for i in range(threads)]


class ActorFailure(RlkError):
    """An actor thread raised; the run stops with this message."""


class _Params:
    """The latest parameters on each actor device, with a version number."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version = 0
        self.by_device: dict = {}

    def publish(self, params: Any, devices: list) -> None:
        placed = {d: jax.device_put(params, d) for d in devices}
        with self.lock:
            self.version += 1
            self.by_device = placed

    def get(self, device) -> tuple[Any, int]:
        with self.lock:
            return self.by_device[device], self.version


def _stack(steps: list) -> Any:
    return jax.tree.map(lambda *xs: np.stack(xs), *steps)


ALIGNMENT = 64  # bytes: jax's CPU client aliases (does not copy) numpy buffers aligned to this


def _aligned_empty(shape: tuple, dtype) -> np.ndarray:
    """``np.empty`` whose data starts on an ``ALIGNMENT``-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    offset = (-raw.ctypes.data) % ALIGNMENT
    return raw[offset:offset + nbytes].view(dtype).reshape(shape)


def _concatenate(xs: tuple, axis: int) -> np.ndarray:
    """``np.concatenate`` into a fresh aligned buffer: ``device_put`` onto a CPU device then uses the
    buffer in place instead of copying it (a 38 MB copy per update for 64 Atari envs x 21 frames).
    The buffer is never written again, so the aliasing is safe."""
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = _aligned_empty(tuple(shape), np.result_type(*xs))
    return np.concatenate(xs, axis=axis, out=out)


class SebulbaProgram(Program):
    """Actor threads + a learner step; driven by ``rlk.core.run`` through the Program interface.

    ``agent`` was built with ``axis_name=DATA_AXIS``: its ``update`` runs under ``shard_map`` on the
    learner mesh; ``act`` and ``eval_act`` (no collectives) run on the actor devices."""

    def __init__(self, agent: Agent, env_factory: HostEnvironmentFactory, backend, run_config, config: SebulbaConfig):
        self.config = config
        self.env_factory = env_factory
        self.actor_devices, self.learner_devices = backend.actor_learner_devices()
        self.replicator = Replicator(backend.mesh(self.learner_devices))
        self.agent = agent
        self.num_threads = len(self.actor_devices) * config.actor_threads_per_device
        B = self.agent.num_envs
        if B % self.num_threads or (B // self.num_threads) % 1:
            raise RlkError(f"agent.num_envs={B} must be divisible by the {self.num_threads} actor threads "
                           f"(arch.actor_threads_per_device x {len(self.actor_devices)} actor device(s))")
        if B % len(self.learner_devices):
            raise RlkError(f"agent.num_envs={B} must be divisible by the {len(self.learner_devices)} learner devices")
        if run_config.num_seeds != 1:
            raise RlkError("arch 'sebulba' trains one seed per run (--num-seeds 1)")
        self.envs_per_thread = B // self.num_threads
        self.updates_per_step = max(1, run_config.log_every_steps // (B * self.agent.unroll_length))
        self.env_steps_per_step = self.updates_per_step * B * self.agent.unroll_length
        self.info = episodes.agent_info(self.env_steps_per_step, self.updates_per_step,
                                        len(set(self.actor_devices) | set(self.learner_devices)))
        self.seed = run_config.seed
        initial_state = getattr(env_factory, "initial_state", None)
        self.host_template: Optional[dict] = initial_state() if initial_state is not None else None
        self._threads: list[threading.Thread] = []
        self._envs: dict[int, Any] = {}
        self._interrupt = threading.Event()
        self._handlers: dict = {}
        self._queues: list[queue.Queue] = []
        self._stop = threading.Event()
        self._errors: list[str] = []
        self._params = _Params()
        self._act = jax.jit(self._act_step)

    def _act_step(self, params, actor_state, timestep: TimeStep, key: jax.Array):
        """One actor step in one compiled call: the key split (the same split as before, so the same
        numbers) happens inside, so the actor loop dispatches one program per env step, not two."""
        key, act_key = jax.random.split(key)
        action, actor_state, extras = self.agent.act(params, actor_state, timestep, act_key)
        return key, action, actor_state, extras

    # -- state ----------------------------------------------------------------------------
    def init(self, seeds: list[int]) -> SebulbaState:
        key = jax.random.PRNGKey(seeds[0])
        init_key, key = jax.random.split(key)
        learner = self.agent.init(init_key)
        host = () if self.host_template is None else \
            encode_host([self.host_template] * self.num_threads, self.host_template)
        state = SebulbaState(jax.tree.map(lambda x: x[None], learner), key[None], host)
        return jax.device_put(state, self.shardings(state))

    def shardings(self, state: SebulbaState) -> SebulbaState:
        return self.replicator.shardings(replicated_specs(state))

    # -- actors ---------------------------------------------------------------------------
    def _actor(self, index: int, device, host_state: Optional[dict]) -> None:
        try:
            env = self.env_factory.make(self.envs_per_thread, self.seed * 1000 + index)
            self._envs[index] = env
            if host_state is not None:  # e.g. a resumed run's observation normaliser
                env.set_state(host_state)
            ts = env.reset(self.seed * 1000 + index)
            actor_state = self.agent.initial_actor_state(self.envs_per_thread)
            key = jax.device_put(jax.random.fold_in(jax.random.PRNGKey(self.seed), 7919 + index), device)
            T = self.agent.unroll_length
            while not self._stop.is_set():
                params, version = self._params.get(device)
                steps, actions, extras = [ts], [], []
                for _ in range(T):
                    if self._stop.is_set():
                        return
                    ts_dev = jax.device_put(ts._replace(info={}), device)
                    key, action, actor_state, extra = self._act(params, actor_state, ts_dev, key)
                    action, extra = jax.device_get((action, extra))
                    ts = env.step(action)
                    steps.append(ts)
                    actions.append(action)
                    extras.append(extra)
                traj = Trajectory(_stack(steps), np.stack(actions), _stack(extras))
                while not self._stop.is_set():
                    try:
                        self._queues[index].put((version, traj), timeout=0.5)
                        break
                    except queue.Full:
                        continue
        except Exception as exc:  # noqa: BLE001 - reported by the learner, which stops the run
            self._errors.append(f"actor thread {index}: {type(exc).__name__}: {' '.join(str(exc).split())}")
            self._stop.set()

    def _start(self, params, host: Any) -> None:
        self._params.publish(params, self.actor_devices)
        self._queues = [queue.Queue(maxsize=self.config.queue_size) for _ in range(self.num_threads)]
        host_states = decode_host(host, self.host_template) if self.host_template is not None else None
        self._watch_signals()
        for i in range(self.num_threads):
            device = self.actor_devices[i % len(self.actor_devices)]
            state_i = host_states[i] if host_states is not None else None
            t = threading.Thread(target=self._actor, args=(i, device, state_i), name=f"rlk-actor-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _watch_signals(self) -> None:
        """SIGINT/SIGTERM also end the current call after its update in progress: Python handlers in
        place (the run loop's stop flag) are wrapped, and still run; restored by ``close``."""

        def handler(signum, frame):
            self._interrupt.set()
            self._handlers[signum](signum, frame)

        self._handler = handler
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                if callable(signal.getsignal(sig)):  # a Python handler (SIG_DFL / SIG_IGN: left alone)
                    self._handlers[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: the run loop's checks between calls remain
                pass

    def close(self) -> None:
        """Stops the actor threads and closes their environments (idempotent)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        self._threads = []
        for sig, previous in self._handlers.items():
            if signal.getsignal(sig) is getattr(self, "_handler", None):  # still ours: put the old one back
                signal.signal(sig, previous)
        self._handlers = {}
        for env in self._envs.values():
            env.close()
        self._envs = {}

    def queued_env_steps(self) -> int:
        """Env steps in the trajectories the actors have queued and the learner has not taken yet
        (``rlk bench`` subtracts what a timed window drew from this head start)."""
        return self.envs_per_thread * self.agent.unroll_length * sum(q.qsize() for q in self._queues)

    def host_states(self) -> Any:
        """The actor threads' environment states now, encoded for ``SebulbaState.host``."""
        if self.host_template is None:
            return ()
        return encode_host([self._envs[i].get_state() for i in range(self.num_threads)], self.host_template)

    def _take(self, index: int) -> tuple[int, Trajectory]:
        deadline = time.monotonic() + self.config.learner_timeout_s
        while True:
            if self._errors:
                raise ActorFailure(self._errors[0])
            try:
                return self._queues[index].get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() > deadline:
                    alive = sum(t.is_alive() for t in self._threads)
                    raise RlkError(f"sebulba: no trajectory from actor thread {index} for "
                                   f"{self.config.learner_timeout_s:.0f} s ({alive}/{len(self._threads)} actor threads alive)")

    # -- learner --------------------------------------------------------------------------
    def compile(self, state: SebulbaState):
        squeeze = lambda tree: jax.tree.map(lambda x: x[0], tree)
        agent = self.agent

        def learner_step(core: tuple, traj: Trajectory):
            learner, key = core
            key, update_key = jax.random.split(key[0])
            learner, metrics = agent.update(squeeze(learner), traj, update_key)
            return (jax.tree.map(lambda x: x[None], learner), key[None]), metrics

        state_specs = replicated_specs((state.learner, state.key))
        update = None

        def step(s: SebulbaState):
            nonlocal update
            if not self._threads:
                self._start(squeeze(s.learner).params, s.host)
            rows, pending = [], None
            for _ in range(self.updates_per_step):
                if (rows or pending) and self._interrupt.is_set():  # SIGINT/SIGTERM: end the call after >= 1 update
                    break
                try:
                    pieces = [self._take(i) for i in range(self.num_threads)]
                except RlkError as err:
                    err.last_good_state = s  # the caller's state was donated to an earlier update
                    raise
                versions = [v for v, _ in pieces]
                # While the previous update runs (dispatch is asynchronous), this trajectory is joined
                # on the host; its metrics are fetched only then, so the two overlap.
                traj = jax.tree.map(lambda *xs: _concatenate(xs, axis=1), *[t for _, t in pieces])
                if pending is not None:
                    rows.append({**jax.device_get(pending[0]), **pending[1]})
                learner_traj = traj._replace(timestep=traj.timestep._replace(info={}))
                if update is None:
                    traj_specs = batch_specs(learner_traj, batch_axis=1)
                    update = self.replicator.data_parallel(learner_step, (state_specs, traj_specs),
                                                           (state_specs, P()), donate_argnums=(0,))
                    self._traj_specs = traj_specs
                traj_dev = self.replicator.put(learner_traj, self._traj_specs)
                (learner, key), metrics = update((s.learner, s.key), traj_dev)
                s = SebulbaState(learner, key, s.host)
                self._params.publish(squeeze(s.learner).params, self.actor_devices)
                done = traj.timestep.last[1:]
                pending = (metrics, {
                    "episode_return_sum": float(np.sum(traj.timestep.info["episode_return"][1:] * done)),
                    "episodes": float(np.sum(done)),
                    "staleness": float(np.mean([self._params.version - 1 - v for v in versions])),
                    "queue": float(np.mean([q.qsize() for q in self._queues])),
                })
            if pending is not None:
                rows.append({**jax.device_get(pending[0]), **pending[1]})
            metrics = {k: np.asarray([[r[k] for r in rows]]) for k in rows[0]}
            return s._replace(host=self.host_states()), metrics

        return step

    @staticmethod
    def summarise(metrics: dict) -> dict[str, np.ndarray]:
        return episodes.summarise(metrics)

    # -- evaluation -----------------------------------------------------------------------
    def returns(self, state: SebulbaState, num_episodes: int, seed: int) -> np.ndarray:
        """Greedy returns ``[1, episodes]``: a batch of host environments, one episode each.

        Host environments with state (observation normalisers) evaluate with the state saved in
        ``state.host`` (the actors' at the last call; merged over threads), frozen."""
        self._stop.set()  # actors are done
        for t in self._threads:
            t.join(timeout=10)
        params = jax.device_get(jax.tree.map(lambda x: x[0], state.learner.params))
        env = self.env_factory.make(num_episodes, seed)
        if self.host_template is not None:
            saved = decode_host(state.host, self.host_template)
            merge = getattr(self.env_factory, "merge_states", None)
            env.set_state(merge(saved) if merge is not None else saved[0])
            env.update_statistics = False
        try:
            return evaluate_host(self.agent, params, env, seed)[None]
        finally:
            env.close()

    def evaluate(self, state: SebulbaState, num_episodes: int, seed: int) -> dict[str, Any]:
        return episodes.returns_report(self.returns(state, num_episodes, seed))

    def summary(self, evaluation: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return episodes.returns_summary(evaluation, progress, self.info, np.float64)


def make_sebulba(make_agent: Callable[[Optional[str]], Agent], env, backend, run_config,
                 config: Optional[SebulbaConfig] = None) -> SebulbaProgram:
    """Sebulba for host environments (and for JAX ones, run as host environments: the async regime)."""
    if isinstance(env, Environment):
        from rlk.plugins.backends.jax_host import JaxHostFactory

        env = JaxHostFactory(env)
    if not isinstance(env, HostEnvironmentFactory):
        raise RlkError(f"arch 'sebulba' cannot run env '{run_config.env.name}' ({type(env).__name__})")
    return SebulbaProgram(make_agent(DATA_AXIS), env, backend, run_config, config or SebulbaConfig())
