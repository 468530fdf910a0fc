"""The baseline agents learn: each compared with a random policy measured in the same test."""

import json

import pytest

from rlk import bench


def random_policy_return(env_name: str, steps: int = 3000) -> float:
    """Mean return of the episodes a uniform random policy ends (64 envs, ``steps`` steps each)."""
    return bench.random_policy_return(env_name, num_envs=64, length=steps)


def summary(path):
    return json.loads((path / "summary.json").read_text())


@pytest.mark.slow
def test_vtrace_solves_catch(cli, tmp_path):
    cli("train", "--agent", "vtrace", "--steps", "300000", "-q", "--run-dir", str(tmp_path / "run"))
    assert summary(tmp_path / "run")["final_return"] >= 0.9 > random_policy_return("catch")


@pytest.mark.slow
def test_ppo_solves_cartpole(cli, tmp_path):
    cli("train", "--env", "CartPole-v1", "--steps", "500000", "-q", "--run-dir", str(tmp_path / "run"))
    random = random_policy_return("CartPole-v1")
    assert random < 50
    assert summary(tmp_path / "run")["final_return"] >= 475


@pytest.mark.slow
def test_ppo_beats_random_on_minatar_breakout(cli, tmp_path):
    cli("train", "--env", "minatar-breakout", "--steps", "300000", "-q", "--run-dir", str(tmp_path / "run"))
    random = random_policy_return("minatar-breakout", steps=2000)
    final = summary(tmp_path / "run")["final_return"]
    assert final > 3 * max(random, 0.5), (final, random)
