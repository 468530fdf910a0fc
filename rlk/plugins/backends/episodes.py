"""What the agent architectures (Anakin, Sebulba) share in their ``Program``: the run loop's view of
an agent run, metric rows with episode statistics, and the greedy-returns report and summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlk.core.interfaces import ProgramInfo, Progress

FIRST_COLUMNS = ("step", "env_steps", "seed", "episode_return", "episodes", "loss")


def agent_info(env_steps_per_call: int, updates_per_call: int, num_devices: int, max_rows_per_call: int = 1) -> ProgramInfo:
    """An agent run: ``RunConfig.steps`` counts env steps; rows and TensorBoard follow them."""
    return ProgramInfo(kind="agent", steps_per_call=env_steps_per_call, updates_per_call=updates_per_call,
                       counters={"env_steps": env_steps_per_call}, num_devices=num_devices,
                       first_columns=FIRST_COLUMNS, unit="env steps", tensorboard_axis="env_steps",
                       headline="episode_return", max_rows_per_call=max_rows_per_call)


def summarise(metrics: dict) -> dict[str, np.ndarray]:
    """Per-seed row values from one call's metrics (leaves ``[S, updates]``; ``episode_return_sum``
    and ``episodes`` count the episodes that ended)."""
    m = {k: np.asarray(v) for k, v in metrics.items()}
    count = m.pop("episodes").sum(axis=1)
    total = m.pop("episode_return_sum").sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    out = {k: v.mean(axis=1) for k, v in m.items()}
    out["episode_return"] = ret
    out["episodes"] = count
    return out


def returns_report(returns: np.ndarray) -> dict[str, Any]:
    """``rlk eval``'s fields from greedy returns ``[S, episodes]``."""
    return {
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "per_seed_mean_return": [float(x) for x in returns.mean(axis=1)],
        "episodes": returns.shape[1],
    }


def returns_summary(evaluation: dict[str, Any], progress: Progress, info: ProgramInfo, dtype: Any) -> dict[str, Any]:
    """summary.json's fields of an agent run: the greedy returns (their per-seed means, in the
    ``dtype`` the returns were summed in, so the numbers are those of the returns themselves) and
    the env steps."""
    per_seed = np.asarray(evaluation["per_seed_mean_return"], dtype)
    return {
        "final_return": float(per_seed.mean()),
        "final_return_std": float(per_seed.std()),
        "final_return_per_seed": evaluation["per_seed_mean_return"],
        "eval_episodes": evaluation["episodes"],
        "env_steps": progress.calls * info.steps_per_call,
        "env_steps_per_s": (progress.timed_calls * info.steps_per_call / progress.train_s) if progress.train_s > 0 else None,
    }
