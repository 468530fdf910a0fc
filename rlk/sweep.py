"""``rlk sweep FIELD=V1,V2,...``: one config field over several values, each value a run of all seeds.

Each value trains in its own run folder (``OUT/<field>=<value>``; the seeds run in one program, as
``rlk train --num-seeds``), and the sweep writes ``sweep.csv`` (one row per value and seed: the
greedy final return, env steps, throughput, wall time), ``sweep.md`` (mean and standard deviation over
seeds per value) and ``sweep.png`` (final return against the value, seeds as dots, the mean as a
line). A value whose folder already holds ``summary.json`` is read back, not trained again, so an
interrupted sweep continues where it stopped. Hamrick et al. 2021 ("On the role of planning in
model-based deep RL") sweep e.g. ``agent.num_simulations`` (Figure 3) and ``agent.max_depth`` this way.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from rlk.core.config import RunConfig
from rlk.core.errors import RlkError
from rlk.core.plotting import run_label
from rlk.core.run import resolve


def parse_sweep(spec: str) -> tuple[str, list[str]]:
    """``"agent.num_simulations=1,2,4"`` -> ``("agent.num_simulations", ["1", "2", "4"])``."""
    field, sep, values = spec.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not field.strip() or "." not in field or not items:
        raise RlkError(f"sweep '{spec}': expected SECTION.FIELD=V1,V2,... (e.g. agent.num_simulations=1,2,4)")
    return field.strip(), items


def _number(value: str) -> Optional[float]:
    try:
        return float(value)
    except ValueError:
        return None


def run_sweep(field: str, values: list[str], compose: Callable[[str], RunConfig], out_dir: Path,
              train: Callable[[RunConfig], tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Trains ``compose(override)`` for each ``field=value`` into ``out_dir/<field>=<value>``.

    ``compose(override)`` builds the run config with the override applied; ``train(config)`` runs one.
    Every value's config is built and its plugins' options validated first, so a bad value fails (one
    line naming it) before any value trains. Returns the rows written to ``sweep.csv``.
    """
    configs = []
    for value in values:
        try:
            configs.append(compose(f"{field}={value}"))
            resolve(configs[-1])
        except RlkError as err:
            raise RlkError(f"sweep value {field}={value}: {err}") from None
    rows: list[dict[str, Any]] = []
    for value, cfg in zip(values, configs):
        run_dir = out_dir / f"{field}={value}"
        summary_path = run_dir / "summary.json"
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text())
        else:
            _, summary = train(cfg.model_copy(update={"run_dir": str(run_dir)}))
        for seed, ret in zip(summary["seeds"], summary["final_return_per_seed"]):
            rows.append({"field": field, "value": value, "seed": seed, "final_return": ret,
                         "env_steps": summary["env_steps"], "env_steps_per_s": summary.get("env_steps_per_s"),
                         "wall_s": summary["wall_s"], "run_dir": str(run_dir)})
        write_outputs(rows, out_dir)
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
    """Per value, in sweep order: mean and std of the final return over seeds."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = out.setdefault(r["value"], {"value": r["value"], "returns": [], "env_steps": r["env_steps"], "wall_s": r["wall_s"]})
        t["returns"].append(r["final_return"])
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
