"""Actor-critic losses and advantages against independent NumPy computations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.core.errors import RlkError
from rlk.core.losses import ClippedValueInputs, PolicyInputs, ValueInputs, agent_losses
from rlk.core.types import TimeStep, Trajectory
from rlk.plugins.actor_critic import losses
from rlk.plugins.actor_critic.config import LOSSES
from rlk.plugins.actor_critic.networks import Categorical
from rlk.plugins.actor_critic.ppo import PPOConfig, gae_advantages

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


def _policy_inputs():
    pi = Categorical(jnp.asarray(LOGITS))
    return PolicyInputs(pi.log_prob(jnp.asarray(ACTION)), pi.entropy(), jnp.asarray(OLD_LOGP), jnp.asarray(ADV))


def _make(name, **options):
    make, config, _ = LOSSES[name]
    return make(config(**options) if config else None)


def test_ppo_policy_loss_matches_numpy():
    logp = np_log_softmax(LOGITS.astype(np.float64))[np.arange(N), ACTION]
    for eps in (0.2, 0.1):
        ratio = np.exp(logp - OLD_LOGP)
        expected = -np.mean(np.minimum(ratio * ADV, np.clip(ratio, 1 - eps, 1 + eps) * ADV))
        got, metrics = _make("ppo_policy", clip_eps=eps).apply(None, _policy_inputs(), None)
        np.testing.assert_allclose(float(got), expected, rtol=1e-5)
        np.testing.assert_allclose(float(metrics["clip_frac"]), np.mean(np.abs(ratio - 1) > eps), rtol=1e-6)


def test_value_and_entropy_losses_match_numpy():
    clipped = OLD_V + np.clip(VALUE - OLD_V, -0.2, 0.2)
    expected = 0.5 * np.mean(np.maximum((VALUE - TARGET) ** 2, (clipped - TARGET) ** 2))
    got, _ = _make("ppo_value").apply(None, ClippedValueInputs(VALUE, TARGET, OLD_V), None)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    got, _ = _make("value").apply(None, ValueInputs(VALUE, TARGET), None)
    np.testing.assert_allclose(float(got), 0.5 * np.mean((VALUE - TARGET) ** 2), rtol=1e-5)
    p = np.exp(np_log_softmax(LOGITS.astype(np.float64)))
    got, _ = _make("entropy").apply(None, _policy_inputs(), None)
    np.testing.assert_allclose(float(got), np.mean((p * np.log(p)).sum(-1)), rtol=1e-5)
    logp = np_log_softmax(LOGITS.astype(np.float64))[np.arange(N), ACTION]
    got, _ = _make("policy_gradient").apply(None, _policy_inputs(), None)
    np.testing.assert_allclose(float(got), -np.mean(logp * ADV), rtol=1e-5)


def test_loss_set_weights_named_losses_and_reads_their_inputs():
    weights = {"value": 0.5, "entropy": 0.01, "ppo_policy": 0.0}
    loss_set = agent_losses("ppo", weights)
    assert [name for name, _, _ in loss_set.terms] == ["entropy", "value"]  # zero weights left out
    inputs = {PolicyInputs: _policy_inputs(), ValueInputs: ValueInputs(VALUE, TARGET)}
    total, metrics = loss_set({}, inputs, {})
    p = np.exp(np_log_softmax(LOGITS.astype(np.float64)))
    expected = 0.5 * 0.5 * np.mean((VALUE - TARGET) ** 2) + 0.01 * np.mean((p * np.log(p)).sum(-1))
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)
    assert set(metrics) == {"value", "entropy"}


def test_loss_options_live_in_the_loss_and_bad_compositions_are_one_line_errors():
    ppo = agent_losses("ppo", {"ppo_policy": 1.0}, {"ppo_policy": {"clip_eps": 0.1}})
    got, _ = ppo({}, {PolicyInputs: _policy_inputs()}, {})
    want, _ = losses.ppo_policy(_policy_inputs(), 0.1)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-6)
    with pytest.raises(RlkError, match=r"^loss 'ppo_value' needs ClippedValueInputs, which agent 'vtrace' does not produce"):
        agent_losses("vtrace", {"ppo_value": 0.5})
    with pytest.raises(RlkError, match=r"^losses.ppo_policy.clip_eps: "):
        agent_losses("ppo", {"ppo_policy": 1.0}, {"ppo_policy": {"clip_eps": 0}})
    with pytest.raises(RlkError, match=r"^losses.value: loss 'value' is not among agent 'ppo''s loss_weights"):
        agent_losses("ppo", {"ppo_policy": 1.0}, {"value": {}})
    with pytest.raises(RlkError, match=r"^unknown loss 'nope'"):
        agent_losses("ppo", {"nope": 1.0})


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
    T, B = 6, 2
    obs = jnp.asarray(rng.uniform(size=(T + 1, B, 5)), jnp.float32)
    reward = jnp.asarray(rng.normal(size=(T + 1, B)), jnp.float32)
    last = np.zeros((T + 1, B), bool)
    last[3, 0] = last[5, 1] = True
    discount = np.where(last, 0.0, 1.0).astype(np.float32)
    discount[5, 1] = 1.0  # a truncation: discount 1 but the episode still ends
    ts = TimeStep(obs, reward, jnp.asarray(discount), jnp.asarray(last))
    all_v = rng.normal(size=(T + 1, B)).astype(np.float32)
    values = all_v[:-1]
    traj = Trajectory(ts, jnp.zeros((T, B), jnp.int32), {"value": jnp.asarray(values), "log_prob": jnp.zeros((T, B))})
    disc = cfg.gamma * discount[1:] * (1 - last[1:])
    expected = np.stack([np_gae(np.asarray(reward)[1:, b], disc[:, b], all_v[:, b], cfg.gae_lambda) for b in range(B)], 1)
    got, target = gae_advantages(jnp.asarray(all_v), traj, cfg.gamma, cfg.gae_lambda)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(target), expected + values, rtol=1e-4, atol=1e-5)
