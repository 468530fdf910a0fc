"""Sebulba on host environments: V-trace on Atari end to end; Gaussian PPO improves on MuJoCo."""

import json

import numpy as np
import pytest

from rlk.core.registry import default_registry


def summary(path):
    return json.loads((path / "summary.json").read_text())


def test_sebulba_vtrace_atari_breakout_end_to_end(cli, tmp_path):
    run = tmp_path / "run"
    cli("train", "--agent", "vtrace", "--env", "atari-breakout", "--arch", "sebulba", "--steps", "5000", "-q",
        "--run-dir", str(run), "-o", "eval_episodes=2", timeout=300)
    s = summary(run)
    assert s["arch"] == "sebulba" and s["env_steps"] >= 5000 and s["env_steps_per_s"] > 0
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"queue", "staleness", "loss"} <= set(header)
    assert np.isfinite(s["final_return"])


def random_hopper_return(episodes: int = 8) -> float:
    factory = default_registry().get("env", "Hopper-v5").factory()
    env = factory.make(episodes, seed=0)
    ts = env.reset(0)
    rng = np.random.default_rng(0)
    low, high = factory.spec.action.low, factory.spec.action.high
    total, done = np.zeros(episodes), np.zeros(episodes, bool)
    for _ in range(factory.spec.max_episode_steps):
        ts = env.step(rng.uniform(low, high, size=(episodes,) + tuple(factory.spec.action.shape)))
        total += np.where(done, 0.0, ts.reward)
        done |= ts.last
        if done.all():
            break
    env.close()
    return float(total.mean())


@pytest.mark.slow
def test_gaussian_ppo_improves_on_hopper(cli, tmp_path):
    run = tmp_path / "run"
    cli("train", "--env", "Hopper-v5", "--steps", "100000", "-q", "--run-dir", str(run), "-o", "eval_episodes=8",
        timeout=600)
    random = random_hopper_return()
    final = summary(run)["final_return"]
    assert final > 3 * max(random, 10.0), (final, random)
