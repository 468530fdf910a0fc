"""README figure: PPO with and without HiMo on two MinAtar games, training return over 3 seeds.

``python -m experiments.hindsight_value.figures [--steps 300000] [--seeds 3] [--runs runs/hindsight_value]``
trains whatever run is missing (``rlk train --agent ppo --env ENV --num-seeds 3`` with and without
``-o agent.loss_weights.himo=1 -o losses.himo.phi_size=3``; same budget, seeds and PPO defaults), then writes
``experiments/hindsight_value/figures/hindsight_value_minatar.png`` (mean +- std over seeds of the training episode return against
env steps) and prints the greedy final returns from each run's ``summary.json``.
The illustrative task's figure is made by ``python -m experiments.hindsight_value.illustrative``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from rlk.core.curves import read_series
from rlk.core.plotting import save_figure

ENVS = ("minatar-breakout", "minatar-asterix")
VARIANTS = {"ppo": ("PPO", []), "himo": ("PPO + HiMo", ["-o", "agent.loss_weights.himo=1", "-o", "losses.himo.phi_size=3"])}


def train(run_dir: Path, env: str, variant: str, steps: int, seeds: int) -> None:
    cmd = [sys.executable, "-m", "rlk.cli", "train", "--agent", "ppo", "--env", env, "--steps", str(steps),
           "--num-seeds", str(seeds), "-q", "-o", "log_every_steps=20000", "-o", "eval_episodes=20",
           *VARIANTS[variant][1], "--run-dir", str(run_dir)]
    print(" ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--runs", type=Path, default=Path("runs/hindsight_value"))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures" / "hindsight_value_minatar.png")
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ENVS), figsize=(5 * len(ENVS), 3.8))
    for ax, env in zip(axes, ENVS):
        for variant, (label, _) in VARIANTS.items():
            run_dir = args.runs / f"{env}-{variant}"
            if not (run_dir / "summary.json").is_file():
                train(run_dir, env, variant, args.steps, args.seeds)
            seeds = [(s.x, s.y) for s in read_series(run_dir, "env_steps", "episode_return")]
            grid = np.unique(np.concatenate([s[0] for s in seeds]))
            ys = np.stack([np.interp(grid, sx[~np.isnan(sy)], sy[~np.isnan(sy)]) for sx, sy in seeds])
            line, = ax.plot(grid, ys.mean(0), label=f"{label} ({len(ys)} seeds)")
            ax.fill_between(grid, ys.mean(0) - ys.std(0), ys.mean(0) + ys.std(0), color=line.get_color(), alpha=0.2)
            s = json.loads((run_dir / "summary.json").read_text())
            print(f"{env} {label}: greedy final_return {s['final_return']:.2f} +- {s['final_return_std']:.2f} "
                  f"(per seed {[round(v, 2) for v in s['final_return_per_seed']]}), {s['env_steps_per_s']:.0f} env steps/s")
        ax.set_title(env)
        ax.set_xlabel("env steps (per seed)")
        ax.set_ylabel("training episode return")
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
