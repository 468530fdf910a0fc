"""The README's figures: joint vs separate coding against bandwidth k, through the real CLI path.

    python -m experiments.bwlc_codec.figures --out experiments/bwlc_codec/figures

For each system it runs ``rlk train --model bwlc_codec --dataset digits --num-seeds S ...`` in a
subprocess (the run folder, checkpoints and ``summary.json`` are the ordinary ones), then, in this
process, ``rlk.core.run.evaluate_run`` (what ``rlk eval RUN --json`` prints) and
``rlk.core.run.sample_run`` (what ``rlk sample RUN`` tiles) on each run folder. It writes:

- ``distortion_vs_k.png``: MSE per pixel and the Frechet distance against k, joint vs separate, the
  mean over seeds with its 95% bootstrap interval shaded;
- ``results.md``: the same numbers as a table (mean [95% bootstrap interval] over seeds), with the command;
- ``samples.png``: the sample grids (rows: originals, then the receiver's samples at each k) of
  both systems' first seed;
- ``results.json``: every per-seed metric, for re-plotting.

``--runs DIR`` keeps the run folders (default: a temporary folder); with ``--reuse`` a folder that
already holds a finished run (``summary.json``) is evaluated without training it again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rlk.core import stats

SYSTEMS = ("joint", "separate")
COLOURS = {"joint": "tab:blue", "separate": "tab:orange"}
DEFAULT_KS = [1, 2, 3, 4, 6, 8, 12, 16]


def train_command(system: str, run_dir: Path, args) -> list[str]:
    """The ``rlk train`` command line of one system (what the figure's caption quotes)."""
    cmd = ["rlk", "train", "--model", "bwlc_codec", "--dataset", args.dataset, "--steps", str(args.steps),
           "--seed", str(args.seed), "--num-seeds", str(args.seeds), "-q", "--run-dir", str(run_dir),
           "-o", f"model.system={system}", "-o", "model.eval_ks=[" + ",".join(map(str, args.ks)) + "]",
           "-o", f"arch.sample_examples={args.columns}"]
    if args.snr_db is not None:
        cmd += ["-o", f"model.snr_db={args.snr_db}"]
    return cmd


def train(system: str, run_dir: Path, args) -> float:
    """Trains one system through the CLI (skipped with ``--reuse`` when the run is finished); wall seconds."""
    if args.reuse and (run_dir / "summary.json").is_file():
        return 0.0
    cmd = train_command(system, run_dir, args)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rlk.cli", *cmd[1:]], capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    print(proc.stdout.strip(), flush=True)
    return time.perf_counter() - t0


def collect(run_dirs: dict[str, Path], ks: list[int]) -> dict:
    """Per system: ``rlk eval``'s per-seed metrics, training throughput, and the sample grid."""
    from rlk.core.run import evaluate_run, sample_run

    out = {}
    for system, run_dir in run_dirs.items():
        result = evaluate_run(run_dir, episodes=1)
        summary = json.loads((run_dir / "summary.json").read_text())
        out[system] = {
            "metrics_per_seed": result["metrics_per_seed"],
            "seeds": summary["seeds"],
            "examples_per_s": summary["examples_per_s"],
            "updates": summary["updates"],
            "grid": np.asarray(sample_run(run_dir)),
        }
    return out


def _stats(per_seed: list[dict], name: str) -> tuple[float, float, float]:
    v = np.array([m[name] for m in per_seed], np.float64)
    return float(v.mean()), float(v.min()), float(v.max())


def _band(per_seed: list[dict], metric: str, ks: list[int]) -> np.ndarray:
    """``[3, len(ks)]``: the mean over seeds at each k and its 95% stratified-bootstrap interval
    (``rlk.core.stats``, 2,000 resamples, seeded); one seed: the value three times."""
    ys = np.array([[m[metric.format(k)] for k in ks] for m in per_seed], np.float64)
    if len(ys) == 1:
        return np.repeat(ys, 3, axis=0)
    return np.array(stats.band(ys, "mean", reps=2000, seed=0))


def plot_curves(results: dict, ks: list[int], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    panels = (("distortion_mse_k{}", "distortion (MSE per pixel)"), ("frechet_k{}", "Fréchet distance (classifier features)"))
    for ax, (metric, label) in zip(axes, panels):
        for system in SYSTEMS:
            s = _band(results[system]["metrics_per_seed"], metric, ks)
            n = len(results[system]["seeds"])
            ax.plot(ks, s[0], "o-", color=COLOURS[system], label=f"{system} (mean of {n} seed{'s' * (n > 1)})", ms=4)
            if n > 1:
                ax.fill_between(ks, s[1], s[2], color=COLOURS[system], alpha=0.25, lw=0)
        if metric.startswith("distortion"):
            base = _stats(results[SYSTEMS[0]]["metrics_per_seed"], "baseline_mse_mean_image")[0]
            ax.axhline(base, color="grey", ls=":", lw=1, label="mean image")
        else:
            ax.set_yscale("log")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks)
        ax.set_xticklabels([str(k) for k in ks])
        ax.set_xlabel("bandwidth k (symbols received of K = 16)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_samples(results: dict, ks: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SYSTEMS), figsize=(4.2 * len(SYSTEMS), 0.45 * (len(ks) + 1) + 0.6), dpi=100)
    for ax, system in zip(axes, SYSTEMS):
        g = np.clip(results[system]["grid"], 0.0, 1.0)  # [R, C, H, W]
        R, C, H, W = g.shape
        canvas = np.full((R * (H + 1) + 1, C * (W + 1) + 1), 0.5, np.float32)  # grey gaps
        for r in range(R):
            for c in range(C):
                canvas[1 + r * (H + 1): 1 + r * (H + 1) + H, 1 + c * (W + 1): 1 + c * (W + 1) + W] = g[r, c]
        ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks([1 + r * (H + 1) + H / 2 for r in range(R)])
        ax.set_yticklabels(["original"] + [f"k={k}" for k in ks], fontsize=8)
        ax.set_xticks([])
        ax.set_title(f"{system}: samples of the receiver", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)


def table(results: dict, ks: list[int], commands: list[str], machine: dict, wall_s: float) -> str:
    seeds = results[SYSTEMS[0]]["seeds"]
    lines = [
        "# BWLC codec: joint vs separate coding against bandwidth k",
        "",
        f"Generated by `python -m experiments.bwlc_codec.figures` ({machine['cpu']}, {machine['cores']} cores, "
        f"{wall_s:.0f} s in all). Runs:",
        "",
        "```bash",
        *commands,
        "rlk eval RUN_DIR --json   # per seed, on the test split",
        "```",
        "",
        f"Entries: the mean over seeds {', '.join(map(str, seeds))}, then its 95% stratified-bootstrap interval "
        "(`rlk.core.stats`, 2,000 resamples); bold: the lower mean. "
        "Predicting the mean test image gives MSE "
        f"{_stats(results[SYSTEMS[0]]['metrics_per_seed'], 'baseline_mse_mean_image')[0]:.4f}. "
        "The Fréchet distance is in the features of a CNN classifier trained on the same data (test accuracy "
        f"{_stats(results[SYSTEMS[0]]['metrics_per_seed'], 'classifier_test_accuracy')[0]:.3f}; not FID).",
        "",
    ]
    for metric, name, fmt in (("distortion_mse_k{}", "Distortion (MSE per pixel)", "{:.4f}"),
                              ("frechet_k{}", "Fréchet distance", "{:.2f}"),
                              ("nll_k{}", "NLL (nats per image)", "{:.1f}")):
        lines += [f"## {name}", "", "| system | " + " | ".join(f"k={k}" for k in ks) + " |",
                  "|---|" + "---|" * len(ks)]
        best = {k: min(SYSTEMS, key=lambda s: _stats(results[s]["metrics_per_seed"], metric.format(k))[0]) for k in ks}
        for system in SYSTEMS:
            cells = []
            band = _band(results[system]["metrics_per_seed"], metric, ks)
            for i, k in enumerate(ks):
                m, lo, hi = band[:, i]
                cell = fmt.format(m)
                cell = f"**{cell}**" if best[k] == system else cell
                if len(seeds) > 1:
                    cell += f" [{fmt.format(lo)}, {fmt.format(hi)}]"
                cells.append(cell)
            lines.append(f"| {system} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"Training throughput (`examples_per_s` of `summary.json`: per seed, the {len(seeds)} seeds trained at once "
              "in one program, on a shared machine): "
              + ", ".join(f"{s} {results[s]['examples_per_s']:,.0f} examples/s" for s in SYSTEMS) + ".", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the PNGs and results.md")
    p.add_argument("--runs", type=Path, default=None, help="folder for the run folders (default: a temporary one)")
    p.add_argument("--reuse", action="store_true", help="evaluate finished runs in --runs without training again")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--steps", type=int, default=1000, help="updates per run")
    p.add_argument("--seeds", type=int, default=3, help="seeds per system (--num-seeds: one program)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--ks", type=lambda s: [int(x) for x in s.split(",")], default=DEFAULT_KS, help="bandwidths, e.g. 1,2,4,16")
    p.add_argument("--columns", type=int, default=10, help="examples per sample grid")
    p.add_argument("--snr-db", type=float, default=None, help="AWGN channel at this SNR (default: noiseless)")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    tmp = None
    if args.runs is None:
        tmp = tempfile.TemporaryDirectory(prefix="bwlc-figures-")
        args.runs = Path(tmp.name)
    run_dirs = {s: args.runs / s for s in SYSTEMS}
    commands = []
    for system in SYSTEMS:
        commands.append(" ".join(c if "[" not in c else f"'{c}'" for c in train_command(system, Path(f"runs/{system}"), args)))
        train(system, run_dirs[system], args)
    results = collect(run_dirs, args.ks)
    info = json.loads((run_dirs[SYSTEMS[0]] / "run_info.json").read_text())["machine"]  # what rlk train recorded
    wall = time.perf_counter() - t0

    args.out.mkdir(parents=True, exist_ok=True)
    channel = "noiseless channel" if args.snr_db is None else f"AWGN {args.snr_db:g} dB"
    plot_curves(results, args.ks, args.out / "distortion_vs_k.png",
                f"BWLC codec on {args.dataset}, {channel}, {args.steps} updates, {args.seeds} seed(s)")
    plot_samples(results, args.ks, args.out / "samples.png")
    (args.out / "results.md").write_text(table(results, args.ks, commands, {"cpu": info["cpu"], "cores": info["cpu_count"]}, wall))
    (args.out / "results.json").write_text(json.dumps(
        {s: {k: v for k, v in r.items() if k != "grid"} for s, r in results.items()}, indent=1) + "\n")
    print(f"wrote {', '.join(str(args.out / n) for n in ('distortion_vs_k.png', 'samples.png', 'results.md', 'results.json'))}"
          f" in {wall:.0f} s")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
