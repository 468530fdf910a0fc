"""Agents against each other on one env: return against env steps and against wall-clock, same budget.

    python -m experiments.muesli.make_figures [--env minatar-breakout] [--steps 300000] [--seeds 3]
        [--agents ppo,muesli] [--runs runs/muesli-figures] [--out FILE.png] [-o AGENT:path=value ...]

Trains each agent with ``rlk train --num-seeds S`` (the seeds in one compiled program, one agent after
the other on the same machine), reads the runs' ``metrics.csv`` and writes the PNG (by default
``figures/<env>_muesli_vs_ppo.png`` beside this file for the two-agent figure, ``<env>_<agents>.png`` otherwise).
A run whose folder already holds a finished run made by the same command (``make_figures_cmd.json``) is
reused, not retrained, so adding an agent to a figure trains only that agent.

Settings: Muesli in the CI-sized setting of ``tests/plugins/test_muesli.py`` (TOY), PPO with its defaults,
MuZero with Gumbel MuZero search (4 simulations in training and at evaluation; see the MuZero README).
``-o muzero:agent.num_simulations=8`` adds an override to one agent's command.
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
MUZERO = ["-o", "agent.search=gumbel", "-o", "agent.num_simulations=4", "-o", "agent.eval_simulations=4"]
AGENTS = {"ppo": [], "muesli": TOY, "muzero": MUZERO}
COLOURS = {"ppo": "C1", "muesli": "C0", "muzero": "C2"}


def train(agent: str, env: str, steps: int, seeds: int, run_dir: Path, extra: list[str]) -> dict:
    cmd = ["train", "--agent", agent, "--env", env, "--steps", str(steps), "--num-seeds", str(seeds), "-q",
           "--run-dir", str(run_dir), *AGENTS[agent], *extra]
    stamp = run_dir / "make_figures_cmd.json"
    if (run_dir / "summary.json").exists() and stamp.exists() and json.loads(stamp.read_text()) == cmd:
        print("reusing", run_dir, flush=True)
    else:
        print("rlk " + " ".join(cmd), flush=True)
        subprocess.run([sys.executable, "-m", "rlk.cli", *cmd], check=True)
        stamp.write_text(json.dumps(cmd))
    return json.loads((run_dir / "summary.json").read_text())


def curves(run_dir: Path) -> dict[int, list[tuple[float, float, float]]]:
    """seed -> [(env_steps, wall_s, episode_return)] from a run's metrics.csv."""
    out = defaultdict(list)
    with open(run_dir / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row["episode_return"] not in ("", "nan"):
                out[int(row["seed"])].append((float(row["env_steps"]), float(row["wall_s"]), float(row["episode_return"])))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="minatar-breakout")
    p.add_argument("--steps", type=int, default=300_000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--agents", default="ppo,muesli", help=f"comma-separated, from {','.join(AGENTS)}")
    p.add_argument("--runs", default="runs/muesli-figures", help="folder for the runs")
    p.add_argument("--out", default=None, help="PNG path (default: figures/ beside this script)")
    p.add_argument("-o", dest="overrides", action="append", default=[], metavar="AGENT:path=value",
                   help="an override for one agent's rlk train (repeatable)")
    a = p.parse_args(argv)
    agents = a.agents.split(",")
    unknown = [x for x in agents if x not in AGENTS]
    if unknown:
        p.error(f"unknown agent(s) {unknown}; choose from {list(AGENTS)}")
    extra = defaultdict(list)
    for o in a.overrides:
        agent, sep, value = o.partition(":")
        if not sep or agent not in agents:
            p.error(f"-o {o!r}: expected AGENT:path=value with AGENT one of {agents}")
        extra[agent] += ["-o", value]
    runs = Path(a.runs)
    summaries = {x: train(x, a.env, a.steps, a.seeds, runs / f"{x}-{a.env}", extra[x]) for x in agents}

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for agent in agents:
        s = summaries[agent]
        label = (f"{agent} (greedy {s['final_return']:.2f} +- {s['final_return_std']:.2f}, "
                 f"{s['env_steps_per_s']:,.0f} steps/s)")
        for i, (seed, pts) in enumerate(sorted(curves(runs / f"{agent}-{a.env}").items())):
            steps, wall, ret = zip(*pts)
            axes[0].plot(steps, ret, color=COLOURS[agent], alpha=0.8, label=label if i == 0 else None)
            axes[1].plot(wall, ret, color=COLOURS[agent], alpha=0.8)
    axes[0].set_xlabel("env steps")
    walls = [s["wall_s"] for s in summaries.values()]
    if max(walls) > 5 * min(walls):  # one agent far slower: a log axis keeps the fast ones readable
        axes[1].set_xscale("log")
    axes[1].set_xlabel("wall-clock seconds (compile included)" + (", log scale" if max(walls) > 5 * min(walls) else ""))
    for ax in axes:
        ax.set_ylabel("training episode return")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    title = " vs ".join({"ppo": "PPO", "muesli": "Muesli", "muzero": "MuZero"}[x] for x in reversed(agents))
    fig.suptitle(f"{title} on {a.env}: {a.seeds} seeds each, {a.steps:,} env steps, 2-core CPU")
    fig.tight_layout()
    if a.out:
        out = Path(a.out)
    elif sorted(agents) == ["muesli", "ppo"]:
        out = HERE / "figures" / f"{a.env}_muesli_vs_ppo.png"
    else:
        out = HERE / "figures" / f"{a.env}_{'_vs_'.join(reversed(agents))}.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    for agent in agents:
        s = summaries[agent]
        print(f"  {agent}: greedy final_return {s['final_return']:.2f} +- {s['final_return_std']:.2f}, "
              f"{s['env_steps']:,} env steps, {s['env_steps_per_s']:,.0f} steps/s, wall {s['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
