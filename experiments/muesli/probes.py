"""Issue 29 item 1: why Muesli trails PPO on MinAtar, one suspect at a time.

    python -m experiments.muesli.probes [--env minatar-breakout] [--steps 1000000] [--seeds 5]
        [--runs RUNS] [--only NAME,NAME] [--table FILE.md]

Each probe is Muesli's CI-sized setting (``make_figures.TOY``) with one change, trained with ``--num-seeds S``
in one program; PPO (its defaults) and the unchanged setting (``base``) are trained once with the same
command as ``make_figures`` (their folders are shared with it, so a finished run is read back, not retrained).
The table: each arm's greedy ``final_return`` per seed (``eval_episodes`` episodes after training), its IQM
and mean with 95% stratified-bootstrap intervals, P(arm > base) and P(arm > PPO) (rliable, via
``rlk.core.compare``), env steps/s, and diagnostics averaged over the last tenth of training (the advantage
normaliser sigma, the CMPO KL, the model and value losses, the clipped importance weight rho).
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.muesli.make_figures import train
from rlk.core import stats

# name -> (why, overrides on top of the CI-sized setting)
PROBES: dict[str, tuple[str, list[str]]] = {
    "base": ("the CI-sized setting (hidden [64], latent 32, 41 atoms, 16 envs, Adam 1e-3, replay 0.5)", []),
    "mlp64x64": ("PPO's capacity: two hidden layers of 64", ["agent.hidden_sizes=[64,64]"]),
    "lr3e-3": ("a larger step (PPO uses 2.5e-3)", ["agent.learning_rate=3e-3"]),
    "envs64": ("PPO's batch: 64 envs x 16 steps an update (4x fewer updates per env step)", ["agent.num_envs=64"]),
    "replay0": ("no replay (on-policy only, as PPO)", ["agent.replay_fraction=0.0"]),
    "replay0.8": ("more replay (the paper's Atari share is 0.95 of the batch)", ["agent.replay_fraction=0.8"]),
    "entropy": ("PPO's entropy bonus (0.01) composed onto Muesli", ["agent.loss_weights.entropy=0.01"]),
    "K1": ("a one-step model unroll", ["agent.model_unroll=1"]),
    "target0.01": ("a slower target network (EMA 0.01)", ["agent.target_ema=0.01"]),
    "hidden128": ("Muesli's shipped net (hidden 128, latent 64)", ["agent.hidden_sizes=[128]", "agent.latent_size=64"]),
}
DIAGNOSTICS = ("adv_sigma", "muesli_cmpo", "muesli_model", "muesli_value", "muesli_pg/rho")


def late_means(run_dir: Path) -> dict[str, float]:
    """Each diagnostic column averaged over the rows of the last tenth of env steps, all seeds."""
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    last = max(float(r["env_steps"]) for r in rows)
    late = [r for r in rows if float(r["env_steps"]) >= 0.9 * last]
    out = {}
    for col in DIAGNOSTICS:
        vals = [float(r[col]) for r in late if r.get(col) not in (None, "", "nan")]
        out[col] = float(np.mean(vals)) if vals else math.nan
    return out


def fmt(point: float, ci) -> str:
    return f"{point:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="minatar-breakout")
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--runs", default="runs/muesli-figures")
    p.add_argument("--only", default=",".join(PROBES), help=f"comma-separated, from {','.join(PROBES)}")
    p.add_argument("--table", default=None, help="also write the markdown table here")
    a = p.parse_args(argv)
    names = ["base", *[n for n in a.only.split(",") if n != "base"]]
    unknown = [n for n in names if n not in PROBES]
    if unknown:
        p.error(f"unknown probe(s) {unknown}; choose from {list(PROBES)}")
    runs = Path(a.runs)
    ppo = train("ppo", a.env, a.steps, a.seeds, runs / f"ppo-{a.env}", [])
    summaries = {}
    for n in names:
        folder = runs / (f"muesli-{a.env}" if n == "base" else f"muesli-{a.env}-{n}")
        extra = [x for o in PROBES[n][1] for x in ("-o", o)]
        summaries[n] = (folder, train("muesli", a.env, a.steps, a.seeds, folder, extra))

    scores = {n: np.array(s["final_return_per_seed"]) for n, (_, s) in summaries.items()}
    ppo_scores = np.array(ppo["final_return_per_seed"])
    reps, seed = 2000, 0
    lines = [f"{a.env}, {a.steps:,} env steps, {a.seeds} seeds per arm (greedy final_return per seed; IQM [95% CI])", "",
             "| arm | change | IQM | mean | P(arm > base) | P(arm > PPO) | steps/s | sigma | CMPO KL | model | value | rho |",
             "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    point, ci = stats.iqm_and_mean(ppo_scores, reps, seed)
    lines.append(f"| PPO | defaults | {fmt(point[0], ci[:, 0])} | {fmt(point[1], ci[:, 1])} | | | "
                 f"{ppo['env_steps_per_s']:,.0f} | | | | | |")
    for n in names:
        folder, s = summaries[n]
        point, ci = stats.iqm_and_mean(scores[n], reps, seed)
        p_base = "" if n == "base" else fmt(*stats.probability_of_improvement(scores[n], scores["base"], reps, seed))
        p_ppo = fmt(*stats.probability_of_improvement(scores[n], ppo_scores, reps, seed))
        d = late_means(folder)
        lines.append(f"| {n} | {PROBES[n][0]} | {fmt(point[0], ci[:, 0])} | {fmt(point[1], ci[:, 1])} | {p_base} | "
                     f"{p_ppo} | {s['env_steps_per_s']:,.0f} | " + " | ".join(f"{d[c]:.3g}" for c in DIAGNOSTICS) + " |")
    table = "\n".join(lines)
    print(table)
    if a.table:
        Path(a.table).write_text(table + "\n")


if __name__ == "__main__":
    main()
