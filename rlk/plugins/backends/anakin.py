"""Anakin (Hessel et al. 2021, "Podracer architectures for scalable RL", section 3).

Environment stepping, acting and learning compiled into one program: a ``lax.scan`` over updates,
each a ``lax.scan`` over the rollout followed by the agent's ``update``. The program runs on every
device of the mesh with ``shard_map``: the batch of environments is split over the ``data`` axis,
parameters are replicated and gradients averaged (the agent gets ``axis_name='data'``). Several
seeds train at once by ``vmap`` over a leading seed axis of the whole state.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent, Environment, Program, Progress
from rlk.core.rows import rows_loop
from rlk.core.types import TimeStep, Trajectory
from rlk.learn.evaluate import evaluate
from rlk.plugins.backends import episodes
from rlk.plugins.backends.replicator import DATA_AXIS, Replicator
from rlk.core.wrappers import for_training


class AnakinState(NamedTuple):
    """The whole training state of one seed (leaves get a leading ``[S]`` seed axis)."""

    learner: Any
    actor: Any
    env: Any
    timestep: TimeStep
    key: jax.Array


def rollout(agent: Agent, env: Environment, params, actor_state, env_state, timestep: TimeStep, key, length: int):
    """``length`` steps of acting and (batched) env stepping; returns the carry and a Trajectory."""

    def one_step(carry, step_key):
        actor_state, env_state, ts = carry
        act_key, env_key = jax.random.split(step_key)
        action, actor_state, extras = agent.act(params, actor_state, ts, act_key)
        env_keys = jax.random.split(env_key, action.shape[0])
        env_state, next_ts = jax.vmap(env.step)(env_state, action, env_keys)
        return (actor_state, env_state, next_ts), (ts, action, extras)

    (actor_state, env_state, last_ts), (tss, actions, extras) = jax.lax.scan(
        one_step, (actor_state, env_state, timestep), jax.random.split(key, length)
    )
    all_ts = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]], axis=0), tss, last_ts)
    return (actor_state, env_state, last_ts), Trajectory(all_ts, actions, extras)


def episode_sums(traj: Trajectory) -> tuple[jax.Array, jax.Array]:
    """(sum of returns of episodes that ended in this trajectory, number of them)."""
    ts = jax.tree.map(lambda x: x[1:], traj.timestep)
    done = ts.last.astype(jnp.float32)
    return jnp.sum(ts.info["episode_return"] * done), jnp.sum(done)


class AnakinProgram(Program):
    """The compiled Anakin training program of one run (see ``rlk.core.interfaces.Program``).

    ``agent`` was built with ``axis_name=DATA_AXIS``; it trains under ``shard_map`` and evaluates
    outside it (``eval_act`` has no collectives). Evaluation is compiled once per episode count and
    reused (during training it runs every ``eval_every_steps``)."""

    evaluates_during_training = True

    def __init__(self, agent: Agent, env: Environment, mesh: jax.sharding.Mesh, updates_per_step: int,
                 max_rows: int = 1):
        self.raw_env = env
        self.env = for_training(env)
        self.mesh = mesh
        self.agent = agent
        num_devices = mesh.size
        B = agent.num_envs
        if B % num_devices:
            raise RlkError(f"agent.num_envs={B} must be divisible by the number of devices ({num_devices})")
        self.updates_per_step = updates_per_step
        self.env_steps_per_step = updates_per_step * B * agent.unroll_length
        self.max_rows = max_rows
        self.info = episodes.agent_info(self.env_steps_per_step, updates_per_step, num_devices, max_rows)
        self._evaluators: dict[int, Callable] = {}  # episodes -> jitted ``(params [S], keys [S]) -> returns [S, E]``

    # -- state ----------------------------------------------------------------------------
    def _init_one(self, key: jax.Array) -> AnakinState:
        init_key, env_key, run_key = jax.random.split(key, 3)
        learner = self.agent.init(init_key)
        env_state, ts = jax.vmap(self.env.reset)(jax.random.split(env_key, self.agent.num_envs))
        return AnakinState(learner, self.agent.initial_actor_state(self.agent.num_envs), env_state, ts, run_key)

    def _specs(self, state: AnakinState) -> AnakinState:
        """Partition specs: env-batched parts split over devices on axis 1 (axis 0 is the seed)."""
        batched = P(None, DATA_AXIS)
        split = lambda tree: jax.tree.map(lambda _: batched, tree)
        if self.agent.replica_local is None:
            learner = jax.tree.map(lambda _: P(), state.learner)
        else:  # leaves kept per replica (e.g. replay) are split along their declared axis (+1: seeds)
            treedef = jax.tree.structure(state.learner)
            axes = treedef.flatten_up_to(self.agent.replica_local(state.learner))
            learner = treedef.unflatten([P() if a is None else P(*([None] * (a + 1)), DATA_AXIS) for a in axes])
        return AnakinState(learner, split(state.actor), split(state.env), split(state.timestep), P())

    def shardings(self, state: AnakinState) -> AnakinState:
        return Replicator(self.mesh).shardings(self._specs(state))

    def init(self, seeds: list[int]) -> AnakinState:
        """One state per seed, stacked. ``lax.map``, not ``vmap``: each seed runs the single-seed
        computation, and jaxlib 0.10's batched LAPACK QR (orthogonal init under ``vmap``) can
        deadlock on a 2-core CPU (benchmarks/results-cpu.md)."""
        keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
        init_all = lambda ks: jax.lax.map(self._init_one, ks)
        abstract = jax.eval_shape(init_all, keys)
        return jax.jit(init_all, out_shardings=self.shardings(abstract))(keys)

    # -- training -------------------------------------------------------------------------
    def _device_step(self, state: AnakinState, rows: Optional[jax.Array]):
        agent, env = self.agent, self.env

        def one_update(s: AnakinState, _):
            key, roll_key, update_key = jax.random.split(s.key, 3)
            roll_key = jax.random.fold_in(roll_key, jax.lax.axis_index(DATA_AXIS))
            (actor, env_state, ts), traj = rollout(
                agent, env, s.learner.params, s.actor, s.env, s.timestep, roll_key, agent.unroll_length)
            learner, metrics = agent.update(s.learner, traj, update_key)
            ret_sum, ret_count = jax.lax.psum(episode_sums(traj), DATA_AXIS)
            metrics = {**metrics, "episode_return_sum": ret_sum, "episodes": ret_count}
            return AnakinState(learner, actor, env_state, ts, key), metrics

        def one_row(s: AnakinState):
            return jax.lax.scan(one_update, s, None, length=self.updates_per_step)

        def one_seed(s: AnakinState):
            return rows_loop(one_row, s, rows, self.max_rows)

        if jax.tree.leaves(state)[0].shape[0] == 1:
            # One seed: no vmap of size 1 (XLA:CPU turns it into batched dots with extra copies;
            # 25-45% of the step, benchmarks/results-cpu.md).
            out_state, metrics = one_seed(jax.tree.map(lambda x: x[0], state))
            return jax.tree.map(lambda x: x[None], (out_state, metrics))
        return jax.vmap(one_seed)(state)

    def compile(self, state: AnakinState):
        """Lowers and compiles the training step for ``state``'s shapes: the executable ``state -> (state,
        metrics [S, updates])`` (one row a call), or with ``max_rows > 1`` ``(state, rows) -> (state, metrics
        [S, max_rows, updates])``, ``rows`` an int32 in 1..max_rows (``rlk.core.rows``)."""
        specs = self._specs(state)
        replicator = Replicator(self.mesh)
        if self.max_rows == 1:
            step = replicator.data_parallel(lambda s: self._device_step(s, None), (specs,), (specs, P()), donate_argnums=(0,))
            return step.lower(state).compile()
        step = replicator.data_parallel(self._device_step, (specs, P()), (specs, P()), donate_argnums=(0,))
        return step.lower(state, np.int32(1)).compile()

    @staticmethod
    def summarise(metrics: dict) -> dict[str, np.ndarray]:
        return episodes.summarise(metrics)

    # -- evaluation -----------------------------------------------------------------------
    def returns(self, state: AnakinState, num_episodes: int, seed: int, greedy: bool = True) -> np.ndarray:
        """Greedy returns ``[S, episodes]`` (``greedy=False``: the training policy's): one episode per
        environment, run to its end; seed ``i`` evaluates with ``fold_in(PRNGKey(seed), i)``."""
        params = jax.device_get(state.learner.params)
        n_seeds = jax.tree.leaves(params)[0].shape[0]
        keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(seed), i) for i in range(n_seeds)])
        if (num_episodes, greedy) not in self._evaluators:
            one_seed = lambda p, key: evaluate(self.agent, p, self.raw_env, num_episodes, key, greedy=greedy).returns
            self._evaluators[num_episodes, greedy] = jax.jit(jax.vmap(one_seed))
        return np.asarray(self._evaluators[num_episodes, greedy](params, keys))

    def evaluate(self, state: AnakinState, num_episodes: int, seed: int, greedy: bool = True) -> dict[str, Any]:
        return episodes.returns_report(self.returns(state, num_episodes, seed, greedy))

    def summary(self, evaluation: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return episodes.returns_summary(evaluation, progress, self.info, np.float32)


def make_anakin(make_agent: Callable[[Optional[str]], Agent], env, backend, run_config, config=None) -> AnakinProgram:
    """Anakin for JAX environments: all local devices of the backend, batch split over them."""
    if not isinstance(env, Environment):
        raise RlkError(f"arch 'anakin' needs a JAX environment; env '{run_config.env.name}' runs on the host (use --arch sebulba)")
    agent = make_agent(DATA_AXIS)
    per_update = agent.num_envs * agent.unroll_length
    updates = max(1, run_config.log_every_steps // per_update)
    # many processes run one collective program: every call must make as many rows on all of them, so one row
    max_rows = run_config.max_rows_per_call if jax.process_count() == 1 else 1
    return AnakinProgram(agent, env, backend.mesh(), updates, max_rows)
