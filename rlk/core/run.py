"""Run composition: config -> plugins -> backend -> architecture -> the training loop and run folder.

The loop is the only Python loop of a run and it iterates over compiled calls, never over
environment steps: each call advances ``Program.info.steps_per_call`` steps on the devices. Between calls it
writes metric rows, checkpoints periodically, and on SIGINT/SIGTERM saves and stops cleanly;
``resume`` continues from the last checkpoint and produces the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import jax
import numpy as np

from pydantic import BaseModel

from rlk.core import interrupts, peers, runfolder
from rlk.core.checkpoint import Checkpointer, Which
from rlk.core.config import Component, RunConfig, apply_override, as_component, build_run_config, validate_component
from rlk.core.errors import RlkError
from rlk.core.losses import LossSet, resolve_losses
from rlk.core.interfaces import Environment, Program, ProgramInfo, Progress
from rlk.core import provenance
from rlk.core.logging import Loggers, RunInfo, open_loggers, resolve_loggers
from rlk.core.memory import check_batches_fit
from rlk.core.progress import NoBar, RunBar
from rlk.core.registry import Registry, default_registry
from rlk.core.rows import rows_for_call
from rlk.core.runfolder import has_checkpoint

# A model run (the Trainer) counts RunConfig.steps in updates; these defaults replace the agent ones
# (tuned for env steps) where the user set none.
MODEL_RUN_DEFAULTS = {"steps": 2_000, "log_every_steps": 100, "checkpoint_every_steps": 1_000}
EVAL_SEED = 12_345  # evaluations during training use rlk eval's default seed: `rlk eval --checkpoint STEP` repeats them
# Backend options of one launch on many hosts (they differ per process): not saved in config.json,
# given again to ``--resume``.
LAUNCH_OPTIONS = ("coordinator", "num_processes", "process_id")


@dataclasses.dataclass
class ResolvedRun:
    """A validated run: the config with every default filled in, the plugins it names, and their
    typed configs (validated once; ``config`` holds the same values as JSON for config.json)."""

    config: RunConfig
    agent: Any
    env: Any
    backend: Any
    arch: Optional[str]  # None: chosen by the environment's kind when the run is built
    model: Any = None  # model runs (arch 'trainer'): the model and dataset plugins, no agent or env
    dataset: Any = None
    settings: dict[str, Optional[BaseModel]] = dataclasses.field(default_factory=dict)  # section -> typed config
    losses: Optional[LossSet] = None  # the agent's losses, resolved once (agents on rlk.core.losses' contract)

    @property
    def is_model_run(self) -> bool:
        return self.model is not None

    def names(self) -> dict[str, str]:
        """The run's own plugins by section (``{"agent": ..., "env": ...}`` or model and dataset)."""
        sections = ("model", "dataset") if self.is_model_run else ("agent", "env")
        return {k: getattr(self.config, k).name for k in sections}


def resolve(config: RunConfig, registry: Optional[Registry] = None) -> ResolvedRun:
    """Looks up every plugin the config names and validates its options (before any compile)."""
    reg = registry or default_registry()
    if config.model is not None or config.dataset is not None or (config.arch is not None and config.arch.name == "trainer"):
        return _resolve_model_run(config, reg)
    parts = {}
    for section in ("agent", "env", "backend"):
        comp: Component = getattr(config, section)
        parts[section] = _validated(reg.get(section, comp.name), comp, section)
    if config.arch is not None:
        parts["arch"] = _validated(reg.get("architecture", config.arch.name), config.arch, "arch")
    update: dict[str, Any] = {k: as_component(getattr(config, k).name, v[1]) for k, v in parts.items()}
    update["loggers"] = resolve_loggers(config.loggers, reg)
    agent_plugin, agent_config = parts["agent"]
    losses = None
    if agent_plugin.inputs:  # the agent composes losses by name and weight: look each up once, check its inputs
        losses, loss_configs = resolve_losses(agent_config.loss_weights, config.losses, reg,
                                              config.agent.name, agent_plugin.inputs)
        update["losses"] = {k: (v.model_dump(mode="json") if v is not None else {}) for k, v in loss_configs.items()}
    elif config.losses:
        raise RlkError(f"losses.{next(iter(config.losses))}: agent '{config.agent.name}' composes no losses by name")
    config = config.model_copy(update=update)
    arch = config.arch.name if config.arch is not None else None
    return ResolvedRun(config, agent_plugin, parts["env"][0], parts["backend"][0], arch,
                       settings={k: v[1] for k, v in parts.items()}, losses=losses)


def _validated(plugin: Any, component: Component, section: str) -> tuple[Any, Optional[BaseModel]]:
    return plugin, validate_component(component, plugin.config, section)


def _resolve_model_run(config: RunConfig, reg: Registry) -> ResolvedRun:
    """A model on a dataset (arch 'trainer'): ``--model`` and ``--dataset`` both, no agent or env."""
    if config.model is None:
        raise RlkError(f"arch 'trainer' needs --model (known models: {', '.join(reg.names('model')) or 'none'})")
    if config.dataset is None:
        raise RlkError(f"--model needs --dataset (known datasets: {', '.join(reg.names('dataset')) or 'none'})")
    given = [f"--{k}" for k in ("agent", "env") if k in config.model_fields_set] + (["losses"] if config.losses else [])
    if given:
        raise RlkError(f"a model run takes --model and --dataset; drop {', '.join(given)}")
    if config.arch is not None and config.arch.name != "trainer":
        raise RlkError(f"a model run uses arch 'trainer', not '{config.arch.name}'")
    parts = {}
    for section in ("model", "dataset", "backend"):
        comp: Component = getattr(config, section)
        parts[section] = _validated(reg.get(section, comp.name), comp, section)
    parts["arch"] = _validated(reg.get("architecture", "trainer"), config.arch or Component(name="trainer"), "arch")
    update: dict[str, Any] = {k: as_component(v[0].name, v[1]) for k, v in parts.items()}
    update["loggers"] = resolve_loggers(config.loggers, reg)
    update.update({k: v for k, v in MODEL_RUN_DEFAULTS.items() if k not in config.model_fields_set})
    config = config.model_copy(update=update)
    return ResolvedRun(config, None, None, parts["backend"][0], "trainer", parts["model"][0], parts["dataset"][0],
                       settings={k: v[1] for k, v in parts.items()})


def default_run_dir(config: RunConfig) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if config.model is not None:
        return Path("runs") / f"{config.model.name}-{config.dataset.name}-{stamp}"
    return Path("runs") / f"{config.agent.name}-{config.env.name}-{stamp}"


@contextlib.contextmanager
def stop_requests() -> Iterator[Callable[[], int]]:
    """Inside, SIGINT/SIGTERM set a flag (the signal number) the loop polls between compiled calls;
    a second signal ends the process at once (``rlk.core.interrupts``)."""
    with interrupts.deferred() as received:

        def requested() -> int:
            if jax.process_count() == 1:
                return received()
            # Many hosts: every process must take the same branch (checkpoints are collective), so a
            # signal to any process stops them all, at the same call.
            from jax.experimental import multihost_utils

            with peers.guard():
                return int(np.max(multihost_utils.process_allgather(np.int32(received()))))

        yield requested


class CheckpointCadence:
    """When the loop checkpoints besides its last call: every ``every_calls`` calls and every ``every_s``
    seconds of wall clock, whichever is due first (``None``: never by that measure). A checkpoint holds
    the whole state, so a resume is exact wherever it was taken; on many hosts process 0's clock decides
    for all (a checkpoint is collective)."""

    def __init__(self, every_calls: Optional[int], every_s: Optional[float]):
        self.every_calls, self.every_s = every_calls, every_s
        self.last = time.monotonic()

    def due(self, done: int) -> bool:
        now = time.monotonic()
        due = bool(self.every_calls and done % self.every_calls == 0)
        if not due and self.every_s is not None:
            due = now - self.last >= self.every_s
            if jax.process_count() > 1:
                from jax.experimental import multihost_utils

                with peers.guard():
                    due = bool(multihost_utils.broadcast_one_to_all(np.bool_(due)))
        if due:
            self.last = now
        return due


class Run:
    """One training run in its folder; ``train()`` returns the summary dict."""

    def __init__(self, resolved: ResolvedRun, run_dir: Path, resume: bool = False, console: Any = None,
                 registry: Optional[Registry] = None):
        self.r = resolved
        self.config = resolved.config
        self.run_dir = run_dir
        self.resume = resume
        self.console = console
        self.registry = registry or default_registry()
        self._backend: Any = None  # the platform, made once (it starts jax.distributed where a run spans hosts)
        self.sinks = Loggers()  # the run's loggers, closed when train() ends however it ends

    # -- composition ----------------------------------------------------------------------
    def platform(self) -> Any:
        """The run's backend (made on first use)."""
        if self._backend is None:
            self._backend = self.r.backend.factory(self.r.settings["backend"])
        return self._backend

    def build(self) -> Program:
        c, r = self.config, self.r
        settings = r.settings
        backend = self.platform()
        if r.is_model_run:
            dataset = r.dataset.factory(settings["dataset"])
            model = r.model.factory(settings["model"], dataset)
            arch = self.registry.get("architecture", "trainer")
            return arch.factory(model, dataset, backend, c, settings["arch"])
        env = r.env.factory(settings["env"])
        if r.arch is None:
            r.arch = "anakin" if isinstance(env, Environment) else "sebulba"
            settings["arch"] = validate_component(Component(name=r.arch), self.registry.get("architecture", r.arch).config, "arch")
            self.config = c = c.model_copy(update={"arch": as_component(r.arch, settings["arch"])})
        if r.arch == "anakin" and not isinstance(env, Environment):
            raise RlkError(f"env '{c.env.name}' is not a JAX environment; use --arch sebulba")
        agent_cfg, spec = settings["agent"], env.spec
        r.agent.check_players(spec)  # before any compile: PPO on go_9x9 is refused here
        check_batches_fit(spec, agent_cfg, c.num_seeds, c.eval_episodes, c.backend.name)

        def make_agent(axis_name):
            if r.losses is None:  # an agent that composes no losses by name
                return r.agent.factory(agent_cfg, spec, axis_name)
            return r.agent.factory(agent_cfg, spec, axis_name, r.losses)

        arch = self.registry.get("architecture", r.arch)
        return arch.factory(make_agent, env, backend, c, settings["arch"])

    # -- the loop -------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Checks the run folder, builds the program, then claims the folder (created, checked again and
        locked before anything compiles) and trains."""
        t_start = time.perf_counter()
        self.platform()  # first: many hosts, jax.distributed starts here and only process 0 writes
        writer = jax.process_index() == 0
        if writer:
            runfolder.preflight(self.run_dir, not self.resume)
        program = self.build()
        try:
            with runfolder.claim(self.run_dir, not self.resume, _warn) if writer else contextlib.nullcontext():
                interrupts.on_signal(
                    f"interrupted before training resumed; '{self.run_dir}' is unchanged; resume with: rlk train --resume {self.run_dir}"
                    if self.resume else f"interrupted before training started; '{self.run_dir}' holds no checkpoint")
                try:
                    return self._train(program, t_start)
                finally:
                    self.sinks.close()  # inside the claim: the folder is released with its files closed
        finally:
            program.close()

    def _train(self, program: Program, t_start: float) -> dict[str, Any]:
        c = self.config
        writer = jax.process_index() == 0  # many hosts: every process runs the loop, process 0 writes
        seeds = [c.seed + i for i in range(c.num_seeds)]
        info = program.info
        per_call = info.steps_per_call
        total_calls = math.ceil(c.steps / per_call)
        if c.eval_every_steps is not None and not program.evaluates_during_training:
            raise RlkError(f"eval_every_steps: arch '{self.r.arch}' does not evaluate during training")
        checkpointer = Checkpointer(self.run_dir, c.keep_checkpoints, c.keeps_best)
        state = program.init(seeds)
        start_call, prior_train_s = 0, 0.0
        if self.resume:
            start_step, state, meta = checkpointer.restore(state, ["train_s"], discard_damaged=True)
            if start_step % per_call:
                raise RlkError(f"the checkpoint of step {start_step} in {self.run_dir} is not at a call boundary "
                               f"of this run ({per_call} {info.unit} a call)")
            start_call = start_step // per_call
            state = jax.device_put(state, program.shardings(state))
            prior_train_s = meta["train_s"]
            self._check_resume(start_call, total_calls, info, writer)
        elif writer:
            (self.run_dir / "config.json").write_text(json.dumps(self._saved_config(), indent=2) + "\n")
        updates_per_call = info.updates_per_call
        if writer:  # before compiling: a logger that cannot start (a missing library) stops the run here
            resumed_at = {"step": start_call * updates_per_call, **{k: start_call * n for k, n in info.counters.items()}}
            run_info = RunInfo(c.model_dump(mode="json"), provenance.record(self.run_dir, resumed_at if self.resume else None),
                               info.tensorboard_axis, ("step", "seed", *info.counters), info.first_columns,
                               resumed_at if self.resume else None)
            self.sinks = open_loggers(c.loggers, self.run_dir, run_info, self.registry)

        if writer and self.console is not None and total_calls * per_call != c.steps and not self.resume:
            self.console.print(f"steps: {c.steps:,} asked; a compiled call advances {per_call:,} {info.unit} "
                               f"(log_every_steps rounded to whole updates), so this run trains {total_calls * per_call:,}",
                               highlight=False)
        bar = RunBar(self.console, " on ".join(self.r.names().values()), total_calls * per_call, info.unit,
                     info.headline) if self.console is not None and writer else NoBar()
        try:
            summary = self._loop(program, state, checkpointer, bar, start_call, prior_train_s, t_start)
        finally:
            bar.close()
        return summary

    def _loop(self, program: Program, state: Any, checkpointer: Checkpointer, bar: NoBar, start_call: int,
              prior_train_s: float, t_start: float) -> dict[str, Any]:
        c, info = self.config, program.info
        seeds = [c.seed + i for i in range(c.num_seeds)]
        per_call, updates_per_call = info.steps_per_call, info.updates_per_call
        total_calls = math.ceil(c.steps / per_call)
        last_values: Optional[dict] = None
        compile_s, train_s, loop_s, loop_cpu_s, calls_done = 0.0, 0.0, 0.0, 0.0, 0
        if start_call < total_calls:  # compiled before signals are deferred: one then ends the command at once
            t0 = time.perf_counter()
            bar.phase("compiling")
            step = program.compile(state)
            bar.phase(None)
            compile_s = time.perf_counter() - t0
        with stop_requests() as stop_requested:
            if start_call < total_calls:
                every_calls = max(1, c.checkpoint_every_steps // per_call) if c.checkpoint_every_steps else None
                cadence = CheckpointCadence(every_calls, c.checkpoint_every_s)  # timed from the first call
                t_loop = t_mark = time.perf_counter()
                cpu_loop = sum(os.times()[:2])

                def evaluation_due(done: int) -> bool:
                    """At the first call at or after each multiple of ``eval_every_steps``."""
                    every = c.eval_every_steps
                    return every is not None and done * per_call // every > (done - 1) * per_call // every

                def failed(err: RlkError, done: int, state: Any) -> RlkError:
                    """A failed call (e.g. an actor thread died): the learner's last good state is saved."""
                    checkpointer.save(done * per_call, getattr(err, "last_good_state", state), {"train_s": prior_train_s + train_s})
                    checkpointer.close()
                    return RlkError(f"{err} (checkpoint of step {done * updates_per_call} saved in {self.run_dir})")

                grouped = info.max_rows_per_call > 1
                row_s: Optional[float] = None  # measured wall seconds of a row, once a call has been timed

                def rows_next(done: int) -> int:
                    """Rows of the call after row ``done``: a grouped call ends at the run's end and at every
                    checkpoint or evaluation due by steps, so those fall between calls as with one row a call."""
                    if not grouped:
                        return 1
                    until = total_calls - done
                    if every_calls:
                        until = min(until, every_calls - done % every_calls)
                    if c.eval_every_steps is not None:
                        until = next((r for r in range(1, until) if evaluation_due(done + r)), until)
                    return rows_for_call(row_s, c.call_target_s, info.max_rows_per_call, until)

                def call(state: Any, rows: int):
                    return (step(state, np.int32(rows)) if grouped else step(state)), rows

                try:
                    pending = call(state, rows_next(start_call))
                except RlkError as err:
                    raise failed(err, start_call, state) from None
                done = start_call
                while done < total_calls:
                    (state, metrics), rows = pending
                    first, done = done, done + rows
                    last = done == total_calls
                    stop = stop_requested()
                    # JAX dispatch is asynchronous: the next call is started before this call's metrics are
                    # fetched and written, so the host work overlaps the devices' work. A checkpoint's host
                    # copy is taken first (the next call donates the state's buffers).
                    evaluate = evaluation_due(done)
                    save = cadence.due(done) or last or stop or (evaluate and c.keeps_best)
                    snapshot = checkpointer.snapshot(state) if save or evaluate else None
                    failure: Optional[RlkError] = None
                    if not (last or stop):
                        try:
                            pending = call(state, rows_next(done))
                        except RlkError as err:
                            failure = err
                    metrics = jax.device_get(metrics)
                    per_row = ([program.summarise(jax.tree.map(lambda x: x[:, i], metrics)) for i in range(rows)]
                               if grouped else [program.summarise(metrics)])
                    values = per_row[-1]
                    if c.eval_every_steps is not None:  # evaluated on the host copy while the next call runs
                        values["eval_return"] = np.asarray(
                            program.evaluate(snapshot, c.eval_episodes, EVAL_SEED)["per_seed_mean_return"]
                            if evaluate else [math.nan] * len(seeds))
                    if c.eval_training_policy:
                        values["eval_return_training"] = np.asarray(
                            program.evaluate(snapshot, c.eval_episodes, EVAL_SEED, greedy=False)["per_seed_mean_return"]
                            if evaluate else [math.nan] * len(seeds))
                    for extra in ("eval_return", "eval_return_training"):  # rows before a call's last: no evaluation
                        if extra in values:
                            for earlier in per_row[:-1]:
                                earlier[extra] = np.full(len(seeds), math.nan)
                    now = time.perf_counter()
                    dt, t_mark = now - t_mark, now  # from the previous call's metrics to this one's
                    train_s += dt
                    calls_done += rows
                    row_s = dt / rows
                    for i, row_values in enumerate(per_row):
                        at = first + i + 1
                        if "loss" in row_values and not np.all(np.isfinite(row_values["loss"])):
                            latest = checkpointer.latest()
                            checkpointer.close()
                            raise RlkError(
                                f"loss is not finite at step {at * updates_per_call} "
                                f"(seeds {[s for s, v in zip(seeds, row_values['loss']) if not np.isfinite(v)]}); stopped; "
                                + (f"last good checkpoint (step {latest}) kept in {self.run_dir}" if latest else "no checkpoint was saved yet"))
                        last_values = row_values
                        rows_out = self._rows(row_values, seeds, at * updates_per_call,
                                              {k: at * n for k, n in info.counters.items()}, per_call / row_s, now - t_start)
                        self.sinks.write(rows_out)
                        bar.update(at * per_call, rows_out)
                    if save:
                        checkpointer.write(done * per_call, snapshot, {"train_s": prior_train_s + train_s},
                                           float(np.mean(values["eval_return"])) if evaluate else None)
                    if failure is not None:
                        raise failed(failure, done, state) from None
                    if stop and not last:
                        checkpointer.close()
                        raise interrupts.Interrupted(self.run_dir, done * per_call, stop, info.unit)
            else:
                bar.update(total_calls * per_call, None)
        self.sinks.close()  # before the final evaluation, which a signal ends at once
        checkpointer.close()  # waits for the last checkpoint's write
        if stop_requested():  # a signal during the last call: its checkpoint is saved, no evaluation
            raise interrupts.Interrupted(self.run_dir, total_calls * per_call, stop_requested(), info.unit)
        interrupts.on_signal(f"interrupted during the final evaluation; training is complete and checkpointed in "
                             f"'{self.run_dir}'; rlk train --resume {self.run_dir} evaluates it")
        if calls_done:
            loop_s = time.perf_counter() - t_loop  # compiled calls and all host work, compile excluded
            loop_cpu_s = sum(os.times()[:2]) - cpu_loop  # this process's CPU seconds (all threads) meanwhile
        bar.phase("evaluating")
        evaluation = program.evaluate(state, c.eval_episodes, c.seed + 10_000)
        last = last_values if last_values is not None else _last_logged(self.run_dir, seeds)  # resumed a finished run
        summary = {
            **program.summary(evaluation, Progress(total_calls, calls_done, train_s, last)),
            "compile_s": compile_s,
            "loop_s": loop_s,
            "loop_cpu_s": loop_cpu_s,
            "wall_s": time.perf_counter() - t_start,
            "seeds": seeds,
            **self.r.names(),
            "backend": c.backend.name,
            "arch": self.r.arch,
            "devices": info.num_devices,
            "resumed": self.resume,
            "steps_asked": c.steps,
        }
        if jax.process_index() == 0:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        interrupts.on_signal(f"interrupted after the run finished; its results are in '{self.run_dir}'")
        return summary

    def _saved_config(self) -> dict[str, Any]:
        """config.json: the config, less a launch's options; the device count pinned (a resume runs on
        as many devices as the run began with, or the backend refuses)."""
        c = self.config
        saved = c.model_dump(mode="json", exclude={"agent", "env", "losses"} if self.r.is_model_run else None)
        saved["backend"] = {k: v for k, v in saved["backend"].items() if k not in LAUNCH_OPTIONS}
        if "num_devices" in saved["backend"] and saved["backend"]["num_devices"] is None:
            saved["backend"]["num_devices"] = sum(d.process_index == jax.process_index() for d in self.platform().devices)
        return saved

    def _check_resume(self, start_call: int, total_calls: int, info: ProgramInfo, writer: bool) -> None:
        """A resume goes on from its checkpoint: ``--steps`` at or past it, its metrics files intact."""
        trained = start_call * info.steps_per_call
        if total_calls < start_call:
            raise RlkError(f"--steps {self.config.steps}: '{self.run_dir}' has already trained {trained:,} {info.unit} "
                           f"(its checkpoint); give --steps above that to train on, or rlk eval {self.run_dir}")
        if total_calls == start_call:
            _warn(f"note: '{self.run_dir}' has already trained {trained:,} {info.unit}; evaluating its checkpoint again")
        if writer and any(logger.name == "csv" for logger in self.config.loggers):
            runfolder.check_metrics(self.run_dir, start_call * info.updates_per_call, start_call * self.config.num_seeds)

    @staticmethod
    def _rows(values: dict[str, np.ndarray], seeds: list[int], step: int, counters: dict[str, int], sps: float,
              wall: float):
        rows = []
        for i, seed in enumerate(seeds):
            row: dict[str, Any] = {"step": step, **counters, "seed": seed}
            for k, v in values.items():
                x = float(np.asarray(v)[i])
                row[k] = int(x) if k == "episodes" else x
            row["steps_per_s"] = float(sps)
            row["wall_s"] = float(wall)
            rows.append(row)
        return rows


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _last_logged(run_dir: Path, seeds: list[int]) -> dict[str, np.ndarray]:
    """The last logged row of each seed, ``{column: [S]}`` (NaN where a seed has none; ``{}`` where this
    process wrote no metrics)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    last = {r["seed"]: r for r in rows}
    columns = {k for r in last.values() for k, v in r.items() if isinstance(v, (int, float))}
    return {k: np.asarray([float(last[s].get(k, math.nan)) if s in last else math.nan for s in seeds]) for k in columns}


def load_run_config(run_dir: Path, env_overrides: Sequence[str] = (),
                    changeable: Sequence[str] = ("env",)) -> RunConfig:
    """The run's saved config; ``env_overrides`` (``env.field=value``) change its environment only, or
    the sections named in ``changeable`` (e.g. ``agent`` for a search budget at evaluation; an option
    that changes the parameters' shapes then fails at restore with a one-line error)."""
    path = run_dir / "config.json"
    if not run_dir.is_dir():
        raise RlkError(f"resume folder '{run_dir}' does not exist")
    if not path.is_file():
        raise RlkError(f"run folder '{run_dir}' holds no config.json")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise RlkError(f"run folder '{run_dir}': config.json is not valid JSON ({exc})") from None
    for o in env_overrides:
        field = o.split("=", 1)[0].strip()
        section = field.split(".", 1)[0]
        if section not in changeable or "." not in field or field.endswith(".name"):
            allowed = " or ".join(f"{c}.<field>" for c in changeable)
            raise RlkError(f"override '{o}': only {allowed} options can change for a saved run "
                           "(the plugins' names are fixed by its checkpoint)")
        apply_override(data, o)
    return build_run_config(data)


def train(config: RunConfig, console: Any = None) -> tuple[Path, dict[str, Any]]:
    resolved = resolve(config)
    given = resolved.config.run_dir
    if given is not None and not given.strip():
        raise RlkError("--run-dir (run_dir): the path is empty")
    run_dir = Path(given) if given is not None else default_run_dir(resolved.config)
    resolved.config = resolved.config.model_copy(update={"run_dir": str(run_dir)})
    return run_dir, Run(resolved, run_dir, console=console).train()


def resume(run_dir: Path, steps: Optional[int] = None, console: Any = None,
           launch: Optional[dict[str, Any]] = None) -> tuple[Path, dict[str, Any]]:
    """Continues ``run_dir``; ``launch``: this process's ``LAUNCH_OPTIONS`` on many hosts."""
    config = load_run_config(run_dir)
    runfolder.check_free(run_dir)
    if not has_checkpoint(run_dir):
        raise RlkError(f"resume folder '{run_dir}' holds no checkpoint")
    if steps is not None:
        config = build_run_config({**config.model_dump(mode="json", exclude_unset=True), "steps": steps})
    if launch:
        config = config.model_copy(update={"backend": config.backend.model_copy(update=launch)})
    resolved = resolve(config)
    return run_dir, Run(resolved, run_dir, resume=True, console=console).train()


def restored_run(run_dir: Path, overrides: Sequence[str] = (), changeable: Sequence[str] = ("env",),
                 checkpoint: Which = None):
    """The config and program of the run saved in ``run_dir`` and its state at ``checkpoint`` (None or
    "last": the newest intact one; "best"; or a step), the config changed by ``overrides``
    (``section.field=value`` for the sections in ``changeable``)."""
    config = load_run_config(run_dir, overrides, changeable)
    if not has_checkpoint(run_dir):
        raise RlkError(f"run folder '{run_dir}' holds no checkpoint")
    resolved = resolve(config)
    program = Run(resolved, run_dir).build()
    template = program.init([config.seed + i for i in range(config.num_seeds)])
    checkpointer = Checkpointer(run_dir)  # a state that does not fit (e.g. env.* changed shapes): one-line RlkError
    try:
        _, state, _ = checkpointer.restore(template, ["train_s"], checkpoint)
    finally:  # closed on a failed restore too: orbax's open threads otherwise print tracebacks at exit
        checkpointer.close()
    return config, program, state


def evaluate_run(run_dir: Path, episodes: int, seed: int = EVAL_SEED, env_overrides: Sequence[str] = (),
                 checkpoint: Which = None) -> dict[str, Any]:
    """Greedy returns of the policy saved in ``run_dir``'s ``checkpoint`` (see ``restored_run``), on the
    run's environment changed by ``env_overrides`` (``env.field=value``, e.g. a noise-free reward); a model
    run: the model's evaluation metrics (``{"model": name, "metrics": {...}, "metrics_per_seed": [...]}``)."""
    _, program, state = restored_run(run_dir, env_overrides, checkpoint=checkpoint)
    return program.evaluate(state, episodes, seed)


def sample_run(run_dir: Path, seed: int = 12_345) -> np.ndarray:
    """A grid of samples or reconstructions ``[R, C, *example_shape]`` of a model run's first seed."""
    config, program, state = restored_run(run_dir)
    if program.info.kind != "model":
        raise RlkError(f"rlk sample needs a model run; '{run_dir}' trained agent '{config.agent.name}'")
    return program.sample(state, seed)
