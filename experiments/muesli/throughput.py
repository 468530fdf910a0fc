"""Muesli's training throughput beside PPO's, measured in one process, interleaved.

    python -m experiments.muesli.throughput [--env catch] [--repeats 5] [--log-every 10000]

Each agent's Anakin program is built as ``rlk train --agent A --env E`` builds it (one seed, one
device), compiled, warmed up, then its compiled calls (``--log-every`` env steps each, state donated,
metrics fetched after each, as the run loop does) are timed in turns with the others', ``--repeats``
times. Reported: env steps/s (best call) and env steps per CPU-second of this process (best call;
steadier on a shared machine), and each agent's ratio to PPO. Variants: ``muesli`` (defaults),
``muesli-toy`` (the CI-sized setting of tests/plugins/test_muesli.py) and ``ppo`` (defaults).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

VARIANTS = {
    "muesli": {"name": "muesli"},
    "muesli-toy": {"name": "muesli", "hidden_sizes": [64], "latent_size": 32, "num_atoms": 41, "num_envs": 16,
                   "learning_rate": 1e-3, "replay_fraction": 0.5},
    "ppo": {"name": "ppo"},
}


def build(agent: dict, env: str, log_every: int):
    from rlk.core.config import build_run_config
    from rlk.core.run import Run, resolve

    config = build_run_config({"agent": agent, "env": {"name": env}, "backend": {"name": "cpu"},
                               "log_every_steps": log_every})
    program = Run(resolve(config), Path(".")).build()
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
    a = p.parse_args(argv)
    names = a.only.split(",") if a.only else list(VARIANTS)
    calls = {}
    for n in names:
        calls[n] = build(VARIANTS[n], a.env, a.log_every)
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
    print(f"{a.env}: env steps/s, best of {a.repeats} interleaved calls ({jax.devices()[0].platform}, {jax.device_count()} device(s))")
    for n in names:
        w, c = max(wall[n]), max(cpu[n])
        ratio = "" if "ppo" not in wall else f"  {w / max(wall['ppo']):6.3f}x PPO ({c / max(cpu['ppo']):6.3f}x per CPU-s)"
        print(f"  {n:11s} {w:>10,.0f} steps/s  {c:>10,.0f} per CPU-second{ratio}")


if __name__ == "__main__":
    main()
