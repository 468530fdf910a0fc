"""The controls of CCA's learning results (issue 32): the independence loss off (lambda = 0) beside every
CCA setting, and the paper's statistic (the raw future: ``hindsight_inputs=all``) beside the innovations one.

``python -m experiments.counterfactual.controls --train --runs /work/runs/cca/controls``

Four tasks, each one ``rlk train`` program of ``--num-seeds`` seeds per setting (``--seed`` 0):

- ``bandit``: ``bandit-feedback``, ``env.reward_noise=10``, 150k env steps, entropy weight 0.05, scored by
  ``rlk eval RUN --episodes 2000 -o env.reward_noise=0`` (the greedy policy's noise-free return; best 0.822);
- ``k2d``: ``key-to-door``, ``env.apple_std=20``, 1M env steps, scored by the door reward of the training
  policy at the end (the last logged ``terminal_reward`` of each seed; 5 = always the key) and the greedy return
  of ``summary.json`` (1,000 episodes);
- ``interleave``: ``task-interleaving`` at its defaults (10 queries, reward scales 1 and 10, delay 3), 150k env
  steps; ``interleave_noisy``: 30 queries and reward noise 2 (an answer's return holds the rewards of up to
  29 later answers, of both tasks). Scored by the greedy return (1,000 episodes) and by the training return
  averaged over the run's rows (how fast it learns; at the defaults every greedy return ends near the optimum).

``--bandit-bias`` adds the exact-gradient bias row of each bandit CCA setting: ``study.learned_hindsight_study`` at the
same reward noise (10), lambda 1 and 0, written to ``figures/counterfactual_controls_bandit_bias.json``
(Key-to-Door's rows: ``key_to_door_bias.py``).

Writes ``figures/counterfactual_controls.md``: per (task, setting) the mean and IQM over seeds with 95%
stratified-bootstrap intervals (``rlk.core.stats``), and each setting minus ``pg`` (bootstrap interval of the
difference of means, the seeds paired).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from rlk.core import stats

OUT = Path(__file__).resolve().parent / "figures" / "counterfactual_controls.md"
L0 = ("-o", "agent.loss_weights.cca_independence=0")
LS = ("-o", "agent.hindsight_inputs=feature_innovations", "-o", "agent.model_fit=least_squares")
RI = ("-o", "agent.hindsight_inputs=reward_innovations")
# the settings of the tasks whose hindsight is a future of observations and rewards
RI_SETTINGS = {
    "pg": ("pg_baseline (state baseline)", ("--agent", "pg_baseline")),
    "cca_ri": ("cca, Phi over reward innovations r - m(x, a)", ("--agent", "cca", *RI)),
    "cca_ri_l0": ("same, lambda = 0 (no independence loss)", ("--agent", "cca", *RI, *L0)),
    "cca_all": ("cca, Phi over the raw future (next observation, reward; paper)", ("--agent", "cca")),
    "cca_all_l0": ("same, lambda = 0", ("--agent", "cca", *L0)),
}
# task -> (rlk train arguments of every setting, {setting: (label, arguments)})
TASKS = {
    "bandit": (("--env", "bandit-feedback", "--steps", "150000", "-o", "log_every_steps=10000",
                "-o", "env.reward_noise=10", "-o", "agent.loss_weights.entropy=0.05"), {
        "pg": ("pg_baseline (state baseline)", ("--agent", "pg_baseline")),
        "cca_ls": ("cca, Phi over innovations f - m(x, a), m least squares", ("--agent", "cca", *LS)),
        "cca_ls_l0": ("same, lambda = 0 (no independence loss)", ("--agent", "cca", *LS, *L0)),
        "cca_all": ("cca, Phi over the raw feedback (paper)", ("--agent", "cca")),
        "cca_all_l0": ("same, lambda = 0", ("--agent", "cca", *L0)),
    }),
    "k2d": (("--env", "key-to-door", "--steps", "1000000", "-o", "log_every_steps=33333", "-o", "eval_episodes=1000",
             "-o", "env.apple_std=20"), RI_SETTINGS),
    "interleave": (("--env", "task-interleaving", "--steps", "150000", "-o", "log_every_steps=10000",
                    "-o", "eval_episodes=1000"), RI_SETTINGS),
    "interleave_noisy": (("--env", "task-interleaving", "-o", "env.num_queries=30", "-o", "env.reward_noise=2",
                          "--steps", "150000", "-o", "log_every_steps=10000", "-o", "eval_episodes=1000"), RI_SETTINGS),
}


def train_missing(root: Path, tasks: list[str], num_seeds: int, seed: int) -> None:
    """Runs every missing ``<task>-<setting>`` folder (a folder holding ``score.json`` is kept)."""
    rlk = [sys.executable, "-m", "rlk.cli"]
    for task in tasks:
        common, settings = TASKS[task]
        for name, (_, args) in settings.items():
            run_dir = root / f"{task}-{name}"
            if (run_dir / "score.json").exists():
                continue
            t = time.time()
            subprocess.run([*rlk, "train", *args, *common, "--num-seeds", str(num_seeds), "--seed", str(seed), "-q",
                            "--run-dir", str(run_dir)], check=True)
            score = {"greedy": json.loads((run_dir / "summary.json").read_text())["final_return_per_seed"]}
            if task == "k2d":
                score["terminal_reward"] = final_terminal_reward(run_dir)
            if task == "bandit":
                out = subprocess.run([*rlk, "eval", str(run_dir), "--episodes", "2000", "-o", "env.reward_noise=0",
                                      "--json"], check=True, capture_output=True, text=True).stdout
                score["greedy"] = json.loads(out)["per_seed_mean_return"]
            (run_dir / "score.json").write_text(json.dumps(score))
            door = f", terminal reward {np.mean(score['terminal_reward']):.3f}" if "terminal_reward" in score else ""
            print(f"  {run_dir.name}: greedy {np.mean(score['greedy']):.3f}{door} ({time.time() - t:.0f}s)", flush=True)


BANDIT_BIAS = {  # setting -> learned_hindsight_study arguments
    "cca_ls": {"hindsight_inputs": "feature_innovations", "model_fit": "least_squares", "independence_weight": 1.0},
    "cca_ls_l0": {"hindsight_inputs": "feature_innovations", "model_fit": "least_squares", "independence_weight": 0.0},
    "cca_all": {"hindsight_inputs": "all", "independence_weight": 1.0},
    "cca_all_l0": {"hindsight_inputs": "all", "independence_weight": 0.0},
}


def bandit_bias(out: Path, train_steps: int = 1000, probe_steps: int = 200) -> list[dict]:
    """The bias of each bandit CCA setting at a fixed policy against the exact gradient (reward noise 10)."""
    from experiments.counterfactual.study import learned_hindsight_study
    from rlk.plugins.counterfactual.config import BanditFeedbackConfig

    rows = []
    for name, kwargs in BANDIT_BIAS.items():
        t = time.time()
        r = learned_hindsight_study(train_steps=train_steps, probe_steps=probe_steps,
                                    env_config=BanditFeedbackConfig(reward_noise=10.0), **kwargs)
        rows.append({"setting": name, **r})
        print(f"  {name}: relative bias {r['bias_cca']:.3f} (z {r['z_cca']:.1f}), state {r['bias_state']:.3f} "
              f"(z {r['z_state']:.1f}) ({time.time() - t:.0f}s)", flush=True)
        out.write_text(json.dumps(rows, indent=1))
    return rows


def column_by_seed(run_dir: Path, column: str) -> dict[int, list[tuple[float, float]]]:
    """Each seed's ``(env_steps, column)`` rows of ``metrics.csv``, in step order."""
    by_seed: dict[int, list] = defaultdict(list)
    with (run_dir / "metrics.csv").open() as f:
        for r in csv.DictReader(f):
            by_seed[int(float(r.get("seed", 0)))].append((float(r["env_steps"]), float(r[column])))
    return {s: sorted(rows) for s, rows in sorted(by_seed.items())}


def final_terminal_reward(run_dir: Path) -> list[float]:
    """The last logged ``terminal_reward`` of each seed in ``metrics.csv``."""
    return [rows[-1][1] for rows in column_by_seed(run_dir, "terminal_reward").values()]


def mean_training_return(run_dir: Path) -> list[float]:
    """Each seed's training ``episode_return`` averaged over the run's rows (the area under its learning curve
    divided by the run's length): how fast it learns, where the greedy return at the end saturates."""
    return [float(np.mean([v for _, v in rows])) for rows in column_by_seed(run_dir, "episode_return").values()]


def summarise(scores: np.ndarray, reps: int = 2000, seed: int = 0) -> str:
    """``mean [lo, hi]; IQM [lo, hi]`` over the seeds ``scores [S]``, 95% bootstrap intervals."""
    point, ci = stats.iqm_and_mean(np.asarray(scores, float), reps, seed)
    return f"{point[1]:.3f} [{ci[0, 1]:.3f}, {ci[1, 1]:.3f}] | {point[0]:.3f} [{ci[0, 0]:.3f}, {ci[1, 0]:.3f}]"


def paired_difference(x: np.ndarray, y: np.ndarray, reps: int = 2000, seed: int = 0) -> str:
    """Mean of ``x - y`` (seeds paired) and its 95% bootstrap interval."""
    point, ci = stats.interval(np.asarray(x, float)[:, None] - np.asarray(y, float)[:, None],
                               lambda s: np.array([s.mean()]), reps, seed)
    return f"{point[0]:+.3f} [{ci[0, 0]:+.3f}, {ci[1, 0]:+.3f}]"


def markdown(root: Path, tasks: list[str]) -> str:
    lines = []
    for task in tasks:
        _, settings = TASKS[task]
        scores = {n: json.loads((root / f"{task}-{n}" / "score.json").read_text()) for n in settings
                  if (root / f"{task}-{n}" / "score.json").exists()}
        if not scores:
            continue
        if task.startswith("interleave"):  # the curve's area, read from the runs' rows
            scores = {n: {**s, "auc": mean_training_return(root / f"{task}-{n}")} for n, s in scores.items()}
        metrics = ("greedy", "terminal_reward") if task == "k2d" else ("greedy", "auc") if task.startswith("interleave") else ("greedy",)
        names = {"greedy": "noise-free greedy return" if task == "bandit" else "greedy return",
                 "terminal_reward": "door reward at the end", "auc": "training return averaged over the run"}
        head = " | ".join(f"{names[m]}: mean [95% CI] | IQM [95% CI] | minus pg [95% CI]" for m in metrics)
        lines += [f"**{task}** ({len(next(iter(scores.values()))['greedy'])} seeds)", "",
                  f"| setting | {head} |", "|---|" + "---|---|---|" * len(metrics)]
        for n, s in scores.items():
            cells = []
            for m in metrics:
                diff = paired_difference(s[m], scores["pg"][m]) if n != "pg" and "pg" in scores else "—"
                cells.append(f"{summarise(s[m])} | {diff}")
            lines.append(f"| {settings[n][0]} (`{n}`) | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def sweep_markdown(root: Path, std: float = 20.0) -> str:
    """The Key-to-Door runs of ``sweep_variance`` (folders ``<setting>-s<std>-seed<set>``, 3 seeds each) at one
    ``apple_std``: per setting the door reward at the end and the greedy return, seed sets pooled, mean and IQM
    with 95% bootstrap intervals, and the seed sets found."""
    from experiments.counterfactual.sweep_variance import SETTINGS, read_run

    lines = [f"**Key-to-Door, apple_std {std:g}** (`sweep_variance` runs, 1M steps)", "",
             "| setting | seeds (sets) | door reward at the end: mean [95% CI] | IQM [95% CI] | greedy return: mean [95% CI] "
             "| IQM [95% CI] |", "|---|---|---|---|---|---|"]
    for name in SETTINGS:
        runs = [read_run(d) for d in sorted(root.glob(f"{name}-s{std:g}-seed*")) if (d / "summary.json").is_file()]
        if not runs:
            continue
        door = np.array([x for r in runs for x in r["door_end"]])
        greedy = np.array([x for r in runs for x in r["greedy"]])
        lines.append(f"| {runs[0]['label']} | {len(door)} ({', '.join(str(r['seed_set']) for r in runs)}) | "
                     f"{summarise(door)} | {summarise(greedy)} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="/work/runs/cca/controls", help="folder of the run folders")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--train", action="store_true", help="first train the missing runs")
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--num-seeds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bandit-bias", action="store_true", help="only the bandit's exact-gradient bias rows")
    p.add_argument("--sweep-runs", default=None, help="also tabulate sweep_variance's Key-to-Door runs in this folder")
    args = p.parse_args(argv)
    root = Path(args.runs)
    if args.bandit_bias:
        bandit_bias(OUT.with_name("counterfactual_controls_bandit_bias.json"))
        return
    if args.train:
        train_missing(root, args.tasks, args.num_seeds, args.seed)
    text = markdown(root, args.tasks)
    if args.sweep_runs:
        text += "\n" + sweep_markdown(Path(args.sweep_runs))
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
