"""The Trainer architecture: a Model plugin trained on a Dataset plugin with optax, data-parallel.

``rlk train --model M --dataset D`` runs through the same ``rlk.core.run.Run`` loop as agents do
(config validation, run folder, checkpoints, resume, signals); this module builds its ``Program``:

- the state of one seed is ``TrainerState(params, opt_state, step, key)``; several seeds stack on a
  leading axis, as in Anakin;
- one compiled call runs ``updates_per_call`` optimizer updates as a ``lax.scan`` over a stack of
  host batches ``[S, U, B, ...]``; the global batch ``B`` is split over the ``data`` axis of the
  backend's mesh with the Replicator (``shard_map``), parameters are replicated and gradients
  averaged with ``pmean``, so the step equals the single-device step on the same global batch;
- randomness is per example: each update splits one key into ``B`` example keys and every device
  takes its slice, so a model draws the same numbers on 1 or N devices;
- the data order is a function of (run seed, update index) only (``Dataset.batches(..., start)``),
  so a resumed run sees exactly the batches the uninterrupted run saw.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import PartitionSpec as P

from rlk.core.errors import RlkError
from rlk.core.interfaces import Dataset, Model, Program, ProgramInfo, Progress
from rlk.core.parallel import pmean
from rlk.learn.optim import make_optimiser
from rlk.learn.sgd import SGDState, sgd_step
from rlk.plugins.backends.config import TrainerConfig
from rlk.plugins.backends.replicator import DATA_AXIS, Replicator


class TrainerState(NamedTuple):
    """One seed's training state (leaves get a leading ``[S]`` seed axis)."""

    params: Any
    opt_state: Any
    step: jax.Array  # int32 [], updates done
    key: jax.Array


def make_update(model: Model, optimizer: optax.GradientTransformation, global_batch: int, axis_name: Optional[str]):
    """``update(state, batch) -> (state, metrics)``: one optimizer step on a (local) batch.

    With ``axis_name`` the function runs per replica under ``shard_map``: ``batch`` is this replica's
    slice of the global batch; it takes its slice of the global per-example keys and averages
    gradients and metrics over the axis (the Replicator runs with ``check_vma=False``, so the
    gradient of replicated parameters is the local one; STACK.md gotcha 1).
    """

    gradient_step = sgd_step(model.loss, optimizer, axis_name)

    def update(state: TrainerState, batch: Any):
        key, example_key = jax.random.split(state.key)
        keys = jax.random.split(example_key, global_batch)
        local = jax.tree.leaves(batch)[0].shape[0]
        if axis_name is not None:
            keys = jax.lax.dynamic_slice_in_dim(keys, jax.lax.axis_index(axis_name) * local, local)
        sgd, metrics = gradient_step(SGDState(state.params, state.opt_state), batch, keys)
        return TrainerState(sgd.params, sgd.opt_state, state.step + 1, key), pmean(metrics, axis_name)

    return update


FIRST_COLUMNS = ("step", "examples", "seed", "loss")


class TrainerProgram(Program):
    """The Trainer's program (see ``rlk.core.interfaces.Program``): ``RunConfig.steps`` counts
    updates; rows count examples beside them, and TensorBoard plots against the update ``step``.

    ``names``: the model's and the dataset's plugin names (``rlk eval`` reports them)."""

    def __init__(self, model: Model, dataset: Dataset, mesh: jax.sharding.Mesh, config: TrainerConfig,
                 updates_per_call: int, names: tuple[str, str]):
        self.model, self.dataset, self.mesh, self.config = model, dataset, mesh, config
        self.names = names
        B = config.batch_size
        if B % mesh.size:
            raise RlkError(f"arch.batch_size={B} must be divisible by the number of devices ({mesh.size})")
        self.optimizer = make_optimiser(config)
        self.updates_per_call = updates_per_call
        self.info = ProgramInfo(kind="model", steps_per_call=updates_per_call, updates_per_call=updates_per_call,
                                counters={"examples": updates_per_call * B}, num_devices=mesh.size,
                                first_columns=FIRST_COLUMNS, unit="updates", tensorboard_axis="step", headline="loss")
        self.replicator = Replicator(mesh)
        self._seeds: list[int] = []

    # -- state ----------------------------------------------------------------------------
    def _init_one(self, key: jax.Array) -> TrainerState:
        init_key, run_key = jax.random.split(key)
        params = self.model.init(init_key)
        return TrainerState(params, self.optimizer.init(params), jnp.zeros((), jnp.int32), run_key)

    def shardings(self, state: TrainerState) -> Any:
        return self.replicator.shardings(jax.tree.map(lambda _: P(), state))

    def init(self, seeds: list[int]) -> TrainerState:
        self._seeds = list(seeds)
        keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
        init_all = lambda ks: jax.lax.map(self._init_one, ks)
        abstract = jax.eval_shape(init_all, keys)
        return jax.jit(init_all, out_shardings=self.shardings(abstract))(keys)

    # -- training -------------------------------------------------------------------------
    def _device_step(self, state: TrainerState, batches: Any):
        update = make_update(self.model, self.optimizer, self.config.batch_size, DATA_AXIS)
        one_seed = lambda s, b: jax.lax.scan(update, s, b)
        if jax.tree.leaves(state)[0].shape[0] == 1:  # one seed: no vmap of size 1 (see Anakin)
            out = one_seed(*jax.tree.map(lambda x: x[0], (state, batches)))
            return jax.tree.map(lambda x: x[None], out)
        return jax.vmap(one_seed)(state, batches)

    def _host_batches(self, iterators) -> dict[str, np.ndarray]:
        """The next ``[S, U, B, ...]`` stack of batches, one iterator per seed."""
        per_seed = []
        for it in iterators:
            bs = [next(it) for _ in range(self.updates_per_call)]
            per_seed.append({k: np.stack([b[k] for b in bs]) for k in bs[0]})
        return {k: np.stack([p[k] for p in per_seed]) for k in per_seed[0]}

    def compile(self, state: TrainerState):
        """Compiles the step for ``state``; the data stream resumes at the state's update count."""
        if jax.process_count() > 1:
            raise RlkError("arch 'trainer' runs in one process for now")
        starts = [int(x) for x in np.asarray(jax.device_get(state.step))]
        iterators = [self.dataset.batches("train", self.config.batch_size, seed, start=start)
                     for seed, start in zip(self._seeds, starts)]
        first = self._host_batches(iterators)
        state_specs = jax.tree.map(lambda _: P(), state)
        batch_specs = jax.tree.map(lambda _: P(None, None, DATA_AXIS), first)
        step = self.replicator.data_parallel(self._device_step, (state_specs, batch_specs), (state_specs, P()),
                                             donate_argnums=(0,))
        compiled = step.lower(state, first).compile()
        pending = [first]

        def run(state):
            batches = pending.pop() if pending else self._host_batches(iterators)
            return compiled(state, self.replicator.put(batches, batch_specs))

        return run

    @staticmethod
    def summarise(metrics: dict) -> dict[str, np.ndarray]:
        """Per-seed row values: each metric averaged over the call's updates (leaves ``[S, U]``)."""
        return {k: np.asarray(v).mean(axis=1) for k, v in metrics.items()}

    # -- evaluation -----------------------------------------------------------------------
    def _params(self, state: TrainerState, i: int):
        return jax.tree.map(lambda x: np.asarray(x)[i], jax.device_get(state.params))

    def _eval_batch(self, n: int) -> dict[str, np.ndarray]:
        data = self.dataset.arrays(self.config.eval_split)
        return {k: v[:n] for k, v in data.items()}

    def evaluate_model(self, state: TrainerState, seed: int) -> list[dict[str, float]]:
        """The model's evaluation metrics on ``eval_split``, one dict per seed."""
        batch = self._eval_batch(self.config.eval_examples)
        fn = jax.jit(self.model.evaluate)
        n = jax.tree.leaves(state.params)[0].shape[0]
        return [{k: float(v) for k, v in jax.device_get(fn(self._params(state, i), batch, jax.random.PRNGKey(seed))).items()}
                for i in range(n)]

    def evaluate(self, state: TrainerState, episodes: int, seed: int, greedy: bool = True) -> dict[str, Any]:
        """``rlk eval``'s fields: the evaluation metrics, their means over seeds and per seed (a model
        has no episodes or policy: ``episodes`` and ``greedy`` are unused)."""
        per_seed = self.evaluate_model(state, seed)
        return {"model": self.names[0], "dataset": self.names[1],
                "metrics": {k: float(np.mean([m[k] for m in per_seed])) for k in per_seed[0]},
                "metrics_per_seed": per_seed}

    def summary(self, evaluation: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """summary.json's fields: the final training loss, the evaluation metrics, updates and examples."""
        losses = [float(x) for x in np.asarray(progress.last["loss"])]
        examples_per_update = self.config.batch_size
        updates = progress.calls * self.updates_per_call
        timed = progress.timed_calls * self.updates_per_call
        return {
            "final_loss": float(np.mean(losses)),
            "final_loss_per_seed": losses,
            **evaluation["metrics"],
            "eval_metrics_per_seed": evaluation["metrics_per_seed"],
            "updates": updates,
            "examples": updates * examples_per_update,
            "updates_per_s": (timed / progress.train_s) if progress.train_s > 0 else None,
            "examples_per_s": (timed * examples_per_update / progress.train_s) if progress.train_s > 0 else None,
        }

    def sample(self, state: TrainerState, seed: int) -> np.ndarray:
        if self.model.sample is None:
            raise RlkError("this model defines no sample function")
        batch = self._eval_batch(self.config.sample_examples)
        return np.asarray(jax.jit(self.model.sample)(self._params(state, 0), batch, jax.random.PRNGKey(seed)))


def make_trainer(model: Model, dataset: Dataset, backend, run_config, config: Optional[TrainerConfig] = None) -> TrainerProgram:
    """The Trainer over all local devices of the backend; a call is ``log_every_steps`` updates."""
    config = config or TrainerConfig()
    updates = max(1, min(run_config.log_every_steps, run_config.steps))
    return TrainerProgram(model, dataset, backend.mesh(), config, updates,
                          (run_config.model.name, run_config.dataset.name))
