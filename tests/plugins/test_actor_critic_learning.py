"""The baseline agents learn: each compared with a random policy measured in the same test."""

import json

import jax
import jax.numpy as jnp
import pytest

from rlk.core.registry import default_registry
from rlk.plugins.envs.wrappers import for_training


def random_policy_return(env_name: str, num_envs: int = 64, steps: int = 3000) -> float:
    """Mean return of completed episodes under uniform random actions."""
    env = for_training(default_registry().get("env", env_name).factory())
    n = env.spec.action.num_values

    def run(key):
        k0, key = jax.random.split(key)
        state, ts = jax.vmap(env.reset)(jax.random.split(k0, num_envs))

        def step(carry, k):
            state, ts = carry
            ka, ke = jax.random.split(k)
            action = jax.random.randint(ka, (num_envs,), 0, n)
            state, ts = jax.vmap(env.step)(state, action, jax.random.split(ke, num_envs))
            return (state, ts), (ts.info["episode_return"] * ts.last, ts.last)

        _, (rets, done) = jax.lax.scan(step, (state, ts), jax.random.split(key, steps))
        return rets.sum() / jnp.maximum(done.sum(), 1)

    return float(jax.jit(run)(jax.random.PRNGKey(0)))


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
