"""Learning curves from run folders: one curve per run (or per ``--group-by`` value), a statistic across
its seeds with a 95% bootstrap band, drawn only where every seed has data.

``build_curves`` returns exactly what ``draw`` puts on the figure, so tests and ``rlk plot --json`` read
the data a plot is made of.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from rlk.core import curves as runs
from rlk.core import stats
from rlk.core.errors import RlkError


class Curve(NamedTuple):
    """One line of the plot. ``x``, ``center``, ``low``, ``high``: [T]; ``center`` is ``stat`` across the
    ``seeds`` members at each x, ``low``/``high`` its 95% bootstrap interval; ``ends``: each member's last
    logged x (the curve stops at the smallest)."""

    label: str
    stat: str
    x: np.ndarray
    center: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int
    runs: list[str]
    ends: list[float]

    def as_json(self) -> dict[str, Any]:
        return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in self._asdict().items()}


def run_label(run_dir: Path) -> str:
    """``"agent on env"`` (or ``"model on dataset"``) from a run's config, else the folder name."""
    cfg = run_dir / "config.json"
    if cfg.is_file():
        data = json.loads(cfg.read_text())
        agent, env = data.get("agent", {}).get("name"), data.get("env", {}).get("name")
        model, dataset = (data.get("model") or {}).get("name"), (data.get("dataset") or {}).get("name")
        return f"{agent or model} on {env if agent else dataset}"
    return run_dir.name


def build_curves(run_dirs: Sequence[Path], x: str = "env_steps", y: str = "episode_return", labels: Sequence[str] = (),
                 group_by: Sequence[str] = (), stat: str = "iqm", reps: int = 2000, seed: int = 0) -> list[Curve]:
    """One ``Curve`` per group of ``run_dirs`` (see ``rlk.core.curves.group_runs``)."""
    out = []
    for group in runs.with_members(runs.group_runs(run_dirs, labels, group_by), x, y):
        grid, ys = runs.align(group)
        center, low, high = stats.band(ys, stat, reps, seed)
        out.append(Curve(group.label, stat, grid, center, low, high, len(ys), [str(d) for d in group.runs],
                         [float(m.x[-1]) for m in group.members]))
    return out


def check_output(out: Path) -> None:
    """A one-line error, before any work, for an output matplotlib cannot write or a folder that cannot hold it."""
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in kinds:
        raise RlkError(f"--out '{out}': unknown image type '{out.suffix or '(none)'}' (one of {', '.join(kinds)})")
    if out.is_dir():
        raise RlkError(f"--out '{out}' is a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RlkError(f"--out '{out}': '{parent}' is a file, not a folder")
            break


def draw(curves: Sequence[Curve], out: Path, x: str, y: str) -> Path:
    """The curves as an image at ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for c in curves:
        line, = ax.plot(c.x, c.center, label=f"{c.label} ({c.seeds} seed{'s' if c.seeds > 1 else ''})")
        ax.fill_between(c.x, c.low, c.high, color=line.get_color(), alpha=0.2)
    ax.set_xlabel(x.replace("_", " "))
    stat = curves[0].stat if curves else "iqm"
    ax.set_ylabel(f"{y.replace('_', ' ')}\n({stat.upper() if stat == 'iqm' else stat} over seeds, 95% bootstrap CI)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    try:
        return save_figure(fig, out)
    except OSError as exc:
        raise RlkError(f"--out '{out}': cannot write ({exc.strerror or exc})") from None


def save_figure(fig: Any, out: Path, dpi: int = 120) -> Path:
    """A finished matplotlib figure laid out, written to ``out`` (its folder made) and closed; returns ``out``."""
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi)
    finally:
        plt.close(fig)
    return Path(out)
