"""How CCA's edge over the state-baseline PG moves with the apples' variance on Key-to-Door.

``python -m experiments.counterfactual.sweep_variance --runs /work/runs/cca [--train] [--curves]``

Reads every run folder under ``--runs`` (any depth: a folder with ``config.json``, ``summary.json`` and
``metrics.csv``, as ``rlk train --run-dir`` writes them), groups the Key-to-Door runs by agent setting
(the agent's options that differ from its defaults, and ``env.hindsight``) and ``env.apple_std``, pools
the seeds of every seed set (``--seed 0``, ``--seed 10``, ...) and writes

- ``<out>.md`` and ``<out>.csv``: per (setting, apple_std) the door reward at the end of training (the
  last logged ``terminal_reward`` of each seed, mean, std and standard error over seeds), at the env
  steps of ``--checkpoints`` (default 300k and 500k; each seed's curve interpolated), the greedy return of ``summary.json``, and each
  learned or oracle CCA setting minus ``pg_baseline`` on every seed set and pooled;
- ``<out>.png``: door reward vs apple_std, one line per setting, error bars one standard error over seeds.

``--train`` first runs the missing runs of the sweep (``SETTINGS`` x ``--stds`` x ``--seed-sets``, one at a
time, folders ``<setting>-s<std>-seed<seed>``; a folder that holds ``summary.json`` is kept).
``--curves`` also redraws ``<out folder>/counterfactual_curves.png`` from the folders found: one panel per
(env, apple_std) in ``--curve-panels`` (default Key-to-Door at apple_std 10, and the bandit when its
runs are there), one line per setting, all seeds pooled.
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

FIGURES = Path(__file__).resolve().parent / "figures"
OUT = FIGURES / "counterfactual_apple_std"
BASELINE = "pg_baseline"

# short name -> (rlk train arguments); the sweep's folders are <name>-s<std>-seed<seed>
SETTINGS = {
    "pg": ("--agent", "pg_baseline"),
    "cca_ri": ("--agent", "cca", "-o", "agent.hindsight_inputs=reward_innovations"),
    "cca_apples": ("--agent", "cca", "-o", "env.hindsight=apples", "-o", "agent.hindsight_inputs=features"),
    "cca_ri_l0": ("--agent", "cca", "-o", "agent.hindsight_inputs=reward_innovations", "-o",
                  "agent.loss_weights.cca_independence=0"),  # the lambda = 0 control (issue 32)
    "cca_all": ("--agent", "cca"),  # the paper's statistic: the raw future (next observation and reward)
}
# agent defaults that the labels leave out (as in CCAConfig / PGBaselineConfig)
AGENT_DEFAULTS = {"hindsight_inputs": "all", "critic_weighting": "policy", "hindsight_size": 32,
                  "classifier_steps": 5, "classifier_learning_rate": 0.01, "hindsight_learning_rate": 0.0003,
                  "learning_rate": 0.001, "num_envs": 64, "unroll_length": None, "gamma": 1.0,
                  "max_grad_norm": 1.0, "hidden_sizes": [64, 64]}
CHECKPOINTS = (300_000, 500_000)


# -- reading run folders ---------------------------------------------------------------------------------
def setting_label(config: dict) -> str:
    """``pg_baseline``, ``cca`` or ``cca [option=value, ...]``: the agent's name and the options that
    differ from the defaults (plus ``env.hindsight`` when it is not the observation)."""
    agent, env = config["agent"], config["env"]
    opts = [f"{k}={v}" for k, v in sorted(agent.items())
            if k in AGENT_DEFAULTS and v != AGENT_DEFAULTS[k] and not (isinstance(v, list) and list(v) == AGENT_DEFAULTS[k])]
    if agent.get("loss_weights", {}).get("cca_independence", 1.0) != 1.0:
        opts.append(f"lambda={agent['loss_weights']['cca_independence']:g}")
    if env.get("hindsight", "observation") != "observation":
        opts.insert(0, f"env.hindsight={env['hindsight']}")
    return agent["name"] + (f" [{', '.join(opts)}]" if opts else "")


def read_run(run_dir: Path) -> dict:
    """One run folder -> ``{label, env, apple_std, seed_set, seeds, door_end, door_<n>k, greedy}`` (per-seed lists)."""
    config = json.loads((run_dir / "config.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    by_seed: dict[int, list] = defaultdict(list)
    with (run_dir / "metrics.csv").open() as f:
        for r in csv.DictReader(f):
            by_seed[int(float(r.get("seed", 0)))].append((float(r["env_steps"]), float(r["terminal_reward"])))
    seeds = sorted(by_seed)
    curves = [np.array(sorted(by_seed[s])) for s in seeds]
    run = {"dir": str(run_dir), "label": setting_label(config), "env": config["env"]["name"],
           "apple_std": config["env"].get("apple_std"), "seed_set": int(config.get("seed", 0)),
           "seeds": summary.get("seeds", seeds), "door_end": [float(c[-1, 1]) for c in curves],
           "greedy": [float(x) for x in summary["final_return_per_seed"]], "curves": curves}
    for n in CHECKPOINTS:
        run[f"door_{n // 1000}k"] = [float(np.interp(n, c[:, 0], c[:, 1])) for c in curves]
    return run


def find_runs(root: Path) -> list[dict]:
    return [read_run(p.parent) for p in sorted(root.rglob("summary.json"))
            if (p.parent / "config.json").is_file() and (p.parent / "metrics.csv").is_file()]


# -- the table ---------------------------------------------------------------------------------------------
def _stats(x: list[float]) -> dict:
    a = np.asarray(x, float)
    sd = float(a.std(ddof=1)) if len(a) > 1 else float("nan")
    return {"mean": float(a.mean()), "std": sd, "sem": sd / math.sqrt(len(a)) if len(a) > 1 else float("nan")}


def build_table(runs: list[dict], env: str = "key-to-door") -> dict:
    """``{"rows": [...], "diffs": [...]}``. A row per (setting, apple_std), seeds pooled over seed sets;
    a diff per (non-baseline setting, apple_std): its mean door reward minus the baseline's, per seed set
    (sets both have) and pooled, with the pooled difference's standard error (Welch) and t."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        if r["env"] == env:
            groups[(r["label"], r["apple_std"])].append(r)
    rows = []
    for (label, std), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0] != BASELINE, kv[0][0])):
        rs = sorted(rs, key=lambda r: r["seed_set"])
        row = {"setting": label, "apple_std": std, "n_seeds": sum(len(r["door_end"]) for r in rs),
               "seed_sets": [r["seed_set"] for r in rs],
               "door_end_per_seed": [x for r in rs for x in r["door_end"]],
               "door_end_per_set": {r["seed_set"]: float(np.mean(r["door_end"])) for r in rs}}
        for key in ["door_end"] + [f"door_{n // 1000}k" for n in CHECKPOINTS] + ["greedy"]:
            for stat, v in _stats([x for r in rs for x in r[key]]).items():
                row[f"{key}_{stat}"] = v
        rows.append(row)
    base = {r["apple_std"]: r for r in rows if r["setting"] == BASELINE}
    diffs = []
    for r in rows:
        b = base.get(r["apple_std"])
        if r["setting"] == BASELINE or b is None:
            continue
        se = math.sqrt(r["door_end_sem"] ** 2 + b["door_end_sem"] ** 2)
        d = r["door_end_mean"] - b["door_end_mean"]
        diffs.append({"setting": r["setting"], "apple_std": r["apple_std"], "diff": d, "se": se,
                      "t": d / se if se > 0 else float("nan"),
                      "per_set": {s: r["door_end_per_set"][s] - b["door_end_per_set"][s]
                                  for s in r["door_end_per_set"] if s in b["door_end_per_set"]},
                      **{f"diff_{n // 1000}k": r[f"door_{n // 1000}k_mean"] - b[f"door_{n // 1000}k_mean"]
                         for n in CHECKPOINTS}})
    return {"rows": rows, "diffs": diffs}


def markdown(table: dict) -> str:
    f = lambda m, s: f"{m:.2f} +- {s:.2f}" if not math.isnan(s) else f"{m:.2f}"
    ks = [f"{n // 1000}k" for n in CHECKPOINTS]
    lines = ["| setting | apple_std | seeds (sets) | door reward at the end, mean +- s.e. (per seed set) | "
             + "".join(f"at {k} | " for k in ks) + "greedy return |", "|---|---|---|---|" + "---|" * len(ks) + "---|"]
    for r in table["rows"]:
        sets = ", ".join(f"{v:.2f}" for v in r["door_end_per_set"].values())
        lines.append(f"| {r['setting']} | {r['apple_std']:g} | {r['n_seeds']} ({', '.join(map(str, r['seed_sets']))}) | "
                     f"{f(r['door_end_mean'], r['door_end_sem'])} ({sets}) | "
                     + "".join(f"{f(r[f'door_{k}_mean'], r[f'door_{k}_sem'])} | " for k in ks)
                     + f"{f(r['greedy_mean'], r['greedy_sem'])} |")
    lines += ["", f"| setting minus {BASELINE} | apple_std | door reward at the end, +- s.e. (t) | per seed set | "
              + " | ".join(f"at {k}" for k in ks) + " |", "|---|---|---|---|" + "---|" * len(ks)]
    for d in table["diffs"]:
        per = ", ".join(f"{s}: {v:+.2f}" for s, v in d["per_set"].items())
        lines.append(f"| {d['setting']} | {d['apple_std']:g} | {d['diff']:+.2f} +- {d['se']:.2f} ({d['t']:+.1f}) | "
                     f"{per} | " + " | ".join(f"{d[f'diff_{k}']:+.2f}" for k in ks) + " |")
    return "\n".join(lines)


def write_csv(table: dict, path: Path) -> None:
    keys = ["setting", "apple_std", "n_seeds", "seed_sets"] + [
        f"{k}_{s}" for k in ["door_end"] + [f"door_{n // 1000}k" for n in CHECKPOINTS] + ["greedy"]
        for s in ("mean", "std", "sem")] + ["door_end_per_seed"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for r in table["rows"]:
            w.writerow([" ".join(f"{x:.4f}" for x in r[k]) if k == "door_end_per_seed" else
                        " ".join(map(str, r[k])) if k == "seed_sets" else
                        (f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]) for k in keys])


def plot_table(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    mid = CHECKPOINTS[-1]
    by_setting: dict[str, list] = defaultdict(list)
    for r in table["rows"]:
        by_setting[r["setting"]].append(r)
    for ax, key, title in ((axes[0], "door_end", "door reward at the end of training"),
                           (axes[1], f"door_{mid // 1000}k", f"door reward at {mid // 1000}k env steps")):
        for i, (label, rs) in enumerate(by_setting.items()):
            x = np.array([r["apple_std"] for r in rs], float) * (1 + 0.015 * (i - 1))  # small offsets
            n = sorted({r["n_seeds"] for r in rs})
            ax.errorbar(x, [r[f"{key}_mean"] for r in rs], yerr=[r[f"{key}_sem"] for r in rs], marker="o",
                        capsize=3, label=f"{label} ({'-'.join(map(str, (n[0], n[-1]) if len(n) > 1 else n))} seeds)")
        ax.set_xlabel("apple_std (distractor reward noise)")
        ax.set_ylabel(title + " (mean +- s.e. over seeds)")
        ax.set_title(f"Key-to-Door: {title}")
        ax.axhline(5.0, color="0.7", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(runs: list[dict], path: Path, panels: list[tuple[str, float | None]]) -> None:
    """Door / bandit reward along training, one panel per (env, apple_std), seeds pooled (mean +- std)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in panels if any(r["env"] == p[0] and (p[1] is None or r["apple_std"] == p[1]) for r in runs)]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (env, std) in zip(axes[0], panels):
        groups: dict[str, list] = defaultdict(list)
        for r in runs:
            if r["env"] == env and (std is None or r["apple_std"] == std):
                groups[r["label"]] += r["curves"]
        for label, curves in sorted(groups.items(), key=lambda kv: (kv[0] != BASELINE, kv[0])):
            grid = curves[0][:, 0]
            ys = np.stack([np.interp(grid, c[:, 0], c[:, 1]) for c in curves])
            m, s = ys.mean(0), ys.std(0)
            line, = ax.plot(grid, m, label=f"{label} ({len(ys)} seeds, mean +- std)")
            ax.fill_between(grid, m - s, m + s, color=line.get_color(), alpha=0.15)
        ax.set_title(env + (f" (apples=high, apple_std {std:g})" if std is not None else ""))
        ax.set_xlabel("env steps")
        ax.set_ylabel("reward of the last step (door / bandit reward), training policy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- training the sweep --------------------------------------------------------------------------------------
def train_missing(root: Path, stds: list[float], seed_sets: list[int], settings: list[str], steps: int) -> None:
    for seed in seed_sets:
        for std in stds:
            for name in settings:
                run_dir = root / f"{name}-s{std:g}-seed{seed}"
                if (run_dir / "summary.json").is_file():
                    continue
                cmd = [sys.executable, "-m", "rlk.cli", "train", *SETTINGS[name], "--env", "key-to-door",
                       "--steps", str(steps), "--num-seeds", "3", "--seed", str(seed), "-q", "--run-dir", str(run_dir),
                       "-o", "eval_episodes=1000", "-o", "log_every_steps=33333", "-o", f"env.apple_std={std:g}"]
                print("  " + " ".join(cmd[3:]), flush=True)
                t = time.time()
                subprocess.run(cmd, check=True)
                print(f"  {time.time() - t:.0f}s", flush=True)


def main(argv=None) -> None:
    global CHECKPOINTS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="/work/runs/cca", help="folder of the run folders (searched at any depth)")
    p.add_argument("--out", default=str(OUT), help="output prefix: <out>.md, <out>.csv, <out>.png")
    p.add_argument("--train", action="store_true", help="first train the missing runs of the sweep")
    p.add_argument("--stds", type=float, nargs="+", default=[5, 10, 20, 30])
    p.add_argument("--seed-sets", type=int, nargs="+", default=[0, 10])
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--curves", action="store_true", help="also redraw counterfactual_curves.png beside --out")
    p.add_argument("--checkpoints", type=int, nargs="+", default=list(CHECKPOINTS),
                   help="env steps at which the door reward is also reported (interpolated)")
    p.add_argument("--curve-std", type=float, default=10.0, help="apple_std of the Key-to-Door curves panel")
    args = p.parse_args(argv)
    root, out = Path(args.runs), Path(args.out)
    CHECKPOINTS = tuple(args.checkpoints)
    if args.train:
        train_missing(root, args.stds, args.seed_sets, args.settings, args.steps)
    runs = find_runs(root)
    table = build_table(runs)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(table)
    out.with_suffix(".md").write_text(text + "\n")
    write_csv(table, out.with_suffix(".csv"))
    plot_table(table, out.with_suffix(".png"))
    if args.curves:
        plot_curves(runs, out.parent / "counterfactual_curves.png", [("bandit-feedback", None), ("key-to-door", args.curve_std)])
    print(text)


if __name__ == "__main__":
    main()
