"""Muesli against the PPO baseline: return against env steps and against wall-clock, 3 seeds, same budget.

    python rlk/plugins/muesli/figures/make_figures.py [--env minatar-breakout] [--steps 300000] [--seeds 3]

Trains each agent with ``rlk train --num-seeds S`` (the seeds in one compiled program, one after the
other agent on the same machine), reads the runs' ``metrics.csv`` and writes
``<env>_muesli_vs_ppo.png`` beside this file. Muesli runs in the CI-sized setting of
``tests/plugins/test_muesli.py`` (TOY), PPO with its defaults.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
TOY = ["-o", "agent.hidden_sizes=[64]", "-o", "agent.latent_size=32", "-o", "agent.num_atoms=41",
       "-o", "agent.num_envs=16", "-o", "agent.learning_rate=1e-3", "-o", "agent.replay_fraction=0.5"]
AGENTS = {"muesli": TOY, "ppo": []}


def train(agent: str, env: str, steps: int, seeds: int, run_dir: Path) -> dict:
    cmd = [sys.executable, "-m", "rlk.cli", "train", "--agent", agent, "--env", env, "--steps", str(steps),
           "--num-seeds", str(seeds), "-q", "--run-dir", str(run_dir), *AGENTS[agent]]
    print(" ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)
    return json.loads((run_dir / "summary.json").read_text())


def curves(run_dir: Path) -> dict[int, list[tuple[float, float, float]]]:
    """seed -> [(env_steps, wall_s, episode_return)] from a run's metrics.csv."""
    out = defaultdict(list)
    with open(run_dir / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row["episode_return"] not in ("", "nan"):
                out[int(row["seed"])].append((float(row["env_steps"]), float(row["wall_s"]), float(row["episode_return"])))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="minatar-breakout")
    p.add_argument("--steps", type=int, default=300_000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--runs", default="runs/muesli-figures", help="folder for the runs")
    a = p.parse_args()
    runs = Path(a.runs)
    summaries = {agent: train(agent, a.env, a.steps, a.seeds, runs / f"{agent}-{a.env}") for agent in AGENTS}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for agent, colour in zip(AGENTS, ("C0", "C1")):
        s = summaries[agent]
        label = f"{agent} (greedy {s['final_return']:.2f} +- {s['final_return_std']:.2f}, {s['env_steps_per_s']:,.0f} steps/s)"
        for i, (seed, pts) in enumerate(sorted(curves(runs / f"{agent}-{a.env}").items())):
            steps, wall, ret = zip(*pts)
            axes[0].plot(steps, ret, color=colour, alpha=0.8, label=label if i == 0 else None)
            axes[1].plot(wall, ret, color=colour, alpha=0.8)
    axes[0].set_xlabel("env steps")
    axes[1].set_xlabel("wall-clock seconds (compile included)")
    for ax in axes:
        ax.set_ylabel("training episode return")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Muesli vs PPO on {a.env}: {a.seeds} seeds each, {a.steps:,} env steps, 2-core CPU")
    fig.tight_layout()
    out = HERE / f"{a.env}_muesli_vs_ppo.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
