"""Continuous actions in the actor-critic agents: the Gaussian policy's formulas, PPO's acting and
losses on a BoxSpec, V-trace's refusal, and PPO learning gymnax Pendulum-v1 through the CLI."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from rlk import bench

from rlk.core.errors import RlkError
from rlk.core.losses import agent_losses
from rlk.core.registry import default_registry
from rlk.core.types import ArraySpec, BoxSpec, EnvSpec, TimeStep, Trajectory
from rlk.plugins.actor_critic.networks import Categorical, Gaussian, GaussianActorCritic
from rlk.plugins.actor_critic.ppo import PPOConfig, make_ppo
from rlk.plugins.actor_critic.vtrace import VTraceConfig, make_vtrace

SPEC = EnvSpec(name="box", observation=ArraySpec(shape=(3,)), action=BoxSpec(shape=(2,), low=-2.0, high=2.0))


def test_gaussian_log_prob_and_entropy_match_scipy():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(5, 3)).astype(np.float32)
    log_std = rng.normal(scale=0.5, size=(3,)).astype(np.float32)
    action = rng.normal(size=(5, 3)).astype(np.float32) * 2
    dist = Gaussian(jnp.asarray(mean), jnp.asarray(log_std))
    expected = stats.norm.logpdf(action, mean, np.exp(log_std)).sum(-1)
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(action)), expected, rtol=1e-5, atol=1e-5)
    expected_h = np.broadcast_to(stats.norm.entropy(0, np.exp(log_std)).sum(), (5,))
    np.testing.assert_allclose(dist.entropy(), expected_h, rtol=1e-5)
    np.testing.assert_array_equal(dist.mode(), mean)
    samples = dist.sample(jax.random.PRNGKey(0))
    assert samples.shape == (5, 3)
    many = jax.vmap(lambda k: Gaussian(jnp.zeros(3), jnp.asarray(log_std)).sample(k))(jax.random.split(jax.random.PRNGKey(1), 20000))
    np.testing.assert_allclose(np.std(many, axis=0), np.exp(log_std), rtol=0.03)


def test_categorical_log_prob_and_entropy_match_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 6)).astype(np.float32)
    action = rng.integers(0, 6, size=4)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    dist = Categorical(jnp.asarray(logits))
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(action)), np.log(p[np.arange(4), action]), rtol=1e-5)
    np.testing.assert_allclose(dist.entropy(), -(p * np.log(p)).sum(-1), rtol=1e-5)


def test_ppo_acts_with_a_gaussian_on_box_actions():
    agent = make_ppo(PPOConfig(num_envs=4, unroll_length=8, num_minibatches=2), SPEC, None, agent_losses("ppo", PPOConfig().loss_weights))
    state = agent.init(jax.random.PRNGKey(0))
    assert isinstance(state.params.net, GaussianActorCritic)
    np.testing.assert_array_equal(state.params.net.log_std, 0.0)  # std 1 at the start
    obs = jax.random.normal(jax.random.PRNGKey(1), (4, 3))
    ts = TimeStep(obs, jnp.zeros(4), jnp.ones(4), jnp.zeros(4, bool))
    action, _, extras = agent.act(state.params, (), ts, jax.random.PRNGKey(2))
    assert action.shape == (4, 2) and action.dtype == jnp.float32
    mean, value = jax.vmap(state.params.net)(obs)
    np.testing.assert_allclose(extras["log_prob"], Gaussian(mean, state.params.net.log_std).log_prob(action), rtol=1e-6)
    np.testing.assert_allclose(extras["value"], value, rtol=1e-6)
    greedy, _, _ = agent.eval_act(state.params, (), ts, jax.random.PRNGKey(3))
    np.testing.assert_allclose(greedy, mean, rtol=1e-5, atol=1e-8)  # batched matmul vs per-example vmap
    # unclipped samples: with std 1 and 4000 draws some fall outside [-2, 2]
    many = jax.jit(jax.vmap(lambda k: agent.act(state.params, (), ts, k)[0]))(jax.random.split(jax.random.PRNGKey(4), 1000))
    assert float(jnp.abs(many).max()) > 2.0


def test_ppo_update_on_box_actions_gives_finite_losses_and_moves_log_std():
    config = PPOConfig(num_envs=4, unroll_length=8, num_minibatches=2)
    agent = make_ppo(config, SPEC, None, agent_losses("ppo", config.loss_weights))
    state = agent.init(jax.random.PRNGKey(0))
    T, B = 8, 4
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    obs = jax.random.normal(keys[0], (T + 1, B, 3))
    ts = TimeStep(obs, jax.random.normal(keys[1], (T + 1, B)), jnp.ones((T + 1, B)), jnp.zeros((T + 1, B), bool))
    actions, extras = [], []
    for t in range(T):
        step_ts = jax.tree.map(lambda x: x[t], ts)
        a, _, ex = agent.act(state.params, (), step_ts, jax.random.fold_in(keys[2], t))
        actions.append(a)
        extras.append(ex)
    traj = Trajectory(ts, jnp.stack(actions), jax.tree.map(lambda *x: jnp.stack(x), *extras))
    new_state, metrics = jax.jit(agent.update)(state, traj, jax.random.PRNGKey(6))
    assert all(bool(jnp.isfinite(v)) for v in metrics.values())
    assert {"ppo_policy", "ppo_value", "entropy", "policy_std"} <= set(metrics)
    # entropy of a 2-d Gaussian with std 1: 2 * (0.5 + 0.5 log 2 pi) = 2.8379
    assert float(-metrics["entropy"]) == pytest.approx(2.8379, abs=0.05)
    assert not np.allclose(new_state.params.net.log_std, state.params.net.log_std)


def test_vtrace_refuses_continuous_actions_clearly():
    agent = make_vtrace(VTraceConfig(), SPEC, None, agent_losses("vtrace", VTraceConfig().loss_weights))
    with pytest.raises(RlkError, match="discrete actions only"):
        agent.init(jax.random.PRNGKey(0))


def random_pendulum_return(num_envs: int = 64, steps: int = 1000) -> float:
    """Mean return of completed Pendulum episodes under uniform random torques in [-2, 2]."""
    return bench.random_policy_return("Pendulum-v1", num_envs=num_envs, length=steps)


# Pendulum-v1 settings (PPO's discrete defaults are unchanged): a short horizon (gamma 0.9, as in
# rl-baselines3-zoo's Pendulum PPO), 10 epochs of 32 minibatches (the paper's MuJoCo setting: 10
# epochs), Adam 1e-3 annealed to 0 over the run, no entropy bonus, unclipped value loss (returns
# here are in the hundreds, PPO's 0.2 value clip would slow the critic).
PENDULUM_STEPS = 500_000
PENDULUM_OVERRIDES = {
    "agent.gamma": "0.9",
    "agent.learning_rate": "1e-3",
    "agent.lr_schedule": "linear",
    "agent.lr_decay_updates": str(PENDULUM_STEPS // (64 * 32) + 1),
    "agent.num_envs": "64",
    "agent.unroll_length": "32",
    "agent.num_epochs": "10",
    "agent.num_minibatches": "32",
    "agent.loss_weights.entropy": "0",
    "agent.loss_weights.ppo_value": "0",
    "agent.loss_weights.value": "0.5",
}


@pytest.mark.slow
def test_gaussian_ppo_learns_pendulum(cli, tmp_path):
    overrides = [arg for k, v in PENDULUM_OVERRIDES.items() for arg in ("-o", f"{k}={v}")]
    cli("train", "--env", "Pendulum-v1", "--steps", str(PENDULUM_STEPS), "-q", "--run-dir", str(tmp_path / "run"), *overrides)
    final = json.loads((tmp_path / "run" / "summary.json").read_text())["final_return"]
    random = random_pendulum_return()
    assert random < -1000, random
    assert final > -600 and final > random + 500, (final, random)


def test_uint8_observations_are_scaled_to_unit_range():
    from rlk.plugins.actor_critic.networks import apply_batch, make_actor_critic
    from rlk.core.types import DiscreteSpec

    spec = EnvSpec(name="frames", observation=ArraySpec(shape=(2, 4, 4), dtype="uint8"), action=DiscreteSpec(num_values=3))
    net = make_actor_critic(jax.random.PRNGKey(0), spec, (8,), "ppo")
    frames = jax.random.randint(jax.random.PRNGKey(1), (5, 2, 4, 4), 0, 256).astype(jnp.uint8)
    logits, value = apply_batch(net, frames)
    ref_logits, ref_value = apply_batch(net, frames.astype(jnp.float32) / 255.0)
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-6)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:MuJoCo. compiler attribute 'settotalmass':RuntimeWarning")
def test_gaussian_ppo_drives_a_mujoco_host_environment():
    """A Sebulba-like loop by hand: numpy TimeSteps in, actions out, one update on the unroll."""
    factory = default_registry().get("env", "HalfCheetah-v5").factory(None)
    T, B = 8, 4
    agent = make_ppo(PPOConfig(num_envs=B, unroll_length=T, num_minibatches=2), factory.spec, None, agent_losses("ppo", PPOConfig().loss_weights))
    state = agent.init(jax.random.PRNGKey(0))
    act = jax.jit(agent.act)
    env = factory.make(B, seed=0)
    try:
        ts = env.reset()
        steps, actions, extras = [ts], [], []
        for t in range(T):
            action, _, ex = act(state.params, (), jax.tree.map(jnp.asarray, ts), jax.random.PRNGKey(t))
            ts = env.step(np.asarray(action))
            steps.append(ts)
            actions.append(action)
            extras.append(ex)
    finally:
        env.close()
    stack = lambda *xs: jnp.stack([jnp.asarray(x) for x in xs])
    traj = Trajectory(jax.tree.map(stack, *steps), jnp.stack(actions), jax.tree.map(stack, *extras))
    assert traj.action.shape == (T, B, 6)
    _, metrics = jax.jit(agent.update)(state, traj, jax.random.PRNGKey(9))
    assert all(bool(jnp.isfinite(v)) for v in metrics.values())
