"""Run folders as data: each seed's logged curve, runs grouped into labelled curves, groups aligned on x.

A *member* is one seed of one run folder (a run trained with ``--num-seeds 3`` has three). A *group* is
the members one curve or one table row is built from: one run folder (label: its folder name, or a
``--label``), or, with ``--group-by FIELD``, every run whose config has the same value of FIELD; runs in
one group must differ in nothing but their seeds (else a one-line error names the field).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from rlk.core.errors import RlkError
from rlk.core.logging import flatten

# Config fields that do not change what a seed learns: runs differing only in these may share a group.
SEED_FIELDS = frozenset({"seed", "num_seeds", "run_dir", "checkpoint_every_steps", "eval_every_steps",
                         "keep_checkpoints", "keep_best"})


class Series(NamedTuple):
    """One seed's logged metric. ``x``, ``y``: [T], ``x`` strictly increasing, ``y`` finite."""

    run_dir: Path
    seed: int
    x: np.ndarray
    y: np.ndarray


class Group(NamedTuple):
    """The members one curve or one table row is built from."""

    label: str
    runs: list[Path]
    members: list[Series]


def read_series(run_dir: Path, x: str, y: str) -> list[Series]:
    """Each seed's ``(x, y)`` from ``RUN/metrics.csv``; rows whose ``y`` is empty or NaN are left out, and
    a repeated ``x`` (a resumed run's re-logged row) keeps its last value."""
    path = run_dir / "metrics.csv"
    if not run_dir.is_dir():
        raise RlkError(f"run folder '{run_dir}' does not exist")
    if not path.is_file():
        raise RlkError(f"run folder '{run_dir}' holds no metrics.csv")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in (x, y) if c not in (reader.fieldnames or [])]
        if missing:
            raise RlkError(f"'{path}' has no column '{missing[0]}'")
        points: dict[int, dict[float, float]] = {}
        for row in reader:
            value = _number(row[y])
            if math.isfinite(value):
                points.setdefault(int(row.get("seed") or 0), {})[_number(row[x])] = value
    series = []
    for seed, by_x in sorted(points.items()):
        xs = np.array(sorted(by_x))
        series.append(Series(run_dir, seed, xs, np.array([by_x[v] for v in xs])))
    if not series:
        raise RlkError(f"'{path}' has no finite value of '{y}'")
    return series


def _number(text: Optional[str]) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def run_config(run_dir: Path) -> dict[str, Any]:
    """``RUN/config.json`` as a dict."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise RlkError(f"run folder '{run_dir}' holds no config.json (needed by --group-by)")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise RlkError(f"'{path}' is not valid JSON ({exc})") from None


def group_runs(run_dirs: Sequence[Path], labels: Sequence[str] = (), group_by: Sequence[str] = ()) -> list[Group]:
    """The groups of ``run_dirs``: one per run (named by ``labels``, else by folder name), or one per
    value of the ``group_by`` config fields, in order of first appearance."""
    run_dirs = list(run_dirs)
    if len({d.resolve() for d in run_dirs}) < len(run_dirs):
        raise RlkError("a run folder is given twice")
    if labels and group_by:
        raise RlkError("--label and --group-by exclude each other (--group-by names its groups by value)")
    if group_by:
        return _grouped(run_dirs, list(group_by))
    if labels:
        if len(labels) != len(run_dirs):
            raise RlkError(f"--label given {len(labels)} times for {len(run_dirs)} run folders (one per run)")
        if len(set(labels)) < len(labels):
            raise RlkError("--label values must differ (to pool runs' seeds use --group-by)")
        names = list(labels)
    else:
        names = [d.name or str(d) for d in run_dirs]
        if len(set(names)) < len(names):  # a/run and b/run: the paths as given
            names = [str(d) for d in run_dirs]
    return [Group(name, [d], []) for name, d in zip(names, run_dirs)]


def _grouped(run_dirs: list[Path], fields: list[str]) -> list[Group]:
    flats = {d: flatten(run_config(d)) for d in run_dirs}
    groups: dict[tuple, list[Path]] = {}
    for d, flat in flats.items():
        for field in fields:
            if field not in flat:
                raise RlkError(f"--group-by {field}: run '{d}' has no config field '{field}'")
        groups.setdefault(tuple(json.dumps(flat[f]) for f in fields), []).append(d)
    for members in groups.values():
        first = flats[members[0]]
        for d in members[1:]:
            other = flats[d]
            differ = sorted(k for k in first.keys() | other.keys() if k not in SEED_FIELDS and first.get(k) != other.get(k))
            if differ:
                k = differ[0]
                raise RlkError(f"runs '{members[0]}' and '{d}' share {_name(fields, first)} but differ in {k} "
                               f"({first.get(k)!r} vs {other.get(k)!r}): add --group-by {k} or compare them apart")
    return [Group(_name(fields, flats[ms[0]]), ms, []) for ms in groups.values()]


def _name(fields: list[str], flat: dict[str, Any]) -> str:
    return ", ".join(f"{f}={flat[f]}" for f in fields)


def with_members(groups: list[Group], x: str, y: str) -> list[Group]:
    """The groups with each run's seeds read from its metrics.csv."""
    return [g._replace(members=[s for d in g.runs for s in read_series(d, x, y)]) for g in groups]


def align(group: Group) -> tuple[np.ndarray, np.ndarray]:
    """``(grid [T], ys [S, T])``: every member on the x values any member logged, kept to the range that
    all members cover (from the latest first point to the earliest last point; values between a member's
    own points are linearly interpolated, none is extrapolated, a shorter run is never extended)."""
    lo = max(m.x[0] for m in group.members)
    hi = min(m.x[-1] for m in group.members)
    if lo > hi:
        raise RlkError(f"'{group.label}': its seeds' logged ranges do not overlap, so no point has them all")
    xs = np.unique(np.concatenate([m.x for m in group.members]))
    grid = xs[(xs >= lo) & (xs <= hi)]
    return grid, np.stack([np.interp(grid, m.x, m.y) for m in group.members])
