"""Actor-critic losses and advantages against independent NumPy computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from types import SimpleNamespace

from rlk.core.losses import compose
from rlk.core.types import TimeStep, Trajectory
from rlk.plugins.actor_critic import losses
from rlk.plugins.actor_critic.ppo import PPOConfig, gae_advantages, make_ppo
from rlk.plugins.envs.catch import Catch

CFG = SimpleNamespace(clip_eps=0.2)
rng = np.random.default_rng(0)
N, A = 32, 3
LOGITS = rng.normal(size=(N, A)).astype(np.float32)
ACTION = rng.integers(0, A, size=N)
OLD_LOGP = np.log(rng.uniform(0.1, 0.9, size=N)).astype(np.float32)
ADV = rng.normal(size=N).astype(np.float32)
VALUE, TARGET, OLD_V = (rng.normal(size=N).astype(np.float32) for _ in range(3))


def np_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_ppo_policy_loss_matches_numpy():
    logp = np_log_softmax(LOGITS.astype(np.float64))[np.arange(N), ACTION]
    ratio = np.exp(logp - OLD_LOGP)
    expected = -np.mean(np.minimum(ratio * ADV, np.clip(ratio, 0.8, 1.2) * ADV))
    got, metrics = losses.ppo_policy_loss({"logits": LOGITS}, {"action": ACTION, "behaviour_log_prob": OLD_LOGP, "advantage": ADV}, CFG)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    np.testing.assert_allclose(float(metrics["clip_frac"]), np.mean(np.abs(ratio - 1) > 0.2), rtol=1e-6)


def test_value_and_entropy_losses_match_numpy():
    clipped = OLD_V + np.clip(VALUE - OLD_V, -0.2, 0.2)
    expected = 0.5 * np.mean(np.maximum((VALUE - TARGET) ** 2, (clipped - TARGET) ** 2))
    got, _ = losses.clipped_value_loss({"value": VALUE}, {"value_target": TARGET, "behaviour_value": OLD_V}, CFG)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    p = np.exp(np_log_softmax(LOGITS.astype(np.float64)))
    got, _ = losses.entropy_loss({"logits": LOGITS}, {}, CFG)
    np.testing.assert_allclose(float(got), np.mean((p * np.log(p)).sum(-1)), rtol=1e-5)


def test_compose_weights_named_losses():
    outputs = {"logits": LOGITS, "value": VALUE}
    batch = {"value_target": TARGET}
    total, metrics = compose({"value": 0.5, "entropy": 0.01}, losses.LOSSES.__getitem__)(outputs, batch, CFG)
    expected = 0.5 * float(losses.value_loss(outputs, batch, CFG)[0]) + 0.01 * float(losses.entropy_loss(outputs, batch, CFG)[0])
    np.testing.assert_allclose(float(total), expected, rtol=1e-6)
    assert set(metrics) == {"value", "entropy"}


def np_gae(rewards, discounts, values, lam):
    T = len(rewards)
    adv = np.zeros(T)
    acc = 0.0
    for t in reversed(range(T)):
        delta = rewards[t] + discounts[t] * values[t + 1] - values[t]
        acc = delta + discounts[t] * lam * acc
        adv[t] = acc
    return adv


def test_ppo_gae_cuts_at_episode_ends():
    """PPO's advantages equal a NumPy GAE where discount is gamma * (1 - last) (terminations and truncations)."""
    cfg = PPOConfig(num_envs=2, unroll_length=6)
    env = Catch()
    agent = make_ppo(cfg, env.spec)
    state = agent.init(jax.random.PRNGKey(0))
    T, B = 6, 2
    obs = jnp.asarray(rng.uniform(size=(T + 1, B) + env.spec.observation.shape), jnp.float32)
    reward = jnp.asarray(rng.normal(size=(T + 1, B)), jnp.float32)
    last = np.zeros((T + 1, B), bool)
    last[3, 0] = last[5, 1] = True
    discount = np.where(last, 0.0, 1.0).astype(np.float32)
    discount[5, 1] = 1.0  # a truncation: discount 1 but the episode still ends
    ts = TimeStep(obs, reward, jnp.asarray(discount), jnp.asarray(last))
    values = rng.normal(size=(T, B)).astype(np.float32)
    traj = Trajectory(ts, jnp.zeros((T, B), jnp.int32), {"value": jnp.asarray(values), "log_prob": jnp.zeros((T, B))})
    from rlk.plugins.actor_critic.networks import apply_batch

    _, boot = apply_batch(state.params, obs[-1])
    all_v = np.concatenate([values, np.asarray(boot)[None]], 0)
    disc = cfg.gamma * discount[1:] * (1 - last[1:])
    expected = np.stack([np_gae(np.asarray(reward)[1:, b], disc[:, b], all_v[:, b], cfg.gae_lambda) for b in range(B)], 1)
    got, target = gae_advantages(state.params, traj, cfg)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(target), expected + values, rtol=1e-4, atol=1e-5)
