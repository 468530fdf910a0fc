"""Shared test helpers: run the real CLI in a subprocess, on the CPU."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# In-process tests see 4 host devices (data-parallel tests); CLI subprocesses get 1 unless asked.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
ROOT = Path(__file__).resolve().parents[1]

# One XLA compilation cache for the whole run, fresh each run: the process that loads this first (pytest, or
# xdist's controller) makes it, and the workers and CLI subprocesses inherit it through the environment. Much
# of the suite compiles the same programs again in new processes (PPO on Catch above all); a hit loads the
# executable XLA compiled before, bit for bit. A size bound turns on jax's file lock around reads and writes,
# so that concurrent processes never see half an entry. Compiles of 0.2 s or more are stored, as in rlk's user cache.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="rlk-tests-xla-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(8 << 30))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")  # as rlk's user cache (rlk.core.compile_cache)
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)


def run_cli(*args: str, env: dict | None = None, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    """``rlk ARGS`` as a user runs it; returns the completed process (stdout, stderr, returncode)."""
    full_env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    full_env.update({"JAX_PLATFORMS": "cpu", **(env or {})})
    proc = subprocess.run([sys.executable, "-m", "rlk.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlk {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    return run_cli
