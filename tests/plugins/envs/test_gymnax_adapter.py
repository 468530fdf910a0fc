"""The gymnax adapter: specs, fixed dtypes under vmap + scan, and episode ends that match gymnax's."""

from __future__ import annotations

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.core.types import BoxSpec, DiscreteSpec
from rlk.plugins.envs.gymnax_adapter import make_gymnax
from rlk.core.wrappers import for_training

NUM_ENVS = 8
CLASSIC = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1")


def random_action(spec, key: jax.Array, num_envs: int) -> jax.Array:
    """Uniform random actions for a batch: integers for ``DiscreteSpec``, floats in the box otherwise."""
    if isinstance(spec, DiscreteSpec):
        return jax.random.randint(key, (num_envs,), 0, spec.num_values)
    return jax.random.uniform(key, (num_envs, *spec.shape), minval=spec.low, maxval=spec.high)


def rollout(env, num_envs: int, steps: int, key: jax.Array):
    """Random actions in ``num_envs`` environments, one jitted ``lax.scan``; TimeSteps ``[steps, B]``."""

    def run(key):
        reset_key, scan_key = jax.random.split(key)
        state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))

        def body(carry, k):
            state, _ = carry
            ka, ks = jax.random.split(k)
            action = random_action(env.spec.action, ka, num_envs)
            state, ts = jax.vmap(env.step)(state, action, jax.random.split(ks, num_envs))
            return (state, ts), ts

        return jax.lax.scan(body, (state, ts), jax.random.split(scan_key, steps))[1]

    return jax.device_get(jax.jit(run)(key))


@pytest.mark.parametrize(
    "env_id, obs_shape, action, max_steps",
    [
        ("CartPole-v1", (4,), DiscreteSpec(num_values=2), 500),
        ("Acrobot-v1", (6,), DiscreteSpec(num_values=3), 500),
        ("MountainCar-v0", (2,), DiscreteSpec(num_values=3), 200),
        ("Pendulum-v1", (3,), BoxSpec(shape=(1,), low=-2.0, high=2.0), 200),
    ],
)
def test_spec(env_id, obs_shape, action, max_steps):
    spec = make_gymnax(env_id).spec
    assert spec.name == env_id and spec.observation.shape == obs_shape and spec.observation.dtype == "float32"
    assert spec.action == action
    assert spec.max_episode_steps == max_steps
    assert spec.num_players == 1 and not spec.has_legal_action_mask


def test_discrete_observation_is_one_hot():
    env = make_gymnax("FrozenLake-misc")
    assert env.spec.observation.shape == (16,)
    _, ts = env.reset(jax.random.key(0))
    assert ts.observation.sum() == 1.0 and set(np.unique(ts.observation)) == {0.0, 1.0}


@pytest.mark.parametrize("env_id", CLASSIC)
def test_vmapped_scan_runs_with_fixed_dtypes(env_id):
    env = for_training(make_gymnax(env_id))
    ts = rollout(env, NUM_ENVS, 100, jax.random.key(0))
    assert ts.observation.shape == (100, NUM_ENVS, *env.spec.observation.shape)
    assert ts.observation.dtype == np.float32
    for leaf, dtype in [(ts.reward, np.float32), (ts.discount, np.float32), (ts.last, np.bool_)]:
        assert leaf.shape == (100, NUM_ENVS) and leaf.dtype == dtype
    assert ts.legal_action_mask is None and ts.current_player is None
    assert set(ts.info) == {"episode_return", "episode_length"}
    assert np.isfinite(ts.observation).all() and np.isfinite(ts.reward).all()
    # Discount 0 only where an episode terminated.
    assert (ts.last | (ts.discount == 1)).all() and set(np.unique(ts.discount)) <= {0.0, 1.0}
    if env_id == "Pendulum-v1":  # never terminates; costs in [-16.3, 0]; no time limit in 100 steps
        assert not ts.last.any() and (ts.reward <= 0).all() and (ts.reward > -16.5).all()


def test_cartpole_random_policy_returns_about_twenty():
    env = for_training(make_gymnax("CartPole-v1"))
    ts = rollout(env, 32, 400, jax.random.key(1))
    returns = ts.info["episode_return"][ts.last]
    lengths = ts.info["episode_length"][ts.last]
    assert returns.size > 200
    assert 15.0 < returns.mean() < 30.0  # a random CartPole policy balances ~22 steps
    np.testing.assert_array_equal(returns, lengths)  # reward 1 per step, the last one included
    np.testing.assert_array_equal(ts.discount[ts.last], 0.0)  # the pole fell: terminations


@pytest.mark.parametrize("env_id, steps", [("CartPole-v1", 300), ("MountainCar-v0", 450)])
def test_episode_ends_line_up_with_gymnax(env_id, steps):
    """``AutoReset(EpisodeStats(adapter))`` and gymnax's auto-resetting ``step`` split the key the
    same way, so with the same keys and actions they must walk the same trajectory."""
    env = for_training(make_gymnax(env_id))
    genv, params = gymnax.make(env_id)

    def run(key):
        reset_key, scan_key = jax.random.split(key)
        keys = jax.random.split(reset_key, NUM_ENVS)
        state, _ = jax.vmap(env.reset)(keys)
        _, gstate = jax.vmap(genv.reset, in_axes=(0, None))(keys, params)

        def body(carry, k):
            state, gstate = carry
            ka, ks = jax.random.split(k)
            action = random_action(env.spec.action, ka, NUM_ENVS)
            step_keys = jax.random.split(ks, NUM_ENVS)
            state, ts = jax.vmap(env.step)(state, action, step_keys)
            gobs, gstate, greward, gterm, gtrunc, _ = jax.vmap(genv.step, in_axes=(0, 0, 0, None))(
                step_keys, gstate, action, params
            )
            return (state, gstate), (ts, (gobs, greward, gterm, gtrunc))

        return jax.lax.scan(body, (state, gstate), jax.random.split(scan_key, steps))[1]

    ts, (gobs, greward, gterm, gtrunc) = jax.device_get(jax.jit(run)(jax.random.key(2)))
    np.testing.assert_array_equal(ts.last, gterm | gtrunc)
    np.testing.assert_array_equal(ts.discount, np.where(gterm, 0.0, 1.0))
    np.testing.assert_allclose(ts.reward, greward)
    np.testing.assert_allclose(ts.observation, gobs, rtol=1e-6, atol=1e-6)  # reset obs after ends too
    assert ts.last.sum() >= NUM_ENVS  # every env ended at least one episode
    if env_id == "MountainCar-v0":  # a random policy never reaches the flag: the time limit ends it
        assert gtrunc.any() and not gterm.any()
        np.testing.assert_array_equal(ts.discount[ts.last], 1.0)
        np.testing.assert_array_equal(ts.info["episode_length"][ts.last], 200)
        np.testing.assert_array_equal(ts.info["episode_return"][ts.last], -200.0)
