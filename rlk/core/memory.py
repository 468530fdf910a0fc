"""A lower bound on the memory a run's batches of observations take, checked before anything compiles.

A run holds at least ``num_seeds x num_envs x (unroll_length + 1)`` observations for its rollouts
and ``num_seeds x eval_episodes`` for its greedy evaluation; a config whose bound exceeds the
memory there is (the accelerator's, else the host's available memory) fails with one line naming
the fields, instead of an out-of-memory traceback after compiling.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional

import numpy as np

from rlk.core.errors import RlkError

GIB = 2**30


def available_bytes(platform: str = "cpu") -> Optional[int]:
    """Memory a run may use: an accelerator's ``bytes_limit``, else the host's available memory
    (psutil, else ``os.sysconf``); None where neither says."""
    if platform != "cpu":
        import jax

        try:
            stats = jax.local_devices(backend=platform)[0].memory_stats() or {}
        except RuntimeError:
            stats = {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def observation_bytes(spec: Any) -> int:
    """Bytes of one observation of an ``EnvSpec``."""
    return math.prod(spec.observation.shape) * np.dtype(spec.observation.dtype).itemsize


def check_batches_fit(spec: Any, agent_config: Any, num_seeds: int, eval_episodes: int,
                      platform: str = "cpu") -> None:
    """One-line ``RlkError`` if the run's observation batches alone exceed the memory there is."""
    obs = observation_bytes(spec)
    num_envs = getattr(agent_config, "num_envs", None) or 1
    unroll = getattr(agent_config, "unroll_length", None) or spec.max_episode_steps
    train = num_seeds * num_envs * (unroll + 1) * obs
    evaluation = num_seeds * eval_episodes * obs
    have = available_bytes(platform)
    if have is None or max(train, evaluation) <= have:
        return
    shape = "x".join(map(str, spec.observation.shape)) or "scalar"
    if train >= evaluation:
        what = (f"agent.num_envs={num_envs} x unroll {unroll + 1} x num_seeds={num_seeds} observations of "
                f"{shape} {spec.observation.dtype} need at least {train / GIB:.1f} GiB")
    else:
        what = (f"eval_episodes={eval_episodes} x num_seeds={num_seeds} observations of {shape} "
                f"{spec.observation.dtype} need at least {evaluation / GIB:.1f} GiB")
    raise RlkError(f"{what}, but {platform} has {have / GIB:.1f} GiB available; lower them")
