"""MuJoCo through gymnasium vector envs as a HostEnvironment: spec, truncation vs termination,
episode statistics, action clipping and the running observation normaliser."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rlk.core.interfaces import HostEnvironmentFactory
from rlk.core.registry import default_registry
from rlk.core.types import BoxSpec
from rlk.plugins.envs.atari import per_env_seeds
from rlk.plugins.envs.mujoco import (
    MUJOCO_ENVS,
    MujocoConfig,
    RunningMeanStd,
    make_mujoco,
    merge_normaliser_states,
)

# HalfCheetah's model uses a deprecated compiler attribute; MuJoCo warns (as a Python warning here)
pytestmark = pytest.mark.filterwarnings("ignore:MuJoCo. compiler attribute 'settotalmass':RuntimeWarning")


def random_actions(spec: BoxSpec, rng, num_envs: int, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.uniform(spec.low, spec.high, size=(num_envs, *spec.shape))).astype(np.float32)


def check_timestep(ts, num_envs: int, spec) -> None:
    assert ts.observation.shape == (num_envs, *spec.observation.shape) and ts.observation.dtype == np.float32
    assert ts.reward.shape == (num_envs,) and ts.reward.dtype == np.float32
    assert ts.discount.dtype == np.float32 and ts.last.dtype == np.bool_
    assert ts.info["episode_return"].dtype == np.float32 and ts.info["episode_length"].dtype == np.int32
    assert ts.legal_action_mask is None and ts.current_player is None


def test_registered_specs():
    reg = default_registry()
    expected = {"HalfCheetah-v5": (17, 6, 1.0), "Hopper-v5": (11, 3, 1.0), "Walker2d-v5": (17, 6, 1.0),
                "Ant-v5": (105, 8, 1.0), "Humanoid-v5": (348, 17, 0.4)}
    assert set(MUJOCO_ENVS) == set(expected)
    for env_id, (obs, act, bound) in expected.items():
        plugin = reg.get("env", env_id)
        assert plugin.config is MujocoConfig and "gymnasium" in plugin.description
        factory = plugin.factory(None)
        assert isinstance(factory, HostEnvironmentFactory)
        spec = factory.spec
        assert spec.observation.shape == (obs,) and spec.observation.dtype == "float32"
        assert isinstance(spec.action, BoxSpec) and spec.action.shape == (act,)
        assert spec.action.high == pytest.approx(bound) and spec.action.low == pytest.approx(-bound)
        assert spec.max_episode_steps == 1000
    assert MujocoConfig().normalize_observations


def test_halfcheetah_truncates_at_1000_steps_with_discount_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo's log file, if any, would land here
    env = make_mujoco("HalfCheetah-v5", MujocoConfig(normalize_observations=False)).make(2, seed=0)
    rng = np.random.default_rng(0)
    returns = np.zeros(2)
    prev = env.reset()
    check_timestep(prev, 2, env.spec)
    ends = []
    try:
        for t in range(1, 1101):
            # 3x the bounds: the environment clips (an unclipped action would cost more control)
            ts = env.step(random_actions(env.spec.action, rng, 2, scale=3.0))
            returns += ts.reward
            if t in (1, 1000):
                check_timestep(ts, 2, env.spec)
            if ts.last.any():
                ends.append(t)
                assert ts.last.all()
                np.testing.assert_array_equal(ts.discount, 1.0)  # truncation, not termination
                np.testing.assert_array_equal(ts.info["episode_length"], 1000)
                np.testing.assert_allclose(ts.info["episode_return"], returns, rtol=1e-4)
                assert not np.allclose(ts.observation, prev.observation)  # the reset observation
                returns[:] = 0
            else:
                np.testing.assert_array_equal(ts.discount, 1.0)
                np.testing.assert_array_equal(ts.info["episode_length"], 0)
            prev = ts
    finally:
        env.close()
    assert ends == [1000]
    assert not os.path.exists(tmp_path / "MUJOCO_LOG.TXT")


def test_actions_are_clipped_to_the_bounds():
    env = make_mujoco("HalfCheetah-v5", MujocoConfig(normalize_observations=False)).make(1, seed=0)
    try:
        env.reset(0)
        big = env.step(np.full((1, 6), 100.0, np.float32))
        env.reset(0)
        one = env.step(np.full((1, 6), 1.0, np.float32))
    finally:
        env.close()
    np.testing.assert_array_equal(big.observation, one.observation)
    np.testing.assert_array_equal(big.reward, one.reward)


def test_hopper_terminates_with_discount_zero():
    env = make_mujoco("Hopper-v5").make(2, seed=1)
    rng = np.random.default_rng(1)
    env.reset()
    lengths = np.zeros(2, int)
    found = False
    try:
        for _ in range(300):
            ts = env.step(random_actions(env.spec.action, rng, 2))
            lengths += 1
            for i in np.flatnonzero(ts.last):
                assert ts.discount[i] == 0.0  # fell over: a true termination
                assert ts.info["episode_length"][i] == lengths[i] < 1000
                lengths[i] = 0
                found = True
            np.testing.assert_array_equal(ts.discount[~ts.last], 1.0)
    finally:
        env.close()
    assert found


def test_normaliser_tracks_the_data_and_centres_observations():
    env = make_mujoco("Hopper-v5").make(4, seed=2)
    rng = np.random.default_rng(2)
    try:
        env.reset()
        before = env.get_state()
        assert float(before["count"]) == pytest.approx(4 + 1e-4)
        normalised = []
        for t in range(600):
            ts = env.step(random_actions(env.spec.action, rng, 4))
            if t >= 300:
                normalised.append(ts.observation)
        state = env.get_state()
    finally:
        env.close()
    normalised = np.concatenate(normalised)
    assert float(state["count"]) == pytest.approx(4 * 601 + 1e-4)
    assert np.all(np.abs(normalised) <= 10.0)
    assert np.all(np.abs(normalised.mean(axis=0)) < 0.5), normalised.mean(axis=0)
    assert np.all(normalised.std(axis=0) < 2.0)
    # the statistics moved from (0, 1) toward the data: Hopper's height (obs[0]) is about 1.2
    assert 0.8 < state["mean"][0] < 1.5 and np.all(state["var"] != 1.0)


def test_normaliser_state_round_trips_and_freezes():
    factory = make_mujoco("Hopper-v5")
    env = factory.make(2, seed=0)
    try:
        env.reset()
        for _ in range(20):
            env.step(np.zeros((2, 3), np.float32))
        state = env.get_state()
        other = factory.make(2, seed=0)
        try:
            other.set_state(state)
            other.update_statistics = False
            ts = other.reset()
            np.testing.assert_array_equal(other.get_state()["mean"], state["mean"])
            raw = other.vector_env.reset(seed=[int(s) for s in per_env_seeds(0, 2)])[0]  # the same starts
            expected = np.clip((raw - state["mean"]) / np.sqrt(state["var"] + 1e-8), -10, 10)
            np.testing.assert_allclose(ts.observation, expected, rtol=1e-5, atol=1e-5)
        finally:
            other.close()
    finally:
        env.close()


def test_running_moments_match_numpy_and_merge():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 5))
    a, b = RunningMeanStd((5,)), RunningMeanStd((5,))
    for chunk in np.split(data[:600], 6):
        a.update(chunk)
    b.update(data[600:])
    np.testing.assert_allclose(a.mean, data[:600].mean(0), rtol=1e-5)
    np.testing.assert_allclose(a.var, data[:600].var(0), rtol=1e-3)
    merged = merge_normaliser_states([
        {"mean": a.mean, "var": a.var, "count": np.asarray(a.count)},
        {"mean": b.mean, "var": b.var, "count": np.asarray(b.count)},
    ])
    np.testing.assert_allclose(merged["mean"], data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(merged["var"], data.var(0), rtol=1e-3)
