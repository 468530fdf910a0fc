"""Muesli under Sebulba on host environments: training return against env steps and wall-clock, beside random.

    python -m experiments.muesli.sebulba_figure --run RUN_DIR:RANDOM_RETURN [--run ...] --out FILE.png

Each ``--run`` is a finished (or stopped) ``rlk train --arch sebulba`` run folder and the return of a uniformly
random policy on its env (from ``random_baseline.py``), drawn as a dashed line. One panel pair per run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.muesli.make_figures import curves  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", action="append", required=True, metavar="RUN_DIR:RANDOM_RETURN")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    fig, axes = plt.subplots(len(a.run), 2, figsize=(10, 3.4 * len(a.run)), squeeze=False)
    for row, spec in zip(axes, a.run):
        run_dir, _, random = spec.rpartition(":")
        run_dir = Path(run_dir)
        config = json.loads((run_dir / "config.json").read_text())
        summary_path = run_dir / "summary.json"
        greedy = ""
        if summary_path.exists():
            s = json.loads(summary_path.read_text())
            greedy = f", greedy {s['final_return']:.1f} over {s['eval_episodes']} episodes"
        for seed, pts in sorted(curves(run_dir).items()):
            steps, wall, ret = zip(*pts)
            row[0].plot(steps, ret, color="C0", label=f"muesli (seed {seed}{greedy})")
            row[1].plot(wall, ret, color="C0")
        for ax in row:
            ax.axhline(float(random), color="grey", ls="--", label="uniform random" if ax is row[0] else None)
            ax.set_ylabel("training episode return")
            ax.set_title(f"{config['env']['name']} (Sebulba)", fontsize=9)
            ax.grid(alpha=0.3)
        row[0].set_xlabel("env steps")
        row[1].set_xlabel("wall-clock seconds")
        row[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Muesli under Sebulba, 2-core shared CPU")
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
