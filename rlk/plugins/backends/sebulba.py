"""Sebulba (Hessel et al. 2021, "Podracer architectures for scalable RL", section 4).

Host environments are stepped in actor threads, several per actor device; each thread collects
``unroll_length`` steps of its batch of environments and puts the trajectory on its queue. The
learner takes one trajectory from every thread, joins them into the agent's batch, runs ``update``
data-parallel over the learner mesh (the Replicator) and publishes the new parameters to the actor
devices as the next version (version v: after v updates).

Determinism: trajectory k of every thread is acted with parameter version ``max(0, k - staleness)``
(``arch.staleness``, default 1: acting overlaps the update before it), waiting for it if the learner
is behind, so what an actor does is a function of the seed and the schedule, never of the threads'
timing: two runs with one seed write the same metrics (the ``queue`` column, a measured queue
length, aside), and so does a run stopped and resumed. The state (``SebulbaState``) holds all a run
goes on from: each thread's key, actor state, next TimeStep and environment state (``snapshot()`` /
``restore()``, e.g. ``JaxHostEnvironment``) at the last trajectory the learner consumed, and the
parameter versions the next trajectories are acted with. Environments without ``snapshot()``
(gymnasium MuJoCo, ALE today) restart their episodes on resume (from the saved statistics and
keys): such a resume is reproducible but not equal to the uninterrupted run.

Bounds and failures: an actor runs at most ``staleness + 1`` trajectories ahead (never deadlocks:
every wait has a timeout and checks for a stop); the learner waits at most ``learner_timeout_s`` for
data; an actor that raises stops the run with its error, after the learner's state is checkpointed.
Queue length and staleness (learner updates between the parameters an actor used and the update that
consumes its data: ``min(updates, staleness)``) are reported as metrics.

Stops are prompt: actors check the stop flag at every environment step, and the learner checks for
SIGINT/SIGTERM after every update, not only between compiled calls of the run loop
(``log_every_steps`` chunks, minutes of Atari on a CPU). An interrupted call returns the metrics of
the updates it made and the run loop checkpoints it as done; the updates it did not make are owed
(``SebulbaState.owed``) and the resumed run's first call makes them before its own, unlogged, so
every row after the interrupted one equals the uninterrupted run's.

Host state: environments with statistics of their own (MuJoCo's observation normaliser: a factory
with ``initial_state()``, batches with ``get_state()`` / ``set_state()``) have them in
``SebulbaState.host``, one entry per actor thread, at the last trajectory the learner consumed. A
resumed run's actors start from them, and evaluation (at the end of training or ``rlk eval`` of a
saved run) normalises with them, merged over threads by the factory's ``merge_states``. Host-side
leaves are stored as their raw bytes (uint8), so float64 statistics go through device placement and
checkpoints bit-exactly.

Many hosts (``jax.distributed``, one process per host): each process runs its own actor threads on its
own actor devices (thread ``i`` of process ``p`` is thread ``p * threads + i`` of the run: its seed, its
key, its row of ``SebulbaState.actors`` and ``host``, split over the processes), and the learner mesh
spans the learner devices of every process; each process feeds its threads' share of the global batch
(``agent.num_envs``) and its actors act with its own copy of the parameters. A run on P processes
therefore computes what one process with the same devices computes. Before every update the processes
agree whether to make it (``sebulba_hosts.Hosts.agree``: stops, actor failures, parameter checksums).
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from typing import Any, Callable, NamedTuple, Optional

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent, Environment, HostEnvironmentFactory, Program, Progress
from rlk.core.types import EnvSpec, TimeStep, Trajectory
from rlk.learn.evaluate import evaluate_host
from rlk.plugins.backends import episodes
from rlk.plugins.backends.config import SebulbaConfig
from rlk.plugins.backends.replicator import DATA_AXIS, Replicator, batch_specs, replicated_specs
from rlk.plugins.backends.sebulba_hosts import PROCESS_AXIS, Hosts, local, params_checksum, place


class ActorCarry(NamedTuple):
    """Where an actor thread goes on from after a trajectory, host-side (numpy; stacked ``[threads, ...]``
    in ``SebulbaState.actors``).

    Attributes:
      key: ``[2]`` the actor's key.
      actor_state: the agent's actor state ``[E, ...]``.
      timestep: the ``TimeStep`` to act on next, by field (``timestep_template``), raw bytes in the state.
      env: the batch's own ``snapshot()`` (``{}`` where the environment has none), raw bytes in the state.
    """

    key: Any
    actor_state: Any
    timestep: Any
    env: Any


class SebulbaState(NamedTuple):
    """Everything a run goes on from (the checkpoint): resume == uninterrupted.

    Attributes:
      learner: the agent's learner state, leading seed axis of 1 (like Anakin's).
      key: ``[1, 2]`` the learner's key.
      host: the environments' statistics (``get_state()``: MuJoCo's observation normaliser) per actor
        thread at the last trajectory the learner consumed, raw bytes; ``()`` where they have none.
      actors: ``ActorCarry`` per actor thread (stacked) after the last trajectory the learner consumed.
      history: the parameters of updates ``max(0, updates - staleness + i)``, ``i < staleness``, stacked
        (the actors' next trajectories are acted with them); ``()`` when ``staleness`` is 0.
      updates: ``[]`` int32 learner updates made.
      owed: ``[]`` int32 updates the learner is behind the run loop's count (a call ended by a signal
        counts as done): the next call makes them first, unlogged; negative after a failed call.
    """

    learner: Any
    key: jax.Array
    host: Any
    actors: ActorCarry
    history: Any
    updates: Any
    owed: Any


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


EPISODE_FIELDS = ("episode_return", "episode_length")


def timestep_template(spec: EnvSpec, num_envs: int) -> dict[str, np.ndarray]:
    """A batch's ``TimeStep`` by field, from the spec and the ``HostEnvironment`` conventions."""
    n = num_envs
    out = {"observation": np.zeros((n, *spec.observation.shape), spec.observation.dtype),
           "reward": np.zeros(n, np.float32), "discount": np.zeros(n, np.float32), "last": np.zeros(n, np.bool_),
           "episode_return": np.zeros(n, np.float32), "episode_length": np.zeros(n, np.int32)}
    if spec.has_legal_action_mask:
        out["legal_action_mask"] = np.zeros((n, spec.action.num_values), np.bool_)
    if spec.num_players > 1:
        out["current_player"] = np.zeros(n, np.int32)
    return out


def timestep_fields(ts: TimeStep, template: dict) -> dict[str, np.ndarray]:
    """``ts``'s fields named in ``template`` (episode statistics from ``info``)."""
    return {k: np.asarray(ts.info[k] if k in EPISODE_FIELDS else getattr(ts, k)) for k in template}


def with_fields(ts: TimeStep, fields: dict) -> TimeStep:
    """``ts`` (a fresh batch's, for its structure and dtypes) holding the saved ``fields``."""
    own = {k: np.asarray(v, np.asarray(getattr(ts, k)).dtype) for k, v in fields.items() if k not in EPISODE_FIELDS}
    info = {k: np.asarray(fields[k], np.asarray(v).dtype) if k in fields else v for k, v in ts.info.items()}
    return ts._replace(**own, info=info)


class ActorFailure(RlkError):
    """An actor thread raised; the run stops with this message."""


class _Params:
    """Parameter versions (version ``v``: after ``v`` updates) on each actor device; an actor waits for
    the version its schedule names, so what it acts with never depends on the threads' timing."""

    def __init__(self) -> None:
        self.ready = threading.Condition()
        self.by_version: dict[int, dict] = {}

    def publish(self, version: int, params: Any, devices: list, keep_from: int) -> None:
        placed = {d: jax.device_put(params, d) for d in devices}
        with self.ready:
            self.by_version[version] = placed
            for v in [v for v in self.by_version if v < keep_from]:
                del self.by_version[v]
            self.ready.notify_all()

    def wait(self, version: int, device, stop: threading.Event) -> Optional[Any]:
        """Version ``version``'s parameters on ``device``; None once ``stop`` is set."""
        with self.ready:
            while version not in self.by_version:
                if stop.is_set():
                    return None
                self.ready.wait(timeout=0.1)
            return self.by_version[version][device]


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
        self.hosts = Hosts(self.learner_devices)
        self.agent = agent
        self.num_threads = len(self.actor_devices) * config.actor_threads_per_device  # this process's
        self.first_thread = self.hosts.index * self.num_threads  # global index of this process's thread 0
        B, all_threads = self.agent.num_envs, self.num_threads * self.hosts.count
        if B % all_threads:
            where = f" x {self.hosts.count} processes" if self.hosts.many else ""
            raise RlkError(f"agent.num_envs={B} must be divisible by the {all_threads} actor threads "
                           f"(arch.actor_threads_per_device x {len(self.actor_devices)} actor device(s){where})")
        if B % len(self.learner_devices):
            raise RlkError(f"agent.num_envs={B} must be divisible by the {len(self.learner_devices)} learner devices")
        if run_config.num_seeds != 1:
            raise RlkError("arch 'sebulba' trains one seed per run (--num-seeds 1)")
        self.envs_per_thread = B // all_threads
        self.updates_per_step = max(1, run_config.log_every_steps // (B * self.agent.unroll_length))
        self.env_steps_per_step = self.updates_per_step * B * self.agent.unroll_length
        own_learners = {d for d in self.learner_devices if d.process_index == self.hosts.index}
        self.info = episodes.agent_info(self.env_steps_per_step, self.updates_per_step,
                                        self.hosts.count * len(set(self.actor_devices) | own_learners))
        self.seed = run_config.seed
        initial_state = getattr(env_factory, "initial_state", None)
        self.host_template: Optional[dict] = initial_state() if initial_state is not None else None
        snapshot_template = getattr(env_factory, "snapshot_template", None)
        self.env_template: dict = snapshot_template(self.envs_per_thread) if snapshot_template is not None else {}
        self.timestep_template = timestep_template(env_factory.spec, self.envs_per_thread)
        self._threads: list[threading.Thread] = []
        self._envs: dict[int, Any] = {}
        self._interrupt = threading.Event()
        self._handlers: dict = {}
        self._queues: list[queue.Queue] = []
        self._stop = threading.Event()
        self._errors: list[str] = []
        self._params = _Params()
        self._act = jax.jit(self._act_step)
        self._updates, self._owed = 0, 0
        self._consumed: Optional[list] = None  # the carries of the trajectories the last update consumed
        self._actors: Optional[ActorCarry] = None
        self._host: Any = ()

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
        threads = self.num_threads
        host = () if self.host_template is None else \
            encode_host([self.host_template] * threads, self.host_template)
        carry = jax.device_get((jax.random.PRNGKey(0), self.agent.initial_actor_state(self.envs_per_thread)))
        actors = ActorCarry(*jax.tree.map(lambda x: np.stack([x] * threads), carry),
                            encode_host([self.timestep_template] * threads, self.timestep_template),
                            encode_host([self.env_template] * threads, self.env_template))
        params = jax.device_get(learner.params)
        history = jax.tree.map(lambda x: np.stack([x] * self.config.staleness), params) if self.config.staleness else ()
        state = SebulbaState(jax.tree.map(lambda x: x[None], learner), key[None], host, actors, history,
                             np.zeros((), np.int32), np.zeros((), np.int32))
        return place(state, self.shardings(state))

    def shardings(self, state: SebulbaState) -> SebulbaState:
        """Replicated over the learner mesh; on many hosts the per-thread parts (``host``, ``actors``) are
        split over the processes, each holding its own threads' rows (thread ``i`` of process ``p``: row
        ``p * threads + i``)."""
        shardings = self.replicator.shardings(replicated_specs(state))
        if not self.hosts.many:
            return shardings
        rows = NamedSharding(self.hosts.mesh, P(PROCESS_AXIS))
        return shardings._replace(host=jax.tree.map(lambda _: rows, state.host),
                                  actors=jax.tree.map(lambda _: rows, state.actors))

    # -- actors ---------------------------------------------------------------------------
    def _actor(self, index: int, device, start: int, carry: Optional[ActorCarry], stats: Optional[dict]) -> None:
        """Trajectories ``start, start + 1, ...`` of thread ``index``; trajectory k is acted with the
        parameters of version ``max(0, k - staleness)``. A resumed thread (``carry``) goes on from its
        saved key and, where the environments have ``snapshot()``/``restore()``, their exact state."""
        thread = self.first_thread + index  # the thread's index over all processes: its seed and key
        try:
            seed = self.seed * 1000 + thread
            env = self.env_factory.make(self.envs_per_thread, seed)
            self._envs[index] = env
            exact = carry is not None and bool(self.env_template)
            if stats is not None and not exact:  # e.g. a resumed run's observation normaliser
                env.set_state(stats)
            ts = env.reset(seed)
            actor_state = self.agent.initial_actor_state(self.envs_per_thread)
            key = jax.random.fold_in(jax.random.PRNGKey(self.seed), 7919 + thread)
            if carry is not None:
                key = carry.key
            if exact:
                env.restore(carry.env)
                ts = with_fields(ts, carry.timestep)
                actor_state = carry.actor_state
                if stats is not None:
                    env.set_state(stats)
            key = jax.device_put(key, device)
            T, lag = self.agent.unroll_length, self.config.staleness
            k = start
            while not self._stop.is_set():
                params = self._params.wait(max(0, k - lag), device, self._stop)
                if params is None:
                    return
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
                after = (ActorCarry(key, actor_state, timestep_fields(ts, self.timestep_template),
                                    env.snapshot() if self.env_template else {}),
                         env.get_state() if self.host_template is not None else None)
                while not self._stop.is_set():
                    try:
                        self._queues[index].put((traj, after), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                k += 1
        except Exception as exc:  # noqa: BLE001 - reported by the learner, which stops the run
            self._errors.append(f"actor thread {thread}: {type(exc).__name__}: {' '.join(str(exc).split())}")
            self._stop.set()

    def _start(self, s: SebulbaState) -> None:
        """Publishes the parameter versions the schedule still needs and starts the actor threads from
        the state's carries (a fresh run: ``updates == 0``, the threads start afresh)."""
        s = jax.tree.map(local, s)  # this process's rows and copies
        n, lag = int(jax.device_get(s.updates)), self.config.staleness
        self._updates, self._owed = n, int(jax.device_get(s.owed))
        self._actors, self._host = jax.device_get(s.actors), jax.device_get(s.host)
        history = jax.device_get(s.history)
        for i in range(lag):
            self._params.publish(max(0, n - lag + i), jax.tree.map(lambda x: x[i], history), self.actor_devices, n - lag)
        self._params.publish(n, jax.tree.map(lambda x: x[0], s.learner.params), self.actor_devices, n - lag)
        self._queues = [queue.Queue(maxsize=lag + 1) for _ in range(self.num_threads)]
        carries: list = [None] * self.num_threads
        if n > 0:
            a = self._actors
            timesteps = decode_host(a.timestep, self.timestep_template)
            envs = decode_host(a.env, self.env_template) if self.env_template else [{}] * self.num_threads
            carries = [ActorCarry(a.key[i], jax.tree.map(lambda x: x[i], a.actor_state), timesteps[i], envs[i])
                       for i in range(self.num_threads)]
        stats = decode_host(self._host, self.host_template) if self.host_template is not None else [None] * self.num_threads
        self._watch_signals()
        for i in range(self.num_threads):
            device = self.actor_devices[i % len(self.actor_devices)]
            t = threading.Thread(target=self._actor, args=(i, device, n, carries[i], stats[i]),
                                 name=f"rlk-actor-{i}", daemon=True)
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

    def _state(self, learner: Any, key: jax.Array, owed: int) -> SebulbaState:
        """The state after the updates made so far: the carries of the trajectories the last update
        consumed (encoded once), the parameter versions the actors' next trajectories use."""
        if self._consumed is not None:
            carries = [c for c, _ in self._consumed]
            self._actors = ActorCarry(
                np.stack([np.asarray(jax.device_get(c.key)) for c in carries]),
                jax.tree.map(lambda *xs: np.stack(xs), *jax.device_get([c.actor_state for c in carries])),
                encode_host([c.timestep for c in carries], self.timestep_template),
                encode_host([jax.device_get(c.env) for c in carries], self.env_template))
            if self.host_template is not None:
                self._host = encode_host([h for _, h in self._consumed], self.host_template)
            self._consumed = None
        n, lag = self._updates, self.config.staleness
        device = self.actor_devices[0]
        versions = [jax.device_get(self._params.wait(max(0, n - lag + i), device, threading.Event())) for i in range(lag)]
        history = jax.tree.map(lambda *xs: np.stack(xs), *versions) if lag else ()
        state = SebulbaState(learner, key, self._host, self._actors, history,
                             np.asarray(n, np.int32), np.asarray(owed, np.int32))
        return place(state, self.shardings(state)) if self.hosts.many else state

    def _take(self, index: int) -> tuple[Trajectory, tuple]:
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
        agent, hosts, lag = self.agent, self.hosts, self.config.staleness

        def learner_step(core: tuple, traj: Trajectory):
            learner, key = core
            key, update_key = jax.random.split(key[0])
            learner, metrics = agent.update(squeeze(learner), traj, update_key)
            out = (jax.tree.map(lambda x: x[None], learner), key[None]), metrics
            return (*out, params_checksum(learner.params)) if hosts.many else out  # many hosts: each device's own

        state_specs = replicated_specs((state.learner, state.key))
        out_specs = (state_specs, P(), P()) if hosts.many else (state_specs, P())
        update = None

        def fetch(pending: tuple) -> tuple[dict, Optional[int]]:
            """A dispatched update's row (waits for it) and, on many hosts, this process's parameter checksum."""
            metrics, row, checksum = pending
            values = jax.device_get(jax.tree.map(local, metrics))
            return {**values, **row}, None if checksum is None else int(jax.device_get(local(checksum)))

        def step(s: SebulbaState):
            """``updates_per_step`` updates (and first the ``owed`` ones, unlogged); a signal ends the
            call after >= 1 update, the rest of it owed to the next call. Many hosts: the processes
            agree before every update (and after the call's last) whether to make it (``Hosts.agree``)."""
            nonlocal update
            if not self._threads:
                self._start(s)
            learner, key = s.learner, s.key
            owed, U = self._owed, self.updates_per_step
            todo = owed + U
            rows, pending, checksum = [], None, None

            def last_good(err: RlkError) -> RlkError:
                # the caller's state was donated to an earlier update; this call is not counted
                err.last_good_state = self._state(learner, key, owed - len(rows) - (pending is not None))
                return err

            def agree(stop: bool, failure: Optional[str]) -> bool:
                """Many hosts: the verdict on the next update (``checksum``: of the last one, whose row,
                if any, gets the episodes of every process)."""
                mine = (rows[-1]["episode_return_sum"], rows[-1]["episodes"]) if checksum is not None else (0.0, 0.0)
                verdict = hosts.agree(stop, failure, checksum, self._updates, mine)
                if checksum is not None:
                    rows[-1]["episode_return_sum"], rows[-1]["episodes"] = verdict.episodes
                if verdict.failure:
                    raise last_good(RlkError(verdict.failure))
                return verdict.stop

            with hosts.guard():
                for _ in range(todo):
                    if not hosts.many and (rows or pending) and self._interrupt.is_set():  # SIGINT/SIGTERM: end the call after >= 1 update
                        break
                    failure = None
                    try:
                        pieces = [self._take(i) for i in range(self.num_threads)]
                    except RlkError as err:
                        if not hosts.many:
                            raise last_good(err)
                        pieces, failure = [], str(err)
                    # While the previous update runs (dispatch is asynchronous), this trajectory is joined
                    # on the host; its metrics are fetched only then, so the two overlap.
                    traj = jax.tree.map(lambda *xs: _concatenate(xs, axis=1), *[t for t, _ in pieces]) if pieces else None
                    if pending is not None:
                        row, checksum = fetch(pending)
                        rows.append(row)
                        pending = None
                    if hosts.many and agree(bool(rows) and self._interrupt.is_set(), failure):
                        break
                    learner_traj = traj._replace(timestep=traj.timestep._replace(info={}))
                    if update is None:
                        traj_specs = batch_specs(learner_traj, batch_axis=1)
                        update = self.replicator.data_parallel(learner_step, (state_specs, traj_specs), out_specs,
                                                               donate_argnums=(0,))
                        self._traj_shardings = self.replicator.shardings(traj_specs)
                    traj_dev = place(learner_traj, self._traj_shardings)  # many hosts: each process's share of the batch
                    (learner, key), metrics, *check = update((learner, key), traj_dev)
                    n = self._updates
                    self._updates = n + 1
                    self._consumed = [c for _, c in pieces]
                    self._params.publish(n + 1, jax.tree.map(lambda x: local(x)[0], learner.params), self.actor_devices, n + 1 - lag)
                    done = traj.timestep.last[1:]
                    pending = (metrics, {
                        "episode_return_sum": float(np.sum(traj.timestep.info["episode_return"][1:] * done)),
                        "episodes": float(np.sum(done)),
                        "staleness": float(min(n, lag)),
                        "queue": float(np.mean([q.qsize() for q in self._queues])),
                    }, check[0] if check else None)
                if pending is not None:
                    row, checksum = fetch(pending)
                    rows.append(row)
                    pending = None
                    if hosts.many:  # the call's last update is checked before the call returns
                        agree(False, None)
            self._owed = todo - len(rows)
            logged = rows if self._owed else rows[-U:]  # a full call logs its own updates, not the owed ones
            metrics = {k: np.asarray([[r[k] for r in logged]]) for k in logged[0]}
            return self._state(learner, key, self._owed), metrics

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
        params = jax.device_get(jax.tree.map(lambda x: local(x)[0], state.learner.params))
        env = self.env_factory.make(num_episodes, seed)
        if self.host_template is not None:
            host = state.host
            if self.hosts.many:  # every thread's statistics, from every process (collective)
                from jax.experimental import multihost_utils

                host = multihost_utils.process_allgather(host, tiled=True)
            saved = decode_host(host, self.host_template)
            merge = getattr(self.env_factory, "merge_states", None)
            env.set_state(merge(saved) if merge is not None else saved[0])
            env.update_statistics = False
        try:
            return evaluate_host(self.agent, params, env, seed)[None]
        finally:
            env.close()

    def evaluate(self, state: SebulbaState, num_episodes: int, seed: int, greedy: bool = True) -> dict[str, Any]:
        if not greedy:
            raise RlkError("arch 'sebulba' evaluates the greedy policy only")
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
