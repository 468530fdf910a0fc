"""HiMo in RL on ``himo-reveal`` (``rlk/plugins/hindsight_value/envs.py``): PPO + HiMo against the
capacity-matched control (the same agent and HiMo networks, hindsight losses off) and plain PPO, paired
over seeds.

``python -m experiments.hindsight_value.reveal [--steps 300000] [--seeds 5] [--runs runs/hindsight_value_reveal]``
trains whatever arm is missing, each one ``rlk train --agent ppo --env himo-reveal --num-seeds S`` (seeds 0..S-1
in every arm, PPO's defaults) with:
- ``himo``: ``-o agent.loss_weights.himo=1`` (v_m is PPO's critic; phi over the next k = 5 steps);
- ``control``: the same plus ``-o losses.himo.model_free_control=true`` (the same heads, L_v+ and L_model off,
  v_m(x, g(x)) trained by PPO's value loss through g);
- ``ppo``: PPO's own critic (the baseline's network, for reference).
It prints, per arm, the greedy final return (``summary.json``, 100 episodes a seed) and the training return
over the last 20% of logged points, each as IQM and mean with 95% bootstrap CIs, HiMo minus each control on
the same seed (mean [95% CI], seeds HiMo ahead), the optimal and the uniform-random return of the task,
and writes ``figures/hindsight_value_reveal.png`` (training return, IQM and 95% CI).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core import stats
from rlk.core.curves import read_series
from rlk.plugins.hindsight_value.config import DelayedRevealConfig
from rlk.plugins.hindsight_value.envs import DelayedReveal
from rlk.core.plotting import save_figure

HIMO = ["-o", "agent.loss_weights.himo=1"]
ARMS = {"himo": ("PPO + HiMo", HIMO),
        "control": ("PPO + HiMo heads, hindsight losses off (capacity-matched)", HIMO + ["-o", "losses.himo.model_free_control=true"]),
        "ppo": ("PPO, its own critic", [])}


def train(run_dir: Path, arm: str, steps: int, seeds: int, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "rlk.cli", "train", "--agent", "ppo", "--env", "himo-reveal", "--steps", str(steps),
           "--num-seeds", str(seeds), "-q", "-o", "log_every_steps=10000", *ARMS[arm][1], *extra, "--run-dir", str(run_dir)]
    print(" ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


def reference_returns(n: int = 200_000) -> tuple[float, float]:
    """``(optimal, uniform random)`` expected return of the default task, over ``n`` contexts."""
    env = DelayedReveal(DelayedRevealConfig())
    x = jax.random.normal(jax.random.key(0), (n, env.config.context_dims))
    r = jax.vmap(env.door_rewards)(x)
    return float(jnp.mean(jnp.max(r, -1))), float(jnp.mean(r))


def ci_text(values: np.ndarray, reps: int = 2000) -> tuple[str, str]:
    (iqm, mean), ci = stats.iqm_and_mean(values, reps, seed=0)
    return f"{iqm:.3f} [{ci[0, 0]:.3f}, {ci[1, 0]:.3f}]", f"{mean:.3f} [{ci[0, 1]:.3f}, {ci[1, 1]:.3f}]"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--runs", type=Path, default=Path("runs/hindsight_value_reveal"))
    parser.add_argument("-o", dest="overrides", action="append", default=[], help="extra rlk override for every arm")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures" / "hindsight_value_reveal.png")
    args = parser.parse_args(argv)
    extra = [a for o in args.overrides for a in ("-o", o)]

    greedy, late, curves = {}, {}, {}
    for arm in ARMS:
        run_dir = args.runs / arm
        if not (run_dir / "summary.json").is_file():
            train(run_dir, arm, args.steps, args.seeds, extra)
        greedy[arm] = np.array(json.loads((run_dir / "summary.json").read_text())["final_return_per_seed"])
        series = read_series(run_dir, "env_steps", "episode_return")
        grid = np.unique(np.concatenate([s.x for s in series]))
        ys = np.stack([np.interp(grid, s.x, s.y) for s in series])
        curves[arm] = (grid, ys)
        late[arm] = ys[:, -max(1, len(grid) // 5):].mean(1)

    optimal, random = reference_returns()
    print(f"himo-reveal: optimal return {optimal:.3f}, uniform random {random:.3f}; {args.seeds} seeds x {args.steps} steps")
    print("| arm | greedy final return, IQM [95% CI] | mean [95% CI] | training return, last 20%: IQM [95% CI] | mean [95% CI] |")
    print("|---|---|---|---|---|")
    for arm, (label, _) in ARMS.items():
        print(f"| {label} | {' | '.join(ci_text(greedy[arm]))} | {' | '.join(ci_text(late[arm]))} |")
    print("| paired, same seed | greedy: HiMo minus it, mean [95% CI] | seeds HiMo ahead | training: HiMo minus it | seeds HiMo ahead |")
    print("|---|---|---|---|---|")
    for arm in ("control", "ppo"):
        g, t = greedy["himo"] - greedy[arm], late["himo"] - late[arm]
        print(f"| {ARMS[arm][0]} | {ci_text(g)[1]} | {int(np.sum(g > 0))}/{len(g)} | {ci_text(t)[1]} | {int(np.sum(t > 0))}/{len(t)} |")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for arm, colour in zip(ARMS, ("C3", "C0", "C7")):
        grid, ys = curves[arm]
        centre, low, high = stats.band(ys, "iqm", reps=2000, seed=0)
        ax.plot(grid, centre, color=colour, label=ARMS[arm][0])
        ax.fill_between(grid, low, high, color=colour, alpha=0.2)
    ax.axhline(optimal, color="k", ls="--", lw=0.8, label="optimal")
    ax.axhline(random, color="k", ls=":", lw=0.8, label="uniform random")
    ax.set_xlabel("env steps (per seed)")
    ax.set_ylabel("training episode return")
    ax.set_title(f"himo-reveal, IQM and 95% CI over {args.seeds} seeds", fontsize=10)
    ax.legend(fontsize=7)
    save_figure(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
