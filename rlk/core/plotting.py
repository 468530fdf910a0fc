"""Learning curves from run folders: mean and spread over seeds, one colour per run label."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from rlk.core.errors import RlkError


def run_label(run_dir: Path) -> str:
    cfg = run_dir / "config.json"
    if cfg.is_file():
        data = json.loads(cfg.read_text())
        agent, env = data.get("agent", {}).get("name"), data.get("env", {}).get("name")
        model, dataset = (data.get("model") or {}).get("name"), (data.get("dataset") or {}).get("name")
        return f"{agent or model} on {env if agent else dataset}"
    return run_dir.name


def load_curves(run_dirs: list[Path], x: str, y: str) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """``{label: [(x, y) per seed]}`` from each run's ``metrics.csv``."""
    curves: dict[str, list] = defaultdict(list)
    for d in run_dirs:
        path = d / "metrics.csv"
        if not path.is_file():
            raise RlkError(f"run folder '{d}' holds no metrics.csv")
        rows = list(csv.DictReader(path.open()))
        if rows and (x not in rows[0] or y not in rows[0]):
            raise RlkError(f"'{path}' has no column '{x if x not in rows[0] else y}'")
        by_seed: dict[str, list] = defaultdict(list)
        for r in rows:
            by_seed[r.get("seed", "0")].append((float(r[x]), float(r[y])))
        for pts in by_seed.values():
            arr = np.array(sorted(pts))
            curves[run_label(d)].append((arr[:, 0], arr[:, 1]))
    return curves


def plot_runs(run_dirs: list[Path], out: Path, x: str = "env_steps", y: str = "episode_return") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = load_curves(run_dirs, x, y)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, seeds in sorted(curves.items()):
        grid = np.unique(np.concatenate([s[0] for s in seeds]))
        ys = np.stack([np.interp(grid, sx[~np.isnan(sy)], sy[~np.isnan(sy)]) for sx, sy in seeds if np.any(~np.isnan(sy))])
        mean, std = ys.mean(0), ys.std(0)
        line, = ax.plot(grid, mean, label=f"{label} ({len(ys)} seed{'s' if len(ys) > 1 else ''})")
        ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(y.replace("_", " "))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
