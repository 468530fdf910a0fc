"""End-to-end training through the real CLI: Catch solved, determinism, resume, seeds, devices."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TIMING = {"steps_per_s", "wall_s"}


def rows(run_dir: Path):
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def summary(run_dir: Path):
    return json.loads((run_dir / "summary.json").read_text())


def random_catch_return(episodes: int = 2000) -> float:
    """Mean return of the uniform random policy on Catch, measured here."""
    import jax

    from rlk.plugins.envs.catch import Catch

    env = Catch()

    def episode(key):
        k0, key = jax.random.split(key)
        state, ts = env.reset(k0)
        total = 0.0
        for _ in range(env.spec.max_episode_steps):
            key, ka = jax.random.split(key)
            state, ts = env.step(state, jax.random.randint(ka, (), 0, 3), key)
            total = total + ts.reward
        return total

    return float(jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(0), episodes)).mean())


@pytest.mark.slow
def test_default_train_solves_catch(cli, tmp_path):
    proc = cli("train", "--run-dir", str(tmp_path / "run"))
    s = summary(tmp_path / "run")
    baseline = random_catch_return()
    assert baseline < 0.0  # a random paddle misses most balls
    assert s["final_return"] >= 0.9 > baseline
    for f in ("config.json", "metrics.csv", "metrics.jsonl", "summary.json"):
        assert (tmp_path / "run" / f).is_file()
    assert list((tmp_path / "run" / "tb").glob("events.*"))
    assert {"final_return", "env_steps", "env_steps_per_s", "compile_s", "wall_s"} <= set(s)
    assert "final_return=" in proc.stdout
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"step", "env_steps", "episode_return", "loss", "steps_per_s"} <= set(header)
    ev = cli("eval", str(tmp_path / "run"), "--episodes", "50", "--json")
    assert json.loads(ev.stdout)["mean_return"] >= 0.9
    out = tmp_path / "curves.png"
    cli("plot", str(tmp_path / "run"), "--out", str(out))
    assert out.stat().st_size > 1000


def test_same_seed_identical_metrics(cli, tmp_path):
    args = ("train", "--seed", "3", "--steps", "30000", "-q")
    cli(*args, "--run-dir", str(tmp_path / "a"))
    cli(*args, "--run-dir", str(tmp_path / "b"))
    a, b = rows(tmp_path / "a"), rows(tmp_path / "b")
    assert len(a) >= 3 and a == b


def _wait_for(predicate, proc, timeout=120.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def _n_rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def test_interrupted_runs_resume_exactly(cli, tmp_path):
    """A run stopped by SIGINT, SIGTERM or SIGKILL after its first checkpoints, then resumed, writes the
    uninterrupted run's rows and final return (one uninterrupted run for the three signals)."""
    steps = ("--steps", "400000", "-o", "log_every_steps=10000", "-o", "checkpoint_every_steps=20000")
    cli("train", "--seed", "1", *steps, "-q", "--run-dir", str(tmp_path / "full"))
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    for how, sig in (("sigint", signal.SIGINT), ("sigterm", signal.SIGTERM), ("sigkill", signal.SIGKILL)):
        run = tmp_path / how
        proc = subprocess.Popen([sys.executable, "-m", "rlk.cli", "train", "--seed", "1", *steps, "-q", "--run-dir", str(run)],
                                env={**env, "JAX_PLATFORMS": "cpu"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ckpt = run / "checkpoints"
        ready = _wait_for(lambda: _n_rows(run / "metrics.csv") >= 3 and ckpt.is_dir() and any(p.name.isdigit() for p in ckpt.iterdir()), proc)
        assert ready, f"{how}: the run ended before it could be interrupted"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        if how != "sigkill":
            assert proc.returncode == 128 + sig and "resume" in err, (how, err)
        else:
            assert proc.returncode == -signal.SIGKILL
        assert not (run / "summary.json").exists()
        cli("train", "--resume", str(run), "-q")
        full, cut = rows(tmp_path / "full"), rows(run)
        assert cut == full, how  # rows after the checkpoint were dropped and recomputed identically
        assert summary(run)["final_return"] == summary(tmp_path / "full")["final_return"], how


def test_num_seeds_matches_single_seed_runs(cli, tmp_path):
    """Seed i of ``--num-seeds 3`` computes what a single run with that seed computes.

    The first metric row (9 updates) agrees to float tolerance. After that the runs drift apart:
    vmapped matmuls reassociate sums (differences of 1e-7), and sampled actions amplify them, as
    in any two JAX programs of different shapes; later rows are checked for learning, not equality.
    """
    common = ("--steps", "30000", "-q")
    cli("train", "--num-seeds", "3", "--seed", "5", *common, "--run-dir", str(tmp_path / "multi"))
    multi = rows(tmp_path / "multi")
    for seed in (5, 6, 7):
        cli("train", "--seed", str(seed), *common, "--run-dir", str(tmp_path / f"s{seed}"))
        single = rows(tmp_path / f"s{seed}")
        mine = [r for r in multi if r["seed"] == str(seed)]
        assert len(mine) == len(single) >= 3
        assert mine[0].keys() == single[0].keys()
        for k in mine[0]:
            np.testing.assert_allclose(float(mine[0][k]), float(single[0][k]), rtol=1e-5, atol=1e-6, err_msg=k)
        assert [r["env_steps"] for r in mine] == [r["env_steps"] for r in single]
        assert float(mine[-1]["episode_return"]) > 0.5 and float(single[-1]["episode_return"]) > 0.5
    s = summary(tmp_path / "multi")
    assert len(s["final_return_per_seed"]) == 3 and "final_return_std" in s


@pytest.mark.slow
def test_catch_solved_on_four_devices(cli, tmp_path):
    cli("train", "--run-dir", str(tmp_path / "run"), "-q",
        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    s = summary(tmp_path / "run")
    assert s["devices"] == 4
    assert s["final_return"] >= 0.9
