"""``rlk compare``: each group's final score per seed, its IQM and mean with 95% bootstrap intervals, and the
probability of improvement between every two groups (rliable; see ``rlk.core.stats``).

A seed's final score is, with ``score="final"``, its greedy ``final_return`` from ``summary.json``
(``final_return_per_seed``: ``eval_episodes`` episodes after training); with ``score="last"``, the last
finite value of a metrics.csv column (``episode_return``: the training policy's last logged return).
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rlk.core import curves as runs
from rlk.core import stats
from rlk.core.errors import RlkError


def final_returns(run_dir: Path) -> list[float]:
    """``final_return_per_seed`` of a finished run."""
    path = run_dir / "summary.json"
    if not run_dir.is_dir():
        raise RlkError(f"run folder '{run_dir}' does not exist")
    if not path.is_file():
        raise RlkError(f"run folder '{run_dir}' holds no summary.json (not finished?): use --score last")
    try:
        per_seed = json.loads(path.read_text()).get("final_return_per_seed")
    except ValueError as exc:
        raise RlkError(f"'{path}' is not valid JSON ({exc})") from None
    if not per_seed:
        raise RlkError(f"'{path}' has no final_return_per_seed (a model run?): use --score last --y COLUMN")
    return [float(v) for v in per_seed]


def group_scores(group: runs.Group, score: str, y: str) -> np.ndarray:
    """The group's final scores, one per seed: [S]."""
    if score == "final":
        return np.array([v for d in group.runs for v in final_returns(d)])
    return np.array([s.y[-1] for d in group.runs for s in runs.read_series(d, "env_steps", y)])


def compare(run_dirs: Sequence[Path], labels: Sequence[str] = (), group_by: Sequence[str] = (), score: str = "final",
            y: str = "episode_return", reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The comparison as plain data: ``groups`` (scores, IQM, mean, their CIs) and ``improvement``
    (``P(x > y)`` and its CI for every two groups, in the order given)."""
    groups = runs.group_runs(run_dirs, labels, group_by)
    scores = {g.label: group_scores(g, score, y) for g in groups}
    rows = []
    for g in groups:
        point, ci = stats.iqm_and_mean(scores[g.label], reps, seed)
        rows.append({"label": g.label, "runs": [str(d) for d in g.runs], "scores": scores[g.label].tolist(),
                     "iqm": float(point[0]), "iqm_ci": ci[:, 0].tolist(),
                     "mean": float(point[1]), "mean_ci": ci[:, 1].tolist()})
    improvement = []
    for a, b in combinations(groups, 2):
        p, ci = stats.probability_of_improvement(scores[a.label], scores[b.label], reps, seed)
        improvement.append({"x": a.label, "y": b.label, "p": p, "ci": ci.tolist()})
    what = "final_return_per_seed (summary.json, greedy)" if score == "final" else f"last logged {y} (metrics.csv)"
    return {"score": what, "confidence": stats.CONFIDENCE, "reps": reps, "seed": seed,
            "groups": rows, "improvement": improvement}
