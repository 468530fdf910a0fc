"""Muesli's training throughput beside PPO's, measured in one process, interleaved.

    python -m experiments.muesli.throughput [--env catch] [--repeats 5] [--log-every 10000] [--baseline REV]
        [--only muesli,ppo] [--variant NAME FIELD=JSON ...]

Each agent's Anakin program is built as ``rlk train --agent A --env E`` builds it (one seed, one
device), compiled, warmed up, then its compiled calls (``--log-every`` env steps each, state donated,
metrics fetched after each, as the run loop does) are timed in turns with the others', ``--repeats``
times. Reported: env steps/s (best call) and env steps per CPU-second of this process (best call;
steadier on a shared machine), and each agent's ratio to PPO. Variants: ``muesli`` (defaults),
``muesli-toy`` (the CI-sized setting of tests/plugins/test_muesli.py), ``ppo`` (defaults), and any named with
``--variant NAME FIELD=JSON ...`` (Muesli with those options). ``--baseline REV``
adds ``muesli@REV``: the defaults with the Muesli code (``agent.py``, ``learner.py``, ``networks.py``,
``continuous.py``) of git revision ``REV``, loaded beside the current code, so before and after are timed in
the same process (its losses and config are the current ones: the loss contract must be unchanged).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

VARIANTS = {
    "muesli": {"name": "muesli"},
    "muesli-toy": {"name": "muesli", "hidden_sizes": [64], "latent_size": 32, "num_atoms": 41, "num_envs": 16,
                   "learning_rate": 1e-3, "replay_fraction": 0.5},
    "ppo": {"name": "ppo"},
}


BASELINE_MODULES = ("agent", "learner", "networks", "continuous")


def baseline_package(rev: str) -> str:
    """The Muesli modules of git revision ``rev`` as an importable package (its name returned), written to a
    temporary folder; they import each other (and the current ``losses`` and ``config``)."""
    root = Path(tempfile.mkdtemp(prefix="muesli_baseline_"))
    package = f"muesli_{rev.replace('-', '_').replace('.', '_').replace('~', '_').replace('^', '_')}"
    (root / package).mkdir()
    (root / package / "__init__.py").write_text("")
    for name in BASELINE_MODULES:
        source = subprocess.run(["git", "show", f"{rev}:rlk/plugins/muesli/{name}.py"], check=True,
                                capture_output=True, text=True).stdout
        for other in BASELINE_MODULES:
            source = source.replace(f"rlk.plugins.muesli.{other} ", f"{package}.{other} ")
        (root / package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(root))
    return package


def baseline_factory(rev: str):
    """``make_muesli`` as of git revision ``rev`` (``baseline_package``)."""
    return importlib.import_module(f"{baseline_package(rev)}.agent").make_muesli


def build(agent: dict, env: str, log_every: int, factory=None):
    from rlk.core.config import build_run_config
    from rlk.core.run import Run, resolve

    config = build_run_config({"agent": agent, "env": {"name": env}, "backend": {"name": "cpu"},
                               "log_every_steps": log_every, "max_rows_per_call": 1})
    resolved = resolve(config)
    if factory is not None:
        resolved.agent = dataclasses.replace(resolved.agent, factory=factory)
    program = Run(resolved, Path(".")).build()
    box = {"state": program.init([0])}
    step = program.compile(box["state"])

    def call():
        box["state"], metrics = step(box["state"])
        program.summarise(metrics)
        jax.block_until_ready(box["state"])

    return call, program.env_steps_per_step


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="catch")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--log-every", type=int, default=10_000)
    p.add_argument("--only", default=None, help="comma-separated variants (default: all)")
    p.add_argument("--baseline", default=None, help="also time the defaults with the Muesli code of this git revision")
    p.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "FIELD=JSON"),
                   help="also time Muesli with these agent options, e.g. --variant h64 'hidden_sizes=[64]' latent_size=32")
    a = p.parse_args(argv)
    names = a.only.split(",") if a.only else list(VARIANTS)
    variants = {n: (VARIANTS[n], None) for n in names}
    for name, *fields in a.variant:
        variants[name] = ({"name": "muesli", **{k: json.loads(v) for k, v in (f.split("=", 1) for f in fields)}}, None)
    if a.baseline:
        variants = {f"muesli@{a.baseline}": (VARIANTS["muesli"], baseline_factory(a.baseline)), **variants}
    names = list(variants)
    calls = {}
    for n, (agent, factory) in variants.items():
        calls[n] = build(agent, a.env, a.log_every, factory)
        for _ in range(2):
            calls[n][0]()
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for _ in range(a.repeats):
        for n, (call, steps) in calls.items():
            t0, c0 = time.perf_counter(), time.process_time()
            call()
            wall[n].append(steps / (time.perf_counter() - t0))
            cpu[n].append(steps / (time.process_time() - c0))
    print(f"{a.env}: env steps/s, best of {a.repeats} interleaved calls ({jax.devices()[0].platform}, "
          f"{jax.device_count()} device(s)), load average {os.getloadavg()[0]:.1f}")
    for n in names:
        w, c = max(wall[n]), max(cpu[n])
        ratio = "" if "ppo" not in wall else f"  {w / max(wall['ppo']):6.3f}x PPO ({c / max(cpu['ppo']):6.3f}x per CPU-s)"
        print(f"  {n:16s} {w:>10,.0f} steps/s  {c:>10,.0f} per CPU-second{ratio}")


if __name__ == "__main__":
    main()
