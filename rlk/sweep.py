"""``rlk sweep FIELD=V1,V2,... [FIELD=V1,V2,...] [--arm NAME:FIELD=V,FIELD=V]``: config fields over values and
named arms, each point of the grid a run of all seeds.

The grid is the product of the named arms (each a set of overrides, e.g. the planning study's "search for
acting only": ``--arm acting-only:agent.search_for_acting=true,agent.policy_targets=policy_gradient``) and
the swept fields' values. Each point trains in its own run folder (``OUT/<field>=<value>`` for one field,
``OUT/arm=<name>,<field>=<value>,...`` for several; the seeds run in one program, as ``rlk train
--num-seeds``; with ``--seeds-per-job`` a point's seeds go out as several jobs in ``.../seed=S``), and the
sweep writes ``sweep.csv`` (one row per point and seed: the greedy final return, env steps, throughput,
wall time), ``sweep.md`` (mean and standard deviation over seeds per point) and ``sweep.png`` (final
return against the point, seeds as dots, the mean as a line). A launcher plugin runs the jobs
(``rlk.core.launch``): ``local`` in this process, one after another; ``slurm`` and ``ray`` as ordinary
``rlk train`` processes on a cluster. A job whose folder already holds ``summary.json`` is read back, not
run again, so an interrupted sweep continues where it stopped. Hamrick et al. 2021 ("On the role of
planning in model-based deep RL") sweep e.g. ``agent.num_simulations`` (Figure 3) and ``agent.max_depth``
this way, and cross the budget with where search is used (Figure 2).
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from rlk.core.config import RunConfig
from rlk.core.errors import RlkError
from rlk.core.launch import Job, Launcher
from rlk.core.plotting import run_label
from rlk.core.run import resolve
from rlk.core.runfolder import has_checkpoint


class Point(NamedTuple):
    """One point of the grid: ``value``, its label in ``sweep.csv`` and ``sweep.md`` (``"4"``, or
    ``"acting-only,4"`` across arms or fields); ``name``, its run folder under the sweep's folder; ``overrides``."""

    value: str
    name: str
    overrides: tuple[str, ...]


def parse_sweep(spec: str) -> tuple[str, list[str]]:
    """``"agent.num_simulations=1,2,4"`` -> ``("agent.num_simulations", ["1", "2", "4"])``."""
    field, sep, values = spec.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not field.strip() or "." not in field or not items:
        raise RlkError(f"sweep '{spec}': expected SECTION.FIELD=V1,V2,... (e.g. agent.num_simulations=1,2,4)")
    return field.strip(), items


def parse_arm(spec: str) -> tuple[str, list[str]]:
    """``"pg:agent.search_for_acting=false,agent.policy_targets=policy_gradient"`` -> ``("pg", [overrides])``;
    a comma starts a new override only before ``SECTION.FIELD=``, so values may hold commas."""
    name, sep, rest = spec.partition(":")
    overrides = [o.strip() for o in re.split(r",(?=\s*[A-Za-z_][\w]*\.[\w.]+=)", rest) if o.strip()]
    if not sep or not re.fullmatch(r"[\w.+-]+", name) or not overrides or \
            not all(re.match(r"[A-Za-z_]\w*\.[\w.]+=", o) for o in overrides):
        raise RlkError(f"sweep --arm '{spec}': expected NAME:SECTION.FIELD=VALUE[,SECTION.FIELD=VALUE...] (NAME of "
                       "letters, digits, '.', '+', '-', '_'; e.g. pg:agent.policy_targets=policy_gradient)")
    return name, overrides


def grid(fields: list[tuple[str, list[str]]], arms: list[tuple[str, list[str]]]) -> tuple[str, list[Point]]:
    """The grid's axes as one label (``"arm x agent.num_simulations"``) and its points, arms outermost, the
    last field fastest. One field alone keeps its plain values and ``OUT/<field>=<value>`` folders."""
    names = [f for f, _ in fields]
    axes = (["arm"] if arms else []) + names
    if not axes:
        raise RlkError("sweep: give a FIELD=V1,V2,... to sweep, or --arm NAME:FIELD=VALUE,... (or both)")
    duplicated = sorted({f for f in names if names.count(f) > 1}
                        | {f for _, ovs in arms for o in ovs for f in [o.partition("=")[0]] if f in names})
    if duplicated:
        raise RlkError(f"sweep: field '{duplicated[0]}' is set twice (in two sweeps, or in a sweep and an arm)")
    if len({a for a, _ in arms}) < len(arms):
        raise RlkError("sweep: two arms share a name; give each --arm its own NAME")
    points = []
    for arm, values in itertools.product(arms or [None], itertools.product(*(v for _, v in fields))):
        settings = [f"{f}={v}" for f, v in zip(names, values)]
        labels = ([arm[0]] if arm else []) + list(values)
        name = ",".join(([f"arm={arm[0]}"] if arm else []) + settings)
        points.append(Point(",".join(labels), name, tuple((arm[1] if arm else []) + settings)))
    return " x ".join(axes), points


def _number(value: str) -> Optional[float]:
    try:
        return float(value)
    except ValueError:
        return None


def plan(points: list[Point], configs: list[RunConfig], out_dir: Path,
         seeds_per_job: Optional[int]) -> list[tuple[str, Job]]:
    """``(value, job)`` for every job of the grid, in sweep order: one job per point with all its seeds in
    one program (``OUT/<name>``), or ``seeds_per_job`` seeds per job (``OUT/<name>/seed=S``, or
    ``seeds=S-E`` for several)."""
    jobs = []
    for point, cfg in zip(points, configs):
        size = seeds_per_job or cfg.num_seeds
        for first in range(cfg.seed, cfg.seed + cfg.num_seeds, size):
            count = min(size, cfg.seed + cfg.num_seeds - first)
            name = point.name
            if size < cfg.num_seeds:
                name += f"/seed={first}" if count == 1 else f"/seeds={first}-{first + count - 1}"
            run_dir = out_dir / name
            job_cfg = cfg.model_copy(update={"run_dir": str(run_dir), "seed": first, "num_seeds": count})
            resume = has_checkpoint(run_dir) and not (run_dir / "summary.json").is_file()
            jobs.append((point.value, Job(name, job_cfg, resume, out_dir / "jobs" / (name.replace("/", "-") + ".yaml"))))
    return jobs


def run_sweep(field: str, points: list[Point], compose: Callable[[list[str]], RunConfig], out_dir: Path,
              launcher: Launcher, console: Any = None, seeds_per_job: Optional[int] = None) -> list[dict[str, Any]]:
    """Runs ``compose(overrides)`` for each point of the grid (``grid``; ``field`` its axes' label) as jobs of
    ``launcher`` (``plan``) and writes ``sweep.csv``, ``sweep.md`` and ``sweep.png`` from their summaries.

    Every point's config is built and its plugins' options validated first, so a bad value fails (one
    line naming it) before any job starts. A job whose folder holds ``summary.json`` is read back, not
    run again; one with a checkpoint and no summary is resumed. Returns the rows of ``sweep.csv``; failed
    jobs are one ``RlkError`` naming each, raised after the outputs of the finished ones are written.
    """
    configs = []
    for point in points:
        try:
            configs.append(compose(list(point.overrides)))
            resolve(configs[-1])
        except RlkError as err:
            raise RlkError(f"sweep point {point.name}: {err}") from None
    jobs = plan(points, configs, out_dir, seeds_per_job)
    pending = [job for _, job in jobs if not (job.run_dir / "summary.json").is_file()]
    errors = dict(zip((job.name for job in pending), launcher.run(pending, console))) if pending else {}
    rows: list[dict[str, Any]] = []
    failed = []
    for value, job in jobs:
        summary_path = job.run_dir / "summary.json"
        if not summary_path.is_file():
            failed.append(f"{job.name} ({errors.get(job.name) or 'ended without writing summary.json'})")
            continue
        summary = json.loads(summary_path.read_text())
        for seed, ret in zip(summary["seeds"], summary["final_return_per_seed"]):
            rows.append({"field": field, "value": value, "seed": seed, "final_return": ret,
                         "env_steps": summary["env_steps"], "env_steps_per_s": summary.get("env_steps_per_s"),
                         "wall_s": summary["wall_s"], "run_dir": str(job.run_dir)})
    if rows:
        write_outputs(rows, out_dir)
    if failed:
        raise RlkError(f"sweep: {len(failed)} of {len(jobs)} job(s) failed: {'; '.join(failed)}; "
                       + ("sweep.csv holds the finished ones; " if rows else "")
                       + "the same command runs the failed ones again")
    return rows


def write_outputs(rows: list[dict[str, Any]], out_dir: Path) -> None:
    """``sweep.csv``, ``sweep.md`` and ``sweep.png`` from the rows so far."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = summarise(rows)
    field = rows[0]["field"]
    lines = [f"| {field} | final return (mean +- std over seeds) | seeds | env steps | wall s (all seeds) |",
             "|---|---|---|---|---|"]
    for t in table:
        lines.append(f"| {t['value']} | {t['mean']:.3f} +- {t['std']:.3f} | {t['seeds']} | {t['env_steps']:,} | {t['wall_s']:.0f} |")
    (out_dir / "sweep.md").write_text("\n".join(lines) + "\n")
    plot(rows, out_dir / "sweep.png")


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per point, in sweep order: mean and std of the final return over seeds."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = out.setdefault(r["value"], {"value": r["value"], "returns": [], "env_steps": r["env_steps"], "wall_s": 0.0, "runs": set()})
        t["returns"].append(r["final_return"])
        if r["run_dir"] not in t["runs"]:  # wall time of all the value's seeds: summed over its jobs
            t["runs"].add(r["run_dir"])
            t["wall_s"] += r["wall_s"]
    return [{**t, "mean": float(np.mean(t["returns"])), "std": float(np.std(t["returns"])), "seeds": len(t["returns"])}
            for t in out.values()]


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarise(rows)
    numbers = [_number(t["value"]) for t in table]
    numeric = all(n is not None for n in numbers)
    xs = numbers if numeric else list(range(len(table)))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for x, t in zip(xs, table):
        ax.scatter([x] * len(t["returns"]), t["returns"], color="tab:blue", alpha=0.4, s=14)
    ax.plot(xs, [t["mean"] for t in table], "o-", color="tab:blue", label="mean over seeds")
    if numeric and min(numbers) > 0 and max(numbers) / min(numbers) >= 10:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(xs, [t["value"] for t in table])
    first = rows[0]
    ax.set_xlabel(first["field"])
    ax.set_ylabel("final return (greedy)")
    ax.set_title(run_label(Path(first["run_dir"])), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
