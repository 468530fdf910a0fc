"""The scaling model's arithmetic against hand computations on tiny cases (1 and 2 devices, 1 and 2 hosts),
and its command line on a made-up costs file (pure Python: no JAX, well under a second)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.podracer import scaling_model as sm

ROOT = Path(__file__).resolve().parents[2]
COSTS = sm.StepCosts(env=sm.Affine(1e-3, 1e-5), act=sm.Affine(0.0, 2e-5), update=sm.Affine(2e-3, 1e-4),
                     unroll=10, params=1000, grad_allreduces=4, scalar_allreduces=1)
FAST, SLOW = sm.Link(1e9, 1e-5), sm.Link(1e8, 1e-4)


def platform(per_host: int = 8, parallel=None) -> sm.Platform:
    return sm.Platform("t", per_host, FAST, SLOW, parallel=parallel, host_cores=4)


def test_anakin_one_device_is_compute_only():
    # env 1e-3 + 100 * 1e-5, act 100 * 2e-5, update 2e-3 + 100 * 1e-4: 0.016 s per update of 100 x 10 steps
    assert sm.anakin_steps_per_s(COSTS, platform(), 1, 100) == pytest.approx(1000 / 0.016)


def test_anakin_two_devices_add_allreduces():
    # inside one host: ring 2 * (1/2) * bytes / 1e9 plus 2 latency steps of 1e-5; 4 gradient ones (4,000 bytes)
    # and one scalar one (8 bytes)
    per_update = 0.016 + 4 * (4000 / 1e9 + 2e-5) + (8 / 1e9 + 2e-5)
    assert sm.anakin_steps_per_s(COSTS, platform(), 2, 100) == pytest.approx(2000 / per_update)
    # one device per host: the same over the slow link
    per_update = 0.016 + 4 * (4000 / 1e8 + 2e-4) + (8 / 1e8 + 2e-4)
    assert sm.anakin_steps_per_s(COSTS, platform(per_host=1), 2, 100) == pytest.approx(2000 / per_update)
    # two devices time-sharing one compute unit: compute counts twice
    per_update = 2 * 0.016 + 4 * (4000 / 1e9 + 2e-5) + (8 / 1e9 + 2e-5)
    assert sm.anakin_steps_per_s(COSTS, platform(parallel=1), 2, 100) == pytest.approx(2000 / per_update)


def test_allreduce_is_hierarchical():
    # 16 devices, 8 per host: 8 inside (6 latency steps) then 2 hosts (2 steps)
    inside = 2 * 7 / 8 * 4000 / 1e9 + 6 * 1e-5
    across = 2 * 1 / 2 * 4000 / 1e8 + 2 * 1e-4
    assert sm.allreduce_s(platform(), 16, 4000) == pytest.approx(inside + across)
    assert sm.allreduce_s(platform(), 1, 4000) == 0.0


def test_sebulba_is_its_slowest_resource():
    setup = sm.SebulbaSetup(actors=2, learners=2, actor_batch=100, host_batch=200, env_cpu_s=1e-3, costs=COSTS)
    rates = sm.sebulba_rates(setup, platform(), hosts=1)
    assert rates["env"] == pytest.approx(4 / 1e-3)  # 4 cores, 1 ms each per env step
    assert rates["actor"] == pytest.approx(2 * 100 * 10 / (100 * 2e-5))  # act(100) = 2e-3 s for 10 steps
    # update of 100 envs per learner = 0.012 s; 2 learners in one host all-reduce; broadcast = half a 2-way one
    update = 0.012 + 4 * (4000 / 1e9 + 2e-5) + (8 / 1e9 + 2e-5) + (4000 / 1e9 + 2e-5) / 2
    assert rates["learner"] == pytest.approx(200 * 10 / update)
    assert sm.sebulba_steps_per_s(setup, platform(), 1) == pytest.approx(min(rates.values()))


def test_sebulba_on_shared_cores_adds_cpu_time():
    setup = sm.SebulbaSetup(actors=1, learners=1, actor_batch=100, host_batch=100, env_cpu_s=1e-3, costs=COSTS)
    # per env step: env 1e-3 + act 2e-3 / 1000 + update 0.012 / 1000 = 1.014e-3 CPU s, over 4 cores
    rate = 4 / (1e-3 + 2e-6 + 12e-6)
    assert sm.sebulba_steps_per_s(setup, platform(parallel=1), 1) == pytest.approx(rate)


def test_affine_fit():
    fit = sm.Affine.fit([16, 32, 64], [1 + 16 * 0.5, 1 + 32 * 0.5, 1 + 64 * 0.5])
    assert (fit.fixed_s, fit.per_env_s) == (pytest.approx(1.0), pytest.approx(0.5))
    through_origin = sm.Affine.fit([1, 2], [1.0, 3.0])  # the line has intercept -1: refitted through 0
    assert through_origin.fixed_s == 0.0 and through_origin.per_env_s == pytest.approx(7 / 5)


def test_straggler_factor():
    assert sm.straggler_factor(1, 0.1) == 1.0
    assert sm.straggler_factor(256, 0.05) == pytest.approx(1 + 0.05 * (2 * 5.545177444479562) ** 0.5)


def costs_file(tmp_path: Path) -> Path:
    """A measure_costs file with exact affine costs (1 device) and psum times for 2 and 4 devices."""
    comps = [{"batch": b, "env_s": 1e-4 * b, "rollout_s": 1.5e-4 * b, "update_s": 1e-3 + 2e-4 * b} for b in (32, 64)]
    rows = [{"devices": 1, "processes": 1, "params": 1000, "components": comps, "allreduce_s": 0.0,
             "anakin_steps_per_s": 40_000.0, "load_before": 1.0, "load_after": 1.0},
            {"devices": 2, "processes": 1, "params": 1000, "allreduce_s": 1e-4, "anakin_steps_per_s": 30_000.0,
             "load_before": 1.0, "load_after": 1.0}]
    path = tmp_path / "costs.json"
    path.write_text(json.dumps({"machine": {"cpu": "test", "cores": 2}, "rows": rows}))
    return path


def test_cli_prints_and_writes_the_tables(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{sm.MARK_START}\nold\n{sm.MARK_END}\noutro\n")
    out = subprocess.run([sys.executable, "-m", "experiments.podracer.scaling_model", "--costs", str(costs_file(tmp_path)),
                          "--markdown", str(tmp_path / "t.md"), "--doc", str(doc)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # 1 device, 64 envs: env 6.4e-3 + act 3.2e-3 + update 13.8e-3 = 23.4e-3 s per 1,024 steps = 43.8k steps/s
    assert "| anakin ppo catch, 64 envs | 1 | 1 | 43.8k | 40k | 1.09 | 43.8k |" in out.stdout
    # 2 devices: 12.2e-3 s of compute at 32 envs each (x 2 if they time-shared one unit), 16 gradient all-reduces
    # and PPO's 49 small ones, whose latency per step was fitted to the measured 1e-4 s psum:
    # (1e-4 - 4,000 bytes / 10 GB/s) / 2 = 4.98e-5 s
    latency = (1e-4 - 4000 / 1e10) / 2
    per_update = 2 * 12.2e-3 + 16 * (4000 / 1e10 + 2 * latency) + 49 * (8 / 1e10 + 2 * latency)
    one_per_core = per_update - 12.2e-3  # 2 cores: the two devices' compute overlaps (the default)
    ratio = 1024 / one_per_core / 30_000
    assert (f"| anakin ppo catch, 64 envs | 2 | 1 | {sm._n(1024 / one_per_core)} | 30k | {ratio:.2f} | "
            f"{sm._n(1024 / per_update)} |") in out.stdout
    table = (tmp_path / "t.md").read_text()
    assert table == out.stdout.rstrip("\n") + "\n"
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{sm.MARK_END}\noutro\n") and "old" not in text
    assert table in text


def test_cli_prices_sebulba_rows_on_the_cpu_they_had(tmp_path):
    """Sebulba bench rows: env 0.5, act 0.7 - 0.6 = 0.1, update 1.0 - 0.7 = 0.3 CPU ms per env step; the CPU the
    process had is the env alone's 1,000 steps/s x 0.5 ms = 0.5 cores."""
    rows = [{"arch": "sebulba", "learner": "full", "cpu_ms_per_step": 1.0, "ceiling_cpu_ms_per_step": 0.5,
             "steps_per_s": 300.0, "ceiling_steps_per_s": 1000.0, "load": [3.0, 2.0, 1.0, 4.0, 2.0, 1.0]},
            {"arch": "sebulba", "learner": "trivial", "cpu_ms_per_step": 0.7, "ceiling_cpu_ms_per_step": 0.6,
             "steps_per_s": 500.0, "ceiling_steps_per_s": 900.0, "load": [3.0, 2.0, 1.0, 4.0, 2.0, 1.0]}]
    seb = tmp_path / "seb.json"
    seb.write_text(json.dumps(rows))
    out = subprocess.run([sys.executable, "-m", "experiments.podracer.scaling_model", "--costs", str(costs_file(tmp_path)),
                          "--sebulba-rows", str(seb)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # one update: 64 envs x 20 steps x 0.9e-3 CPU s over 0.5 cores = 2.304 s for 1,280 steps
    rate = 1280 / (1280 * 0.9e-3 / 0.5)
    assert f"| 2 | 1 | {sm._n(rate)} | 300 | {rate / 300:.2f} |" in out.stdout


def test_cli_without_costs_says_so_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "experiments.podracer.scaling_model", "--costs", str(tmp_path / "no.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [f"scaling_model: no costs file {tmp_path / 'no.json'} "
                                               "(run python -m experiments.podracer.measure_costs --out it)"]


def test_cli_takes_gpu_costs_from_measured_rows(tmp_path):
    """``--gpu-anakin``: one measured 1-GPU row at 8,192 envs becomes the GPU column's 1-device cell."""
    rows = [{"devices": 1, "seeds": 1, "platform": "gpu", "num_envs": 8192, "steps_per_s": 5_000_000.0}]
    gpu = tmp_path / "anakin.json"
    gpu.write_text(json.dumps(rows))
    out = subprocess.run([sys.executable, "-m", "experiments.podracer.scaling_model", "--costs", str(costs_file(tmp_path)),
                          "--gpu-anakin", str(gpu)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first = next(line for line in out.stdout.splitlines() if line.startswith("| 1 | "))
    assert first.split(" | ")[2] == "5M (100%)"
