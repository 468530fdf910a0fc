"""Catch's rules (bsuite) and the AutoReset/EpisodeStats wrappers, run compiled as Anakin runs them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.plugins.envs.catch import Catch, CatchState
from rlk.core.wrappers import AutoReset, EpisodeStats, for_training

ROWS, COLUMNS = 10, 5


def toward_ball(state: CatchState) -> jax.Array:
    """0 left, 1 stay, 2 right: move the paddle under the ball."""
    return (jnp.sign(state.ball_x - state.paddle_x) + 1).astype(jnp.int32)


def away_from_ball(state: CatchState) -> jax.Array:
    """Move to the wall farther from the ball's column (left when level with it)."""
    return jnp.where(state.ball_x < state.paddle_x, 2, 0).astype(jnp.int32)


def play_episode(env: Catch, policy, state: CatchState):
    """Runs ``rows - 1`` steps from ``state`` with a state-feedback policy; stacked TimeSteps."""

    def body(s, _):
        s, ts = env.step(s, policy(s), jax.random.key(0))
        return s, ts

    return jax.lax.scan(body, state, None, length=ROWS - 1)[1]


@pytest.fixture(scope="module")
def catch_episodes():
    """Every start column, played by both policies: (toward, away) TimeSteps ``[5, 9]``."""
    env = Catch()
    starts = CatchState(
        ball_x=jnp.arange(COLUMNS, dtype=jnp.int32),
        ball_y=jnp.zeros(COLUMNS, jnp.int32),
        paddle_x=jnp.full(COLUMNS, COLUMNS // 2, jnp.int32),
    )
    run = jax.jit(jax.vmap(lambda s: (play_episode(env, toward_ball, s), play_episode(env, away_from_ball, s))))
    return jax.device_get(run(starts))


def test_spec():
    spec = Catch().spec
    assert spec.observation.shape == (ROWS, COLUMNS)
    assert spec.action.num_values == 3
    assert spec.max_episode_steps == ROWS - 1
    assert not spec.has_legal_action_mask


def test_reset_places_ball_on_top_and_paddle_in_the_middle():
    keys = jax.random.split(jax.random.key(0), 64)
    state, ts = jax.vmap(Catch().reset)(keys)
    obs = np.asarray(ts.observation)
    assert obs.dtype == np.float32 and obs.shape == (64, ROWS, COLUMNS)
    np.testing.assert_array_equal(obs[:, 0].sum(-1), 1.0)  # one ball in the top row
    np.testing.assert_array_equal(obs[:, -1, COLUMNS // 2], 1.0)  # paddle in the middle
    np.testing.assert_array_equal(obs.sum((1, 2)), 2.0)
    assert set(np.asarray(state.ball_x).tolist()) == set(range(COLUMNS))  # every column is drawn
    assert not np.asarray(ts.last).any() and (np.asarray(ts.discount) == 1).all()


def test_episode_lasts_nine_steps_with_reward_only_at_the_end(catch_episodes):
    for ts in catch_episodes:
        last = np.asarray(ts.last)
        assert not last[:, :-1].any() and last[:, -1].all()
        np.testing.assert_array_equal(np.asarray(ts.reward)[:, :-1], 0.0)
        np.testing.assert_array_equal(np.asarray(ts.discount)[:, :-1], 1.0)
        np.testing.assert_array_equal(np.asarray(ts.discount)[:, -1], 0.0)


def test_following_the_ball_catches_it_and_moving_away_misses(catch_episodes):
    toward, away = catch_episodes
    np.testing.assert_array_equal(np.asarray(toward.reward)[:, -1], 1.0)
    np.testing.assert_array_equal(np.asarray(away.reward)[:, -1], -1.0)
    # At the catch the ball and the paddle share one cell of the bottom row.
    np.testing.assert_array_equal(np.asarray(toward.observation)[:, -1].sum((1, 2)), 1.0)
    np.testing.assert_array_equal(np.asarray(away.observation)[:, -1, -1].sum(-1), 2.0)


def test_wrappers_report_episode_stats_at_last_and_reset_the_observation():
    env = AutoReset(EpisodeStats(Catch()))
    steps = 3 * (ROWS - 1) + 2

    def run(key):
        state, ts = env.reset(key)

        def body(s, k):
            s, ts = env.step(s, jnp.int32(1), k)
            return s, ts

        return ts, jax.lax.scan(body, state, jax.random.split(key, steps))[1]

    first, ts = jax.device_get(jax.jit(run)(jax.random.key(3)))
    assert first.info["episode_return"] == 0 and first.info["episode_length"] == 0
    last = np.asarray(ts.last)
    np.testing.assert_array_equal(np.flatnonzero(last), [8, 17, 26])
    length, ret = np.asarray(ts.info["episode_length"]), np.asarray(ts.info["episode_return"])
    np.testing.assert_array_equal(length[last], ROWS - 1)
    np.testing.assert_array_equal(length[~last], 0)
    np.testing.assert_array_equal(ret[~last], 0.0)
    np.testing.assert_array_equal(ret[last], np.asarray(ts.reward)[last])  # one reward per episode
    assert set(ret[last].tolist()) <= {-1.0, 1.0}
    # After ``last`` the observation is a fresh episode's: ball on top, paddle in the middle.
    obs = np.asarray(ts.observation)[last]
    np.testing.assert_array_equal(obs[:, 0].sum(-1), 1.0)
    np.testing.assert_array_equal(obs[:, -1, COLUMNS // 2], 1.0)
    # Before ``last`` the ball keeps falling: it is in row t + 1 after step t of each episode.
    ball_rows = np.argmax(np.asarray(ts.observation)[:, :-1].sum(-1), axis=-1)
    np.testing.assert_array_equal(ball_rows[:8], np.arange(1, ROWS - 1))


def test_vmapped_jitted_scan_keeps_fixed_dtypes():
    env = for_training(Catch())
    num_envs, steps = 16, 100

    def run(key):
        state, ts = jax.vmap(env.reset)(jax.random.split(key, num_envs))

        def body(carry, k):
            state, _ = carry
            ka, ks = jax.random.split(k)
            action = jax.random.randint(ka, (num_envs,), 0, 3)
            state, ts = jax.vmap(env.step)(state, action, jax.random.split(ks, num_envs))
            return (state, ts), ts

        return jax.lax.scan(body, (state, ts), jax.random.split(key, steps))[1]

    ts = jax.device_get(jax.jit(run)(jax.random.key(0)))
    assert ts.observation.shape == (steps, num_envs, ROWS, COLUMNS) and ts.observation.dtype == np.float32
    assert ts.reward.dtype == np.float32 and ts.discount.dtype == np.float32 and ts.last.dtype == np.bool_
    assert ts.info["episode_return"].dtype == np.float32 and ts.info["episode_length"].dtype == np.int32
    assert ts.legal_action_mask is None and ts.current_player is None
    # Every episode is 9 steps long whatever the actions: ``last`` at steps 8, 17, ... in every env.
    expected = (np.arange(steps) % (ROWS - 1)) == ROWS - 2
    np.testing.assert_array_equal(ts.last, np.broadcast_to(expected[:, None], (steps, num_envs)))
    np.testing.assert_array_equal(ts.info["episode_length"][ts.last], ROWS - 1)
