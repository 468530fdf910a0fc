"""Aggregates across seeds with 95% stratified bootstrap confidence intervals, through rliable.

Scores follow rliable's layout ``[runs, tasks, ...]``; rlk compares one task at a time, so a group's
scores are ``[S, 1]`` (final scores) or ``[S, 1, T]`` (a curve). rliable draws its bootstrap indices
from numpy's global generator, so each estimate seeds it (``np.random.seed(seed)``) and restores it after:
the same call gives the same interval, and rliable called directly after the same seeding agrees.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import numpy as np
import scipy.stats

from rlk.core.errors import RlkError

CONFIDENCE = 0.95


def _pooled(scores: np.ndarray) -> np.ndarray:
    """``[S, M, *rest]`` -> ``[S * M, prod(rest)]``: every run and task pooled, one column per point."""
    return scores.reshape(scores.shape[0] * scores.shape[1], -1)


def _iqm(scores: np.ndarray) -> np.ndarray:
    """rliable's ``aggregate_iqm`` (25% trimmed mean of all runs and tasks) at each point."""
    return scipy.stats.trim_mean(_pooled(scores), proportiontocut=0.25, axis=0)


def _mean(scores: np.ndarray) -> np.ndarray:
    return _pooled(scores).mean(axis=0)


def _median(scores: np.ndarray) -> np.ndarray:
    """The median of all runs and tasks (rliable's ``aggregate_median`` is a median over tasks of per-task
    means, which for one task is the mean)."""
    return np.median(_pooled(scores), axis=0)


STATS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"iqm": _iqm, "mean": _mean, "median": _median}


def _rliable():
    try:
        from rliable import library, metrics
    except ImportError:
        raise RlkError("bootstrap statistics need rliable: pip install 'rlk[stats]'") from None
    return library, metrics


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def interval(scores: np.ndarray, func: Callable[..., np.ndarray], reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(point [K], ci [2, K])``: ``func`` of ``scores`` (``[S, M, ...]``, or a tuple of such arrays for a
    paired metric) and its 95% percentile bootstrap interval over runs (``rliable.library``)."""
    library, _ = _rliable()
    with _seeded(seed):
        point, ci = library.get_interval_estimates({"scores": scores}, func, reps=reps,
                                                   confidence_interval_size=CONFIDENCE)
    return np.atleast_1d(point["scores"]), np.asarray(ci["scores"]).reshape(2, -1)


def band(ys: np.ndarray, stat: str, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(center, low, high)``, each [T]: ``stat`` across the seeds ``ys`` [S, T] and its 95% band."""
    point, ci = interval(ys[:, None, :], STATS[stat], reps, seed)
    return point, ci[0], ci[1]


def iqm_and_mean(scores: np.ndarray, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(point [2], ci [2, 2])``: IQM and mean of the final scores [S] (``rliable.metrics``), with CIs."""
    _, metrics = _rliable()
    return interval(scores[:, None], lambda s: np.array([metrics.aggregate_iqm(s), metrics.aggregate_mean(s)]), reps, seed)


def probability_of_improvement(x: np.ndarray, y: np.ndarray, reps: int, seed: int) -> tuple[float, np.ndarray]:
    """``(P(X > Y), ci [2])`` for final scores ``x`` [Sx] and ``y`` [Sy] (``rliable.metrics``); each
    group resampled independently."""
    _, metrics = _rliable()
    point, ci = interval((x[:, None], y[:, None]), lambda a, b: np.array([metrics.probability_of_improvement(a, b)]),
                         reps, seed)
    return float(point[0]), ci[:, 0]
