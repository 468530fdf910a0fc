"""The ``rlk`` command line: thin; it parses, resolves through the registry and calls ``rlk.core``.

A user's mistake (unknown plugin, bad override, malformed YAML, missing run folder) is one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

from rlk.core import interrupts  # stdlib only: loaded before anything heavy

if __name__ == "__main__":  # ``python -m rlk.cli``: a signal is one line from here on (``rlk``: from main())
    interrupts.install()

import atexit
import json
import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rlk.core.errors import RlkError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="rlk: plugin-based JAX reinforcement learning. `rlk train` solves Catch on the CPU.")
console = Console(stderr=True)
out = Console()


class Arch(str, Enum):
    anakin = "anakin"
    sebulba = "sebulba"
    trainer = "trainer"


class XAxis(str, Enum):
    env_steps = "env_steps"
    wall_s = "wall_s"


def _registry():
    from rlk.core.registry import default_registry

    return default_registry()


@app.command("list-plugins")
def list_plugins(as_json: bool = typer.Option(False, "--json", help="print a JSON list instead of a table")):
    """List every plugin: name, kind, package, version, description, status."""
    rows = _registry().rows()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="rlk plugins")
    for col in ("name", "kind", "package", "version", "description", "status"):
        table.add_column(col)
    for r in rows:
        status = "[green]ok[/]" if r["status"] == "ok" else f"[red]broken[/]: {r.get('error', '')}"
        table.add_row(r["name"], r["kind"], r["package"], r["version"], r["description"], status)
    out.print(table)


@app.command("show-config")
def show_config(
    agent: Optional[str] = typer.Option(None, help="an agent plugin"),
    env: Optional[str] = typer.Option(None, help="an environment plugin"),
    backend: Optional[str] = typer.Option(None, help="a backend plugin"),
    model: Optional[str] = typer.Option(None, help="a model plugin"),
    dataset: Optional[str] = typer.Option(None, help="a dataset plugin"),
    loss: Optional[str] = typer.Option(None, help="a loss plugin"),
    launcher: Optional[str] = typer.Option(None, help="a sweep launcher plugin (rlk sweep --launcher)"),
    run: bool = typer.Option(False, "--run", help="the run-level fields (RunConfig)"),
):
    """Show a plugin's config fields: defaults, types and descriptions (an agent's: and its losses')."""
    from rlk.core.config import RunConfig

    chosen = [(k, v) for k, v in dict(agent=agent, env=env, backend=backend, model=model, dataset=dataset, loss=loss,
                                                 launcher=launcher).items() if v]
    if not chosen and not run:
        raise RlkError("show-config needs one of --agent, --env, --backend, --model, --dataset, --loss, --launcher or --run")
    targets = [("run", "RunConfig", RunConfig)] if run else []
    for kind, name in chosen:
        plugin = _registry().get(kind, name)
        targets.append((kind, name, plugin.config))
        if kind == "agent" and plugin.config is not None and "loss_weights" in plugin.config.model_fields:
            for loss_name in sorted(plugin.config.model_fields["loss_weights"].get_default(call_default_factory=True)):
                targets.append(("loss", loss_name, _registry().get("loss", loss_name).config))
    for kind, name, cls in targets:
        section = "losses." + name if kind == "loss" else kind
        table = Table(title=f"{kind} '{name}'" + ("" if kind == "run" else f" (-o {section}.FIELD=VALUE)"))
        for col in ("field", "type", "default", "description"):
            table.add_column(col)
        if cls is None:
            out.print(f"{kind} '{name}' has no options")
            continue
        for field, info in cls.model_fields.items():
            default = info.get_default(call_default_factory=True)
            table.add_row(field, _type_name(info.annotation), json.dumps(default, default=str), info.description or "")
        out.print(table)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _compose_config(config_file: Optional[Path], flags: dict[str, Any], overrides: list[str]):
    from rlk.core.config import apply_override, build_run_config, load_yaml

    data: dict[str, Any] = load_yaml(config_file) if config_file else {}
    for section in ("agent", "env", "backend", "model", "dataset"):
        name = flags.pop(section, None)
        if name is None:
            continue
        current = data.get(section)
        current_name = current.get("name") if isinstance(current, dict) else current
        if current_name != name:
            data[section] = {"name": name}
    data.update({k: v for k, v in flags.items() if v is not None})
    for o in overrides:
        apply_override(data, o)
    return build_run_config(data)


@app.command()
def train(
    agent: Optional[str] = typer.Option(None, help="agent plugin (default ppo)"),
    env: Optional[str] = typer.Option(None, help="environment plugin (default catch)"),
    backend: Optional[str] = typer.Option(None, help="backend plugin: cpu, gpu, tpu (default cpu)"),
    arch: Optional[Arch] = typer.Option(None, help="architecture (default: anakin for JAX envs, trainer for --model)"),
    model: Optional[str] = typer.Option(None, help="model plugin: train a model on --dataset (arch trainer)"),
    dataset: Optional[str] = typer.Option(None, help="dataset plugin for --model"),
    config: Optional[Path] = typer.Option(None, "--config", help="a run config in YAML"),
    override: list[str] = typer.Option([], "-o", "--override", help="path.to.field=value (repeatable)"),
    seed: Optional[int] = typer.Option(None, help="random seed"),
    steps: Optional[int] = typer.Option(None, help="environment steps (summed over environments); model runs: updates"),
    num_seeds: Optional[int] = typer.Option(None, "--num-seeds", help="independent seeds in one program"),
    run_dir: Optional[str] = typer.Option(None, "--run-dir", help="run folder"),
    resume: Optional[str] = typer.Option(None, "--resume", help="continue the run in this folder"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    logger: list[str] = typer.Option([], "--logger", help="metric logger: csv, tensorboard, wandb, mlflow (repeatable; "
                                                        "default csv and tensorboard; csv is always written)"),
    coordinator: Optional[str] = typer.Option(None, "--coordinator", help="many hosts: HOST:PORT of process 0 (backend.coordinator)"),
    num_processes: Optional[int] = typer.Option(None, "--num-processes", help="many hosts: processes, one per host (backend.num_processes)"),
    process_id: Optional[int] = typer.Option(None, "--process-id", help="many hosts: this process's index (backend.process_id)"),
    compile_cache: bool = typer.Option(True, "--compile-cache/--no-compile-cache",
                                       help="JAX's persistent compilation cache in ~/.cache/rlk/jax (off also with "
                                            "RLK_COMPILATION_CACHE=0)"),
):
    """Train an agent (default: PPO on Catch, CPU)."""
    from rlk.core import compile_cache as cache
    from rlk.core import run as run_mod

    cache.enable(compile_cache)

    bar = None if quiet else console
    launch = {k: v for k, v in dict(coordinator=coordinator, num_processes=num_processes, process_id=process_id).items()
              if v is not None}
    interrupts.on_signal("interrupted before training started")
    if resume is not None:
        if not resume.strip():
            raise RlkError("--resume: the path is empty")
        given = dict(agent=agent, env=env, backend=backend, arch=arch, model=model, dataset=dataset, config=config, seed=seed,
                     num_seeds=num_seeds, run_dir=run_dir, logger=logger or None)
        extra = ["--" + k.replace("_", "-") for k, v in given.items() if v is not None] + (["-o"] if override else [])
        if extra:
            raise RlkError(f"--resume continues a saved config; drop {', '.join(extra)}")
        path, summary = run_mod.resume(Path(resume), steps=steps, console=bar, launch=launch)
    else:
        flags = dict(agent=agent, env=env, backend=backend, model=model, dataset=dataset,
                     arch=arch.value if arch else None, seed=seed,
                     steps=steps, num_seeds=num_seeds, run_dir=run_dir, loggers=logger or None)
        cfg = _compose_config(config, flags, override)
        if launch:
            cfg = cfg.model_copy(update={"backend": cfg.backend.model_copy(update=launch)})
        path, summary = run_mod.train(cfg, console=bar)
    if "model" in summary:
        eps = summary["examples_per_s"]
        out.print(
            f"{summary['model']} on {summary['dataset']}: final_loss={summary['final_loss']:.4g}, "
            f"updates={summary['updates']:,}, " + (f"{eps:,.0f} examples/s, " if eps else "")
            + f"compile {summary['compile_s']:.1f}s, wall {summary['wall_s']:.1f}s -> {path}"
        )
        return
    sps = summary["env_steps_per_s"]
    out.print(
        f"{summary['agent']} on {summary['env']}: final_return={summary['final_return']:.3f} "
        f"(+-{summary['final_return_std']:.3f} over {len(summary['seeds'])} seed(s)), "
        f"env_steps={summary['env_steps']:,}, "
        + (f"{sps:,.0f} env steps/s, " if sps else "")
        + f"compile {summary['compile_s']:.1f}s, wall {summary['wall_s']:.1f}s -> {path}"
    )


@app.command("eval")
def eval_cmd(
    run_dir: Path = typer.Argument(..., help="a run folder"),
    episodes: int = typer.Option(100, min=1, help="greedy episodes per seed"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    override: list[str] = typer.Option([], "-o", "--override",
                                       help="env.field=value: evaluate on a changed environment (repeatable)"),
    video: Optional[Path] = typer.Option(None, "--video", help="instead: write one greedy episode as a video "
                                         "(.gif; .mp4 with imageio-ffmpeg), for environments that render"),
    seed_index: int = typer.Option(0, "--seed-index", help="with --video: which of the run's seeds acts"),
    checkpoint: str = typer.Option("last", "--checkpoint",
                                   help="last, best (highest eval_return during training) or a checkpoint's step"),
):
    """Mean and std return of the saved (greedy) policy; a model run: the model's evaluation metrics."""
    from rlk.core import compile_cache
    from rlk.core.run import evaluate_run

    if checkpoint not in ("last", "best") and not checkpoint.isdigit():
        raise RlkError(f"--checkpoint: expected last, best or a checkpoint's step, got '{checkpoint}'")
    compile_cache.enable()
    which = int(checkpoint) if checkpoint.isdigit() else checkpoint
    interrupts.on_signal(f"evaluation of '{run_dir}' interrupted; nothing was written")
    if video is not None:
        if override:
            raise RlkError("--video renders the run's own environment; drop -o")
        if which != "last":
            raise RlkError("--video renders the last checkpoint; drop --checkpoint")
        from rlk.api import video as write_video

        written = write_video(run_dir, video, seed_index)
        if as_json:
            print(json.dumps(written))
        else:
            out.print(f"wrote {video} ({written['frames']} frames, return {written['return']:g})", highlight=False)
        return
    result = evaluate_run(run_dir, episodes, env_overrides=override, checkpoint=which)
    if as_json:
        print(json.dumps(result))
    elif "metrics" in result:
        out.print(f"{run_dir}: {result['model']} on {result['dataset']} (test split)", highlight=False)
        for k, v in result["metrics"].items():
            out.print(f"  {k} = {v:.6g}", highlight=False)
    else:
        out.print(f"{run_dir}: mean return {result['mean_return']:.3f} +- {result['std_return']:.3f} over {episodes} episodes per seed")


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="a run folder"),
    out_dir: Path = typer.Option(..., "--out", help="folder to write policy.json and params.npz into"),
    seed_index: int = typer.Option(0, "--seed-index", help="which of the run's seeds to export"),
):
    """Write the run's greedy policy so that it loads without the run or rlk's plugins: rlk.load_policy(DIR)."""
    from rlk.api import export as export_policy

    export_policy(run_dir, out_dir, seed_index)
    out.print(f"wrote {out_dir / 'policy.json'} and {out_dir / 'params.npz'}; load it with rlk.load_policy('{out_dir}')",
              highlight=False)


@app.command()
def sample(
    run_dir: Path = typer.Argument(..., help="a model run folder"),
    out_path: Path = typer.Option(Path("samples.png"), "--out", help="PNG to write"),
    seed: int = typer.Option(12_345, help="random seed of the samples"),
    gif: Optional[Path] = typer.Option(None, "--gif", help="also write an animated GIF, one frame per grid column"),
):
    """A grid of a model run's samples or reconstructions, as a PNG (and optionally an animated GIF)."""
    from rlk.core import compile_cache
    from rlk.core.images import save_gif, save_grid
    from rlk.core.run import sample_run

    compile_cache.enable()

    grid = sample_run(run_dir, seed)
    save_grid(grid, out_path)
    out.print(f"wrote {out_path} ({grid.shape[0]}x{grid.shape[1]} grid)")
    if gif is not None:
        save_gif(grid, gif)
        out.print(f"wrote {gif} ({grid.shape[1]} frames)")


class Stat(str, Enum):
    iqm = "iqm"
    mean = "mean"
    median = "median"


class Score(str, Enum):
    final = "final"
    last = "last"


@app.command()
def plot(
    run_dirs: list[Path] = typer.Argument(..., help="run folders"),
    x: XAxis = typer.Option(XAxis.env_steps, "--x", help="x axis"),
    y: str = typer.Option("episode_return", "--y", help="metric column"),
    out_path: Path = typer.Option(Path("curves.png"), "--out", help="image to write (.png, .pdf, .svg, ...)"),
    label: list[str] = typer.Option([], "--label", help="a curve's label, once per run folder, in order (default: folder name)"),
    group_by: list[str] = typer.Option([], "--group-by", help="config field (e.g. agent.learning_rate): one curve per value, "
                                       "pooling the seeds of runs that differ only in seed (repeatable)"),
    stat: Stat = typer.Option(Stat.iqm, "--stat", help="statistic across a curve's seeds"),
    reps: int = typer.Option(2000, "--reps", min=1, help="bootstrap resamples of the 95% band"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the bootstrap"),
    as_json: bool = typer.Option(False, "--json", help="also print the curves drawn, as JSON (then stdout holds only it)"),
):
    """Learning curves: one per run folder (or per --group-by value), the statistic across its seeds with a
    95% bootstrap band, drawn only where all its seeds have data."""
    from rlk.core.plotting import build_curves, check_output, draw

    check_output(out_path)
    curves = build_curves(run_dirs, x.value, y, label, group_by, stat.value, reps, seed)
    for c in curves:
        if max(c.ends) > c.x[-1]:
            console.print(f"note: '{c.label}' drawn up to {x.value}={c.x[-1]:g}, where all its {c.seeds} seeds have data "
                          f"(the longest reaches {max(c.ends):g})", highlight=False)
    draw(curves, out_path, x.value, y)
    if as_json:
        print(json.dumps([c.as_json() for c in curves], indent=2))
    (console if as_json else out).print(f"wrote {out_path} ({len(curves)} curve{'s' if len(curves) > 1 else ''})",
                                       highlight=False)


@app.command()
def compare(
    run_dirs: list[Path] = typer.Argument(..., help="run folders"),
    label: list[str] = typer.Option([], "--label", help="a row's label, once per run folder, in order (default: folder name)"),
    group_by: list[str] = typer.Option([], "--group-by", help="config field: one row per value, pooling the seeds of runs "
                                       "that differ only in seed (repeatable)"),
    score: Score = typer.Option(Score.final, "--score", help="final: greedy final_return per seed (summary.json); "
                                "last: the last logged --y per seed (metrics.csv)"),
    y: str = typer.Option("episode_return", "--y", help="metrics.csv column for --score last"),
    reps: int = typer.Option(2000, "--reps", min=1, help="bootstrap resamples"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the bootstrap"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
):
    """Final scores per run (or --group-by value): IQM and mean with 95% stratified bootstrap CIs, and the
    probability of improvement between every two (rliable)."""
    from rlk.core.compare import compare as compare_runs

    result = compare_runs(run_dirs, label, group_by, score.value, y, reps, seed)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table(title=f"final score: {result['score']}; 95% bootstrap CIs ({reps} resamples)")
    for col in ("group", "seeds", "IQM", "IQM 95% CI", "mean", "mean 95% CI"):
        table.add_column(col)
    for g in result["groups"]:
        table.add_row(g["label"], str(len(g["scores"])), f"{g['iqm']:.3f}", "[{:.3f}, {:.3f}]".format(*g["iqm_ci"]),
                      f"{g['mean']:.3f}", "[{:.3f}, {:.3f}]".format(*g["mean_ci"]))
    out.print(table)
    if result["improvement"]:
        pairs = Table(title="probability of improvement P(X > Y)")
        for col in ("X", "Y", "P(X > Y)", "95% CI"):
            pairs.add_column(col)
        for p in result["improvement"]:
            pairs.add_row(p["x"], p["y"], f"{p['p']:.3f}", "[{:.3f}, {:.3f}]".format(*p["ci"]))
        out.print(pairs)


@app.command()
def sweep(
    specs: Optional[list[str]] = typer.Argument(None, metavar="FIELD=V1,V2,...",
                                                help="swept fields and their values, e.g. agent.num_simulations=1,2,4,8; "
                                                     "several: their product"),
    arm: list[str] = typer.Option([], "--arm", metavar="NAME:FIELD=V,FIELD=V",
                                  help="a named arm, several overrides together (repeatable; crossed with the swept "
                                       "fields), e.g. pg:agent.search_for_acting=false,agent.policy_targets=policy_gradient"),
    agent: Optional[str] = typer.Option(None, help="agent plugin (default ppo)"),
    env: Optional[str] = typer.Option(None, help="environment plugin (default catch)"),
    backend: Optional[str] = typer.Option(None, help="backend plugin"),
    arch: Optional[Arch] = typer.Option(None, help="architecture"),
    config: Optional[Path] = typer.Option(None, "--config", help="a run config in YAML"),
    override: list[str] = typer.Option([], "-o", "--override", help="path.to.field=value, fixed for every run (repeatable)"),
    seed: Optional[int] = typer.Option(None, help="first random seed"),
    steps: Optional[int] = typer.Option(None, help="environment steps per run"),
    num_seeds: int = typer.Option(3, "--num-seeds", help="seeds per value (in one program unless --seeds-per-job)"),
    out_dir: Path = typer.Option(Path("runs/sweep"), "--out", help="folder of the runs, sweep.csv, sweep.md, sweep.png"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    launcher: str = typer.Option("local", "--launcher", help="how the runs go out: local (this process), slurm "
                                 "(submitit), ray; its options: -o launcher.FIELD=VALUE"),
    seeds_per_job: Optional[int] = typer.Option(None, "--seeds-per-job", min=1,
                                                help="seeds in one job (default: all of a value's seeds in one program)"),
):
    """Sweep config fields over values, and named arms, with seeds (the planning study's interventions): a table and a plot."""
    from rlk.core.config import apply_override
    from rlk.core.launch import make_launcher

    options: dict[str, Any] = {}
    for o in override:
        if o.startswith("launcher."):
            apply_override(options, o)
    runner = make_launcher(launcher, options.get("launcher", {}), out_dir)  # before the heavy imports: a mistake is quick

    from rlk.core import compile_cache
    from rlk.sweep import grid, parse_arm, parse_sweep, run_sweep

    compile_cache.enable()
    field, points = grid([parse_sweep(s) for s in specs or []], [parse_arm(a) for a in arm])
    flags = dict(agent=agent, env=env, backend=backend, arch=arch.value if arch else None, seed=seed, steps=steps,
                 num_seeds=num_seeds)
    fixed = [o for o in override if not o.startswith("launcher.")]

    def compose(extra: list[str]):
        return _compose_config(config, dict(flags), [*fixed, *extra])

    rows = run_sweep(field, points, compose, out_dir, runner, None if quiet else console, seeds_per_job)
    print((out_dir / "sweep.md").read_text().rstrip())
    out.print(f"wrote {out_dir / 'sweep.csv'}, {out_dir / 'sweep.md'}, {out_dir / 'sweep.png'} ({len(rows)} rows)")


@app.command()
def bench(
    as_json: bool = typer.Option(False, "--json", help="print JSON rows instead of a table"),
    envs: Optional[str] = typer.Option(None, help="comma-separated envs (default catch,CartPole-v1,minatar-breakout; "
                                                  "'' with --sebulba: Sebulba rows only)"),
    devices: Optional[str] = typer.Option(None, help="comma-separated device counts (default 1,2,4)"),
    seeds: Optional[str] = typer.Option(None, help="comma-separated numbers of seeds at once (default 1,4)"),
    quick: bool = typer.Option(False, "--quick", help="catch, 1 device, 1 seed, short timing (< 1 min)"),
    sebulba: Optional[str] = typer.Option(
        None, help="also time Sebulba V-trace on these host envs (e.g. atari-breakout) beside the env alone"),
    sebulba_processes: str = typer.Option("1", help="--sebulba rows for these numbers of local processes (e.g. 1,2)"),
    backend: str = typer.Option("cpu", help="cpu, gpu or tpu: the platform of every measurement"),
    num_envs: Optional[int] = typer.Option(None, help="PPO's agent.num_envs, and the peer's (default 64)"),
    unroll_length: Optional[int] = typer.Option(None, help="PPO's agent.unroll_length, and the peer's (default 16)"),
    preset: Optional[str] = typer.Option(
        None, help="instead: rlk's whole run loop (rlk train) against the peer's jit(train) at a named set of "
                   "shapes (issue26: catch 4x128 1M and CartPole-v1 64x128 2M steps, lr 2.5e-4 annealed; catch 64x16 1M)"),
    rounds: int = typer.Option(2, help="--preset: alternating rounds, best reported"),
    log_every_steps: Optional[int] = typer.Option(
        None, help="env steps per seed in one compiled call (default 10,000; raise it with --num-envs)"),
    startup: bool = typer.Option(False, "--startup", help="instead: wall seconds of `rlk --help` and `rlk list-plugins` "
                                                          "(fresh processes, best of 3)"),
    agents: Optional[str] = typer.Option(None, help="instead: these agents at their defaults side by side (e.g. "
                                                    "ppo,muesli; --envs default minatar-breakout), repeats alternating"),
    muzero_search: bool = typer.Option(False, "--muzero-search", help="instead: MuZero's acting step beside bare mctx "
                                       "search at the same batch, simulations and network (--envs default "
                                       "minatar-breakout; --log-every-steps: searches per call, default 20)"),
):
    """Anakin PPO training steps/s beside the env-only ceiling and a single-file PureJaxRL peer."""
    from rlk.bench import command

    command(as_json, envs, devices, seeds, quick, sebulba, backend, num_envs, unroll_length, preset, rounds,
            log_every_steps, startup, agents, sebulba_processes, muzero_search)


def _exit_now(code: Any) -> None:
    """Ends the process (``code`` as ``sys.exit`` takes it) once its files are closed: the atexit functions
    run, the interpreter's teardown does not. XLA's and orbax's threads may still run, and the teardown
    (Python's finalisation, C++ static destructors) under them crashes (exit -11), as does a signal while
    it runs (Python has put the default handlers back by then)."""
    interrupts.on_signal("interrupted while exiting; the command had finished")
    if isinstance(code, str):
        console.print(code, highlight=False, soft_wrap=True)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else int(code is not None))


def main() -> None:
    """Entry point: SIGINT/SIGTERM are one line and exit 130/143 at any moment (``rlk.core.interrupts``),
    and the process ends without the interpreter's teardown (``_exit_now``)."""
    interrupts.install()
    # orbax logs through absl: its advice ("waiting for previous save ...") and the errors of a damaged checkpoint
    # it reads (which rlk reports in one line of its own) are not for the user
    logging.getLogger("absl").setLevel(logging.CRITICAL)
    try:
        _main()
    except SystemExit as exc:
        _exit_now(exc.code)
    _exit_now(0)


def _main() -> None:
    """Plugin commands are added, user errors become one line on stderr."""
    try:
        _registry().call_commands(app)
    except Exception as exc:  # noqa: BLE001 - never let a plugin break the CLI
        console.print(f"warning: plugin commands not loaded: {exc}")
    try:
        rc = app(standalone_mode=False)
    except RlkError as err:
        console.print(f"[red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)  # '[x]' is text
        sys.exit(2)
    except interrupts.Interrupted as stop:  # train, sweep: the checkpoint is saved and the run folder released
        console.print(str(stop), highlight=False, soft_wrap=True)
        sys.exit(stop.exit_code)
    except typer.TyperException as err:  # usage errors (unknown option, bad value): click's, which typer vendors
        err.show()
        sys.exit(err.exit_code)
    except SystemExit:
        raise
    if isinstance(rc, int) and rc:
        sys.exit(rc)



if __name__ == "__main__":
    main()
