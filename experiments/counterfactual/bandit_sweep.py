"""CCA vs the state-baseline PG on the bandit with feedback at high reward noise (README, round 7).

``python -m experiments.counterfactual.bandit_sweep --runs /work/runs/cca/bandit [--train]``

Every run: 150k env steps, 6 seeds in one program, ``env.reward_noise=10``, then ``rlk eval`` of the
greedy policy on 2,000 episodes *without* the reward noise (``-o env.reward_noise=0``: with it, 2,000
episodes have a standard error of 0.2 and say nothing; best possible 0.822). Settings (``SETTINGS``) x
entropy weights (``--entropies``) x seed sets (``--seed-sets``: ``--seed 0`` is seeds 0-5, ...), folders
``<setting>-ent<e>-seed<s>``; ``--train`` runs the missing ones (a folder holding ``eval_noise_free.json``
is kept). Writes

- ``<out>.md``: per (setting, entropy) the noise-free greedy return, mean +- standard error over all
  seeds and per seed set, the terminal reward along training (each log's mean over the seeds), and every
  CCA setting minus ``pg`` seed by seed (same seeds, same task: paired);
- ``<out>.png``: the terminal reward (the noisy reward of the training policy) against env steps, one
  line per setting, one panel per entropy weight, bands one standard error over seeds.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "figures" / "counterfactual_bandit"
BASELINE = "pg"
STEPS = 150_000
SEEDS_PER_RUN = 6

# short name -> (rlk train arguments)
SETTINGS = {
    "pg": ("--agent", "pg_baseline"),
    "cca_ls": ("--agent", "cca", "-o", "agent.hindsight_inputs=feature_innovations", "-o",
               "agent.model_fit=least_squares"),
    "cca_adam": ("--agent", "cca", "-o", "agent.hindsight_inputs=feature_innovations", "-o",
                 "agent.model_learning_rate=0.01"),
    "cca": ("--agent", "cca"),
    "oracle": ("--agent", "cca", "-o", "env.hindsight=mixed_noise", "-o", "agent.hindsight_inputs=features"),
}
LABELS = {
    "pg": "pg_baseline (state baseline)",
    "cca_ls": "cca, learned Phi over f - m(x, a), m least squares",
    "cca_adam": "cca, learned Phi over f - m(x, a), m by Adam (1e-2)",
    "cca": "cca, learned Phi over the raw feedback (paper's inputs)",
    "oracle": "cca, oracle Phi over W_eps eps (mixed_noise)",
}
CHECKPOINTS = (20_000, 40_000, 80_000)


def run_name(setting: str, entropy: float, seed_set: int) -> str:
    return f"{setting}-ent{entropy:g}-seed{seed_set}"


def train_missing(root: Path, settings: list[str], entropies: list[float], seed_sets: list[int]) -> None:
    rlk = [sys.executable, "-m", "rlk.cli"]
    for seed in seed_sets:
        for entropy in entropies:
            for name in settings:
                run_dir = root / run_name(name, entropy, seed)
                if (run_dir / "eval_noise_free.json").exists():
                    continue
                t = time.time()
                subprocess.run([*rlk, "train", *SETTINGS[name], "--env", "bandit-feedback", "--steps", str(STEPS),
                                "--num-seeds", str(SEEDS_PER_RUN), "--seed", str(seed), "-q", "--run-dir", str(run_dir),
                                "-o", "log_every_steps=10000", "-o", "env.reward_noise=10",
                                "-o", f"agent.loss_weights.entropy={entropy:g}"], check=True)
                out = subprocess.run([*rlk, "eval", str(run_dir), "--episodes", "2000", "-o", "env.reward_noise=0",
                                      "--json"], check=True, capture_output=True, text=True).stdout
                (run_dir / "eval_noise_free.json").write_text(out)
                print(f"  {run_dir.name}: {json.loads(out)['mean_return']:.3f} ({time.time() - t:.0f}s)", flush=True)


def read_run(run_dir: Path) -> dict:
    """``{greedy: [per seed], curve: (env_steps [K], terminal reward [S, K])}`` of one run folder."""
    greedy = json.loads((run_dir / "eval_noise_free.json").read_text())["per_seed_mean_return"]
    by_seed: dict[int, list] = defaultdict(list)
    with (run_dir / "metrics.csv").open() as f:
        for r in csv.DictReader(f):
            by_seed[int(float(r["seed"]))].append((float(r["env_steps"]), float(r["terminal_reward"])))
    curves = [np.array(sorted(by_seed[s])) for s in sorted(by_seed)]
    return {"greedy": [float(g) for g in greedy], "steps": curves[0][:, 0], "curve": np.stack([c[:, 1] for c in curves])}


def collect(root: Path, settings: list[str], entropies: list[float], seed_sets: list[int]) -> dict:
    """``{(setting, entropy): {seed_set: run}}`` for the folders found."""
    found: dict = defaultdict(dict)
    for name in settings:
        for entropy in entropies:
            for seed in seed_sets:
                d = root / run_name(name, entropy, seed)
                if (d / "eval_noise_free.json").exists():
                    found[(name, entropy)][seed] = read_run(d)
    return found


def _mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0


def markdown(found: dict, settings: list[str], entropies: list[float], seed_sets: list[int]) -> str:
    lines = [f"Bandit with feedback, `env.reward_noise=10`, {STEPS // 1000}k env steps, noise-free greedy return "
             f"(best possible 0.822), mean +- s.e. over seeds; seed sets {', '.join(map(str, seed_sets))} "
             f"({SEEDS_PER_RUN} seeds each). Terminal reward along training: the training policy's noisy reward, "
             "mean over seeds (interpolated).", "",
             "| setting | entropy | seeds | greedy return | per seed set | " +
             " | ".join(f"reward at {c // 1000}k" for c in CHECKPOINTS) + " | minus pg, paired (t) |",
             "|---|---|---|---|---|" + "---|" * len(CHECKPOINTS) + "---|"]
    for entropy in entropies:
        base = found.get((BASELINE, entropy), {})
        for name in settings:
            runs = found.get((name, entropy), {})
            if not runs:
                continue
            sets = sorted(runs)
            greedy = [g for s in sets for g in runs[s]["greedy"]]
            m, se = _mean_se(greedy)
            per_set = ", ".join(f"{np.mean(runs[s]['greedy']):.3f}" for s in sets)
            at = []
            for c in CHECKPOINTS:
                vals = [np.interp(c, runs[s]["steps"], row) for s in sets for row in runs[s]["curve"]]
                at.append(f"{np.mean(vals):.3f}")
            diff = "—"
            common = [s for s in sets if s in base]
            if name != BASELINE and common:
                d = [a - b for s in common for a, b in zip(runs[s]["greedy"], base[s]["greedy"])]
                dm, dse = _mean_se(d)
                diff = f"{dm:+.3f} +- {dse:.3f} ({dm / dse if dse else float('nan'):+.1f})"
            lines.append(f"| {LABELS.get(name, name)} | {entropy:g} | {len(greedy)} | {m:.3f} +- {se:.3f} | {per_set} | "
                         + " | ".join(at) + f" | {diff} |")
    return "\n".join(lines)


def plot(found: dict, settings: list[str], entropies: list[float], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(entropies), figsize=(6 * len(entropies), 4), squeeze=False, sharey=True)
    for ax, entropy in zip(axes[0], entropies):
        for name in settings:
            runs = found.get((name, entropy), {})
            if not runs:
                continue
            steps = next(iter(runs.values()))["steps"]
            curves = np.concatenate([np.stack([np.interp(steps, r["steps"], row) for row in r["curve"]]) for r in runs.values()])
            m, se = curves.mean(0), curves.std(0, ddof=1) / math.sqrt(len(curves))
            ax.plot(steps, m, label=f"{LABELS.get(name, name)} ({len(curves)} seeds)")
            ax.fill_between(steps, m - se, m + se, alpha=0.2)
        ax.axhline(0.822, color="gray", ls=":", lw=1)
        ax.set_title(f"bandit with feedback, reward noise 10, entropy {entropy:g}")
        ax.set_xlabel("env steps")
        ax.set_ylabel("reward of the training policy")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="/work/runs/cca/bandit", help="folder of the run folders")
    p.add_argument("--out", default=str(OUT), help="output prefix: <out>.md, <out>.png")
    p.add_argument("--train", action="store_true", help="first train the missing runs")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--entropies", type=float, nargs="+", default=[0.01, 0.05])
    p.add_argument("--seed-sets", type=int, nargs="+", default=[0, 10, 20, 30])
    args = p.parse_args(argv)
    root, out = Path(args.runs), Path(args.out)
    if args.train:
        train_missing(root, args.settings, args.entropies, args.seed_sets)
    found = collect(root, args.settings, args.entropies, args.seed_sets)
    text = markdown(found, args.settings, args.entropies, args.seed_sets)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text + "\n")
    plot(found, args.settings, args.entropies, out.with_suffix(".png"))
    print(text)


if __name__ == "__main__":
    main()
