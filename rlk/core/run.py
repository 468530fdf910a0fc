"""Run composition: config -> plugins -> backend -> architecture -> the training loop and run folder.

The loop is the only Python loop of a run and it iterates over compiled calls, never over
environment steps: each call advances ``env_steps_per_step`` steps on the devices. Between calls it
writes metric rows, checkpoints periodically, and on SIGINT/SIGTERM saves and stops cleanly;
``resume`` continues from the last checkpoint and produces the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import math
import signal
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import jax
import numpy as np

from rlk.core.checkpoint import Checkpointer
from rlk.core.config import Component, RunConfig, apply_override, build_run_config, plugin_config, validate_component
from rlk.core.errors import RlkError
from rlk.core.interfaces import Environment, HostEnvironment
from rlk.core.logging import FileSink, TensorBoardSink
from rlk.core.registry import Registry, default_registry

FIRST_COLUMNS = ["step", "env_steps", "seed", "episode_return", "episodes", "loss"]
MODEL_FIRST_COLUMNS = ["step", "examples", "seed", "loss"]
# A model run (the Trainer) counts RunConfig.steps in updates; these defaults replace the agent ones
# (tuned for env steps) where the user set none.
MODEL_RUN_DEFAULTS = {"steps": 2_000, "log_every_steps": 100, "checkpoint_every_steps": 1_000}
LAST_COLUMNS = ["steps_per_s", "wall_s"]
# Backend options of one launch on many hosts (they differ per process): not saved in config.json,
# given again to ``--resume``.
LAUNCH_OPTIONS = ("coordinator", "num_processes", "process_id")


class Interrupted(Exception):
    """Raised after a clean stop on SIGINT/SIGTERM (the checkpoint is saved)."""

    def __init__(self, run_dir: Path, env_steps: int, signum: int, unit: str = "env steps"):
        name = signal.Signals(signum).name
        super().__init__(f"{name}: stopped at {env_steps} {unit}; checkpoint saved; resume with: rlk train --resume {run_dir}")
        self.run_dir = run_dir
        self.exit_code = 128 + signum


@dataclasses.dataclass
class ResolvedRun:
    """A validated run: the config with every default filled in, and the plugins it names."""

    config: RunConfig
    agent: Any
    env: Any
    backend: Any
    arch: Optional[str]  # None: chosen by the environment's kind when the run is built
    model: Any = None  # model runs (arch 'trainer'): the model and dataset plugins, no agent or env
    dataset: Any = None

    @property
    def is_model_run(self) -> bool:
        return self.model is not None


def resolve(config: RunConfig, registry: Optional[Registry] = None) -> ResolvedRun:
    """Looks up every plugin the config names and validates its options (before any compile)."""
    reg = registry or default_registry()
    if config.model is not None or config.dataset is not None or (config.arch is not None and config.arch.name == "trainer"):
        return _resolve_model_run(config, reg)
    parts = {}
    for section in ("agent", "env", "backend"):
        comp: Component = getattr(config, section)
        plugin = reg.get(section, comp.name)
        parts[section] = (plugin, validate_component(comp, plugin.config, section))
    if config.arch is not None:
        plugin = reg.get("architecture", config.arch.name)
        parts["arch"] = (plugin, validate_component(config.arch, plugin.config, "arch"))
    config = config.model_copy(update={k: v[1] for k, v in parts.items()})
    arch = config.arch.name if config.arch is not None else None
    return ResolvedRun(config, parts["agent"][0], parts["env"][0], parts["backend"][0], arch)


def _resolve_model_run(config: RunConfig, reg: Registry) -> ResolvedRun:
    """A model on a dataset (arch 'trainer'): ``--model`` and ``--dataset`` both, no agent or env."""
    if config.model is None:
        raise RlkError(f"arch 'trainer' needs --model (known models: {', '.join(reg.names('model')) or 'none'})")
    if config.dataset is None:
        raise RlkError(f"--model needs --dataset (known datasets: {', '.join(reg.names('dataset')) or 'none'})")
    given = [f"--{k}" for k in ("agent", "env") if k in config.model_fields_set]
    if given:
        raise RlkError(f"a model run takes --model and --dataset; drop {', '.join(given)}")
    if config.arch is not None and config.arch.name != "trainer":
        raise RlkError(f"a model run uses arch 'trainer', not '{config.arch.name}'")
    parts = {}
    for section in ("model", "dataset", "backend"):
        comp: Component = getattr(config, section)
        plugin = reg.get(section, comp.name)
        parts[section] = (plugin, validate_component(comp, plugin.config, section))
    arch = reg.get("architecture", "trainer")
    parts["arch"] = (arch, validate_component(config.arch or Component(name="trainer"), arch.config, "arch"))
    update = {k: v[1] for k, v in parts.items()}
    update.update({k: v for k, v in MODEL_RUN_DEFAULTS.items() if k not in config.model_fields_set})
    config = config.model_copy(update=update)
    return ResolvedRun(config, None, None, parts["backend"][0], "trainer", parts["model"][0], parts["dataset"][0])


def default_run_dir(config: RunConfig) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if config.model is not None:
        return Path("runs") / f"{config.model.name}-{config.dataset.name}-{stamp}"
    return Path("runs") / f"{config.agent.name}-{config.env.name}-{stamp}"


@contextlib.contextmanager
def stop_requests() -> Iterator[Callable[[], int]]:
    """SIGINT/SIGTERM set a flag (the signal number) the loop polls between compiled calls.

    A second SIGINT aborts at once (without a new checkpoint).
    """
    flag = {"stop": 0}
    previous = {}

    def handler(signum, frame):
        if flag["stop"] and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag["stop"] = signum

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass

    def requested() -> int:
        if jax.process_count() == 1:
            return flag["stop"]
        # Many hosts: every process must take the same branch (checkpoints are collective), so a
        # signal to any process stops them all, at the same call.
        from jax.experimental import multihost_utils

        return int(np.max(multihost_utils.process_allgather(np.int32(flag["stop"]))))

    try:
        yield requested
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


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

    # -- composition ----------------------------------------------------------------------
    def build(self):
        c, r = self.config, self.r
        backend = r.backend.factory(plugin_config(c.backend, r.backend.config))
        if r.is_model_run:
            dataset = r.dataset.factory(plugin_config(c.dataset, r.dataset.config))
            model = r.model.factory(plugin_config(c.model, r.model.config), dataset)
            arch = self.registry.get("architecture", "trainer")
            return arch.factory(model, dataset, backend, c, plugin_config(c.arch, arch.config))
        env = r.env.factory(plugin_config(c.env, r.env.config))
        if r.arch is None:
            r.arch = "anakin" if isinstance(env, Environment) else "sebulba"
            arch_plugin = self.registry.get("architecture", r.arch)
            self.config = c = c.model_copy(update={"arch": validate_component(Component(name=r.arch), arch_plugin.config, "arch")})
        if r.arch == "anakin" and not isinstance(env, Environment):
            raise RlkError(f"env '{c.env.name}' is not a JAX environment; use --arch sebulba")
        agent_cfg = plugin_config(c.agent, r.agent.config)
        spec = env.spec

        def make_agent(axis_name):
            return r.agent.factory(agent_cfg, spec, axis_name)

        arch = self.registry.get("architecture", r.arch)
        return arch.factory(make_agent, env, backend, c, plugin_config(c.arch, arch.config))

    # -- the loop -------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        c = self.config
        t_start = time.perf_counter()
        program = self.build()
        if jax.process_index() == 0:  # many hosts: only process 0 writes
            self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            return self._train(program, t_start)
        finally:
            close = getattr(program, "close", None)
            if close is not None:
                close()

    def _train(self, program, t_start: float) -> dict[str, Any]:
        c = self.config
        writer = jax.process_index() == 0  # many hosts: every process runs the loop, process 0 writes
        seeds = [c.seed + i for i in range(c.num_seeds)]
        total_calls = math.ceil(c.steps / program.env_steps_per_step)
        ckpt_every = max(1, c.checkpoint_every_steps // program.env_steps_per_step)
        checkpointer = Checkpointer(self.run_dir)
        state = program.init(seeds)
        start_call, prior_train_s = 0, 0.0
        if self.resume:
            start_call, state, meta = checkpointer.restore(state, ["train_s"])
            state = jax.device_put(state, program.shardings(state))
            prior_train_s = meta["train_s"]
        elif writer:
            saved = c.model_dump(mode="json", exclude={"agent", "env"} if self.r.is_model_run else None)
            saved["backend"] = {k: v for k, v in saved["backend"].items() if k not in LAUNCH_OPTIONS}
            (self.run_dir / "config.json").write_text(json.dumps(saved, indent=2) + "\n")
        updates_per_call = getattr(program, "updates_per_step", 1)
        model_run = getattr(program, "kind", "agent") == "model"
        # Row counters beside ``step``: env steps (agents) or examples (models), per compiled call.
        counters = getattr(program, "counters", {"env_steps": program.env_steps_per_step})
        first_columns = MODEL_FIRST_COLUMNS if model_run else FIRST_COLUMNS
        unit = "updates" if model_run else "env steps"
        last_values: Optional[dict] = None

        compile_s, train_s, steps_done = 0.0, 0.0, 0
        sinks: list = []
        with stop_requests() as stop_requested, self._progress(total_calls * program.env_steps_per_step, writer, unit) as bar:
            if start_call < total_calls:
                t0 = time.perf_counter()
                step = program.compile(state)
                compile_s = time.perf_counter() - t0
                columns: Optional[list[str]] = None
                for call in range(start_call, total_calls):
                    t0 = time.perf_counter()
                    try:
                        new_state, metrics = step(state)
                    except RlkError as err:  # e.g. an actor thread failed: keep the learner's last state
                        state = getattr(err, "last_good_state", state)
                        checkpointer.save(call, state, {"train_s": prior_train_s + train_s})
                        checkpointer.close()
                        raise RlkError(f"{err} (checkpoint of step {call * updates_per_call} saved in {self.run_dir})") from None
                    state = new_state
                    values = last_values = jax.device_get(program.summarise(metrics))
                    if "loss" in values and not np.all(np.isfinite(values["loss"])):
                        last = checkpointer.latest()
                        checkpointer.close()
                        raise RlkError(
                            f"loss is not finite at step {(call + 1) * updates_per_call} "
                            f"(seeds {[s for s, v in zip(seeds, values['loss']) if not np.isfinite(v)]}); stopped; "
                            + (f"last good checkpoint (call {last}) kept in {self.run_dir}" if last else "no checkpoint was saved yet"))
                    dt = time.perf_counter() - t0
                    train_s += dt
                    steps_done += program.env_steps_per_step
                    env_steps = (call + 1) * program.env_steps_per_step
                    rows = self._rows(values, seeds, (call + 1) * updates_per_call,
                                      {k: (call + 1) * n for k, n in counters.items()},
                                      program.env_steps_per_step / dt, time.perf_counter() - t_start)
                    if columns is None:
                        keep = start_call * updates_per_call if self.resume else None
                        columns = first_columns + sorted(set(rows[0]) - set(first_columns) - set(LAST_COLUMNS)) + LAST_COLUMNS
                        if writer:  # only process 0 writes (another host's process creates no folder)
                            tb = _StepAxisTensorBoard if model_run else TensorBoardSink
                            sinks = [FileSink(self.run_dir, columns, keep), tb(self.run_dir)]
                    for sink in sinks:
                        sink.write(rows)
                    bar(env_steps, rows)
                    last = call + 1 == total_calls
                    stop = stop_requested()
                    if last or stop or (call + 1) % ckpt_every == 0:
                        checkpointer.save(call + 1, state, {"train_s": prior_train_s + train_s})
                    if stop and not last:
                        for sink in sinks:
                            sink.close()
                        checkpointer.close()
                        raise Interrupted(self.run_dir, env_steps, stop, unit)
            else:
                bar(total_calls * program.env_steps_per_step, None)
        for sink in sinks:
            sink.close()
        checkpointer.close()
        if model_run:
            summary = self._model_summary(program, state, seeds, last_values, total_calls, steps_done, train_s,
                                          compile_s, t_start)
            if writer:
                (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            return summary
        returns = program.evaluate(state, c.eval_episodes, c.seed + 10_000)
        per_seed = returns.mean(axis=1)
        summary = {
            "final_return": float(per_seed.mean()),
            "final_return_std": float(per_seed.std()),
            "final_return_per_seed": [float(x) for x in per_seed],
            "eval_episodes": c.eval_episodes,
            "env_steps": total_calls * program.env_steps_per_step,
            "env_steps_per_s": (steps_done / train_s) if train_s > 0 else None,
            "compile_s": compile_s,
            "wall_s": time.perf_counter() - t_start,
            "seeds": seeds,
            "agent": c.agent.name,
            "env": c.env.name,
            "backend": c.backend.name,
            "arch": self.r.arch,
            "devices": getattr(program, "num_devices", 1),
            "resumed": self.resume,
        }
        if writer:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def _model_summary(self, program, state, seeds, last_values, total_calls, updates_done, train_s, compile_s,
                       t_start) -> dict[str, Any]:
        """summary.json of a model run: the final training loss and the model's evaluation metrics."""
        c = self.config
        if last_values is not None:
            losses = [float(x) for x in np.asarray(last_values["loss"])]
        else:  # resumed a finished run: the last logged row holds it
            losses = _last_logged(self.run_dir, "loss", seeds)
        per_seed = program.evaluate_model(state, c.seed + 10_000)
        metrics = {k: float(np.mean([m[k] for m in per_seed])) for k in per_seed[0]}
        examples_per_update = program.counters["examples"] // program.env_steps_per_step
        return {
            "final_loss": float(np.mean(losses)),
            "final_loss_per_seed": losses,
            **metrics,
            "eval_metrics_per_seed": per_seed,
            "updates": total_calls * program.env_steps_per_step,
            "examples": total_calls * program.env_steps_per_step * examples_per_update,
            "updates_per_s": (updates_done / train_s) if train_s > 0 else None,
            "examples_per_s": (updates_done * examples_per_update / train_s) if train_s > 0 else None,
            "compile_s": compile_s,
            "wall_s": time.perf_counter() - t_start,
            "seeds": seeds,
            "model": c.model.name,
            "dataset": c.dataset.name,
            "backend": c.backend.name,
            "arch": self.r.arch,
            "devices": getattr(program, "num_devices", 1),
            "resumed": self.resume,
        }

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

    @contextlib.contextmanager
    def _progress(self, total: int, show: bool = True, unit: str = "env steps"):
        if self.console is None or not show:
            yield lambda steps, rows: None
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} " + unit),
            TextColumn("{task.fields[sps]}"), TextColumn("{task.fields[ret]}"), TimeElapsedColumn(),
            console=self.console, transient=False,
        )
        c = self.config
        what = f"{c.model.name} on {c.dataset.name}" if self.r.is_model_run else f"{c.agent.name} on {c.env.name}"
        task = progress.add_task(what, total=total, sps="", ret="")

        def update(steps: int, rows):
            fields = {}
            if rows and self.r.is_model_run:
                fields = {"sps": f"{rows[0]['steps_per_s']:,.1f} updates/s",
                          "ret": f"loss {np.mean([r['loss'] for r in rows]):.4g}"}
            elif rows:
                rets = [r["episode_return"] for r in rows if not math.isnan(r["episode_return"])]
                fields = {"sps": f"{rows[0]['steps_per_s']:,.0f} steps/s",
                          "ret": f"return {np.mean(rets):.3g}" if rets else "return -"}
            progress.update(task, completed=steps, **fields)

        with progress:
            yield update


class _StepAxisTensorBoard(TensorBoardSink):
    """TensorBoard for model runs: scalars against the update ``step`` (there are no env steps)."""

    axis = "step"


def _last_logged(run_dir: Path, column: str, seeds: list[int]) -> list[float]:
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    last = {r["seed"]: r for r in rows}
    return [float(last[s][column]) if s in last else float("nan") for s in seeds]


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


def has_checkpoint(run_dir: Path) -> bool:
    d = run_dir / "checkpoints"
    return d.is_dir() and any(p.name.isdigit() for p in d.iterdir())


def train(config: RunConfig, console: Any = None) -> tuple[Path, dict[str, Any]]:
    resolved = resolve(config)
    run_dir = Path(resolved.config.run_dir) if resolved.config.run_dir else default_run_dir(resolved.config)
    if has_checkpoint(run_dir):
        raise RlkError(f"run folder '{run_dir}' already holds a run; resume it with --resume or pick another --run-dir")
    resolved.config = resolved.config.model_copy(update={"run_dir": str(run_dir)})
    return run_dir, Run(resolved, run_dir, console=console).train()


def resume(run_dir: Path, steps: Optional[int] = None, console: Any = None,
           launch: Optional[dict[str, Any]] = None) -> tuple[Path, dict[str, Any]]:
    """Continues ``run_dir``; ``launch``: this process's ``LAUNCH_OPTIONS`` on many hosts."""
    config = load_run_config(run_dir)
    if not has_checkpoint(run_dir):
        raise RlkError(f"resume folder '{run_dir}' holds no checkpoint")
    if steps is not None:
        config = config.model_copy(update={"steps": steps})
    if launch:
        config = config.model_copy(update={"backend": config.backend.model_copy(update=launch)})
    resolved = resolve(config)
    return run_dir, Run(resolved, run_dir, resume=True, console=console).train()


def restored_run(run_dir: Path, overrides: Sequence[str] = (), changeable: Sequence[str] = ("env",)):
    """The config and program of the run saved in ``run_dir`` and its last checkpointed state (the
    config changed by ``overrides``, ``section.field=value`` for the sections in ``changeable``)."""
    config = load_run_config(run_dir, overrides, changeable)
    if not has_checkpoint(run_dir):
        raise RlkError(f"run folder '{run_dir}' holds no checkpoint")
    resolved = resolve(config)
    program = Run(resolved, run_dir).build()
    template = program.init([config.seed + i for i in range(config.num_seeds)])
    checkpointer = Checkpointer(run_dir)  # a state that does not fit (e.g. env.* changed shapes): one-line RlkError
    try:
        _, state, _ = checkpointer.restore(template, ["train_s"])
    finally:  # closed on a failed restore too: orbax's open threads otherwise print tracebacks at exit
        checkpointer.close()
    return config, program, state


def evaluate_run(run_dir: Path, episodes: int, seed: int = 12_345, env_overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Greedy returns of the policy saved in ``run_dir``'s last checkpoint, on the run's environment
    changed by ``env_overrides`` (``env.field=value``, e.g. a noise-free reward); a model run: the model's
    evaluation metrics (``{"model": name, "metrics": {...}, "metrics_per_seed": [...]}``)."""
    config, program, state = restored_run(run_dir, env_overrides)
    if getattr(program, "kind", "agent") == "model":
        per_seed = program.evaluate_model(state, seed)
        return {"model": config.model.name, "dataset": config.dataset.name,
                "metrics": {k: float(np.mean([m[k] for m in per_seed])) for k in per_seed[0]},
                "metrics_per_seed": per_seed}
    returns = program.evaluate(state, episodes, seed)
    return {
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "per_seed_mean_return": [float(x) for x in returns.mean(axis=1)],
        "episodes": episodes,
    }


def sample_run(run_dir: Path, seed: int = 12_345) -> np.ndarray:
    """A grid of samples or reconstructions ``[R, C, *example_shape]`` of a model run's first seed."""
    config, program, state = restored_run(run_dir)
    if getattr(program, "kind", "agent") != "model":
        raise RlkError(f"rlk sample needs a model run; '{run_dir}' trained agent '{config.agent.name}'")
    return program.sample(state, seed)
