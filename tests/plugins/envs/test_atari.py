"""Atari through ale-py's AtariVectorEnv as a HostEnvironment: spec, TimeStep conventions, episode
ends (termination, truncation, lost lives), sticky actions and seeding."""

from __future__ import annotations

import numpy as np
import pytest

from rlk.core.interfaces import HostEnvironment, HostEnvironmentFactory
from rlk.core.registry import default_registry
from rlk.core.types import DiscreteSpec
from rlk.plugins.envs.atari import ATARI_57, AtariConfig, make_atari


def rollout(env: HostEnvironment, steps: int, seed: int = 0, actions=None):
    """Random actions (or the given ``actions [steps, B]``); returns the list of TimeSteps, reset first."""
    rng = np.random.default_rng(seed)
    ts = [env.reset(seed)]
    for t in range(steps):
        a = rng.integers(0, env.spec.action.num_values, size=env.num_envs) if actions is None else actions[t]
        ts.append(env.step(a))
    return ts


def check_timestep(ts, num_envs: int, spec) -> None:
    assert ts.observation.shape == (num_envs, *spec.observation.shape) and ts.observation.dtype == np.uint8
    assert ts.reward.shape == (num_envs,) and ts.reward.dtype == np.float32
    assert ts.discount.shape == (num_envs,) and ts.discount.dtype == np.float32
    assert ts.last.shape == (num_envs,) and ts.last.dtype == np.bool_
    assert ts.info["episode_return"].dtype == np.float32 and ts.info["episode_length"].dtype == np.int32
    assert ts.legal_action_mask is None and ts.current_player is None


def test_registered_with_defaults_and_spec():
    reg = default_registry()
    plugin = reg.get("env", "atari-breakout")
    assert "ale-py" in plugin.description and plugin.config is AtariConfig
    assert {"atari-pong", "atari-space_invaders", "atari-ms_pacman"} <= set(reg.names("env"))
    c = AtariConfig()
    assert (c.repeat_action_probability, c.frameskip, c.frame_stack, c.max_episode_frames) == (0.25, 4, 4, 108_000)
    assert not c.full_action_space and not c.episodic_life
    factory = plugin.factory(None)
    assert isinstance(factory, HostEnvironmentFactory)
    spec = factory.spec
    assert spec.observation.shape == (4, 84, 84) and spec.observation.dtype == "uint8"
    assert spec.action == DiscreteSpec(num_values=4)  # Breakout's minimal set
    assert spec.max_episode_steps == 27_000
    assert make_atari("pong").spec.action.num_values == 6
    assert make_atari("pong", AtariConfig(full_action_space=True)).spec.action.num_values == 18


def test_every_registered_game_has_a_rom():
    from ale_py import roms

    assert len(ATARI_57) == 57
    missing = [g for g in ATARI_57 if roms.get_rom_path(g) is None]
    assert not missing


def test_random_rollout_follows_the_timestep_conventions():
    env = make_atari("breakout").make(2, seed=0)
    try:
        traj = rollout(env, 300)
    finally:
        env.close()
    for ts in traj:
        check_timestep(ts, 2, env.spec)
    first = traj[0]
    assert not first.last.any() and (first.reward == 0).all() and (first.discount == 1).all()
    last = np.stack([t.last for t in traj[1:]])
    assert last.any(), "a random Breakout game ends within 300 steps"
    running = np.zeros(2)
    lengths = np.zeros(2, int)
    for prev, ts in zip(traj[:-1], traj[1:]):
        running += ts.reward
        lengths += 1
        ret, length = ts.info["episode_return"], ts.info["episode_length"]
        np.testing.assert_array_equal(ret[~ts.last], 0)
        np.testing.assert_array_equal(length[~ts.last], 0)
        for i in np.flatnonzero(ts.last):
            assert ts.discount[i] == 0.0  # game over, not a truncation
            assert ret[i] == pytest.approx(running[i]) and length[i] == lengths[i]
            # same-step reset: the new game's first frames, unlike the stack the agent just saw
            assert not np.array_equal(ts.observation[i], prev.observation[i])
            running[i], lengths[i] = 0.0, 0


def test_rewards_are_raw_scores():
    env = make_atari("space_invaders").make(2, seed=0)
    try:
        traj = rollout(env, 100)
    finally:
        env.close()
    assert np.stack([t.reward for t in traj]).max() >= 5.0  # an alien is worth 5-30 points; no clipping


def test_truncation_keeps_discount_one():
    env = make_atari("pong", AtariConfig(max_episode_frames=200)).make(2, seed=1)
    try:
        traj = rollout(env, 60)
    finally:
        env.close()
    ends = [(t, ts) for t, ts in enumerate(traj) if ts.last.any()]
    t, ts = ends[0]
    assert t == 50 and ts.last.all()  # 200 frames / frameskip 4
    np.testing.assert_array_equal(ts.discount, 1.0)
    np.testing.assert_array_equal(ts.info["episode_length"], 50)


def test_episodic_life_ends_learning_episodes_not_games():
    env = make_atari("breakout", AtariConfig(episodic_life=True)).make(1, seed=0)
    try:
        traj = rollout(env, 300)
    finally:
        env.close()
    ends = [(t, ts) for t, ts in enumerate(traj) if ts.last[0]]
    assert all(ts.discount[0] == 0 for _, ts in ends)
    game_overs = [t for t, ts in ends if ts.info["episode_length"][0] > 0]
    assert game_overs, "a random Breakout game (5 lives) ends within 300 steps"
    first = game_overs[0]
    life_losses = [t for t, ts in ends if t < first]
    assert len(life_losses) == 4  # Breakout's five lives: four lost lives, then game over
    # statistics cover the whole game; a lost life does not reset it (the frames go on)
    assert traj[first].info["episode_length"][0] == first
    t = life_losses[0]
    assert np.array_equal(traj[t].observation[0, :-1], traj[t - 1].observation[0, 1:])


def test_sticky_actions_reach_the_emulator():
    """With repeat probability 1 the first action (NOOP) repeats forever: actions change nothing."""
    config = AtariConfig(repeat_action_probability=1.0, use_fire_reset=False, noop_max=0)
    env = make_atari("breakout", config).make(1, seed=0)
    try:
        a = rollout(env, 40, actions=np.ones((40, 1), np.int32))  # FIRE
        b = rollout(env, 40, actions=np.full((40, 1), 2, np.int32))  # RIGHT
    finally:
        env.close()
    np.testing.assert_array_equal(np.stack([t.observation for t in a]), np.stack([t.observation for t in b]))
    env = make_atari("breakout", AtariConfig(repeat_action_probability=0.0, use_fire_reset=False, noop_max=0)).make(1, seed=0)
    try:
        a = rollout(env, 40, actions=np.ones((40, 1), np.int32))
        b = rollout(env, 40, actions=np.full((40, 1), 2, np.int32))
    finally:
        env.close()
    assert not np.array_equal(np.stack([t.observation for t in a]), np.stack([t.observation for t in b]))


def test_same_seed_same_games_and_step_from_another_thread():
    import threading

    factory = make_atari("breakout")
    env = factory.make(2, seed=3)
    try:
        first = rollout(env, 50, seed=3)
        out = {}
        thread = threading.Thread(target=lambda: out.setdefault("ts", rollout(env, 50, seed=3)))
        thread.start()
        thread.join()
    finally:
        env.close()
    np.testing.assert_array_equal(np.stack([t.observation for t in first]), np.stack([t.observation for t in out["ts"]]))
    # the two environments of a batch are seeded differently
    assert not np.array_equal(first[-1].observation[0], first[-1].observation[1])
