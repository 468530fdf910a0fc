"""The pgx adapter: specs, Go's reward perspective and legal mask, MinAtar's time limit, and fixed
dtypes under vmap + scan."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.plugins.envs.catalogue import GoConfig, MinAtarConfig
from rlk.plugins.envs.pgx_adapter import MINATAR_MAX_EPISODE_STEPS, PgxEnv, make_pgx
from rlk.core.wrappers import for_training

PASS = 81  # Go 9x9: actions 0..80 are board points (row-major), 81 passes


def rollout(env, num_envs: int, steps: int, key: jax.Array):
    """Random (legal, where a mask is given) actions, one jitted ``lax.scan``; TimeSteps ``[steps, B]``."""

    def policy(ts, key):
        if ts.legal_action_mask is None:
            return jax.random.randint(key, (num_envs,), 0, env.spec.action.num_values)
        return jax.random.categorical(key, jnp.where(ts.legal_action_mask, 0.0, -jnp.inf))

    def run(key):
        reset_key, scan_key = jax.random.split(key)
        state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))

        def body(carry, k):
            state, ts = carry
            ka, ks = jax.random.split(k)
            state, ts = jax.vmap(env.step)(state, policy(ts, ka), jax.random.split(ks, num_envs))
            return (state, ts), ts

        return jax.lax.scan(body, (state, ts), jax.random.split(scan_key, steps))[1]

    return jax.device_get(jax.jit(run)(key))


def assert_fixed_dtypes(ts, spec, steps: int, num_envs: int) -> None:
    assert ts.observation.shape == (steps, num_envs, *spec.observation.shape)
    assert ts.observation.dtype == np.float32
    for leaf, dtype in [(ts.reward, np.float32), (ts.discount, np.float32), (ts.last, np.bool_)]:
        assert leaf.shape == (steps, num_envs) and leaf.dtype == dtype
    assert ts.info["episode_return"].dtype == np.float32 and ts.info["episode_length"].dtype == np.int32


@pytest.mark.parametrize(
    "env_id, obs_shape, num_actions",
    [
        ("go_9x9", (9, 9, 17), 82),
        ("minatar-breakout", (10, 10, 4), 3),
        ("minatar-asterix", (10, 10, 4), 5),
        ("minatar-freeway", (10, 10, 7), 3),
        ("minatar-seaquest", (10, 10, 10), 6),
        ("minatar-space_invaders", (10, 10, 6), 4),
    ],
)
def test_spec(env_id, obs_shape, num_actions):
    spec = make_pgx(env_id).spec
    go = env_id == "go_9x9"
    assert spec.name == env_id and spec.observation.shape == obs_shape and spec.observation.dtype == "float32"
    assert spec.action.num_values == num_actions
    assert spec.num_players == (2 if go else 1) and spec.has_legal_action_mask == go
    assert spec.max_episode_steps == (2 * 9 * 9 if go else MINATAR_MAX_EPISODE_STEPS)


@pytest.mark.parametrize("env_id, options, planes, max_steps", [
    ("go_9x9", {"history_length": 2, "max_terminal_steps": 50}, 5, 50),
    ("go_9x9", {}, 17, 162),
])
def test_go_constructor_options_reach_pgx(env_id, options, planes, max_steps):
    env = make_pgx(env_id, GoConfig(**options))
    assert env.spec.observation.shape == (9, 9, planes) and env.spec.max_episode_steps == max_steps


def test_minatar_sticky_actions_option():
    assert make_pgx("minatar-breakout", MinAtarConfig(sticky_action_prob=0.0))._env.sticky_action_prob == 0.0
    assert make_pgx("minatar-breakout")._env.sticky_action_prob == 0.1


@pytest.fixture(scope="module")
def go():
    """The Go adapter with jitted ``reset``/``step`` (compiled once for the module)."""
    env = make_pgx("go_9x9")
    return env, jax.jit(env.reset), jax.jit(env.step)


def play(go, actions):
    """Plays ``actions`` from a fresh game; the TimeSteps after reset and after each move."""
    _, reset, step = go
    state, ts = reset(jax.random.key(0))
    out = [ts]
    for i, a in enumerate(actions):
        state, ts = step(state, jnp.int32(a), jax.random.key(i))
        out.append(ts)
    return state, jax.device_get(out)


def test_go_exposes_players_and_the_legal_mask(go):
    state, (ts0, ts1, ts2) = play(go, [0, PASS])
    for ts in (ts0, ts1, ts2):
        assert ts.legal_action_mask.shape == (82,) and ts.legal_action_mask.dtype == np.bool_
        assert ts.current_player.dtype == np.int32 and ts.current_player in (0, 1)
        assert ts.info == {} and ts.observation.dtype == np.float32
    assert ts0.legal_action_mask.all() and not ts0.last and ts0.discount == 1
    assert not ts1.legal_action_mask[0] and ts1.legal_action_mask[1:].all()  # point 0 is taken
    assert ts1.current_player != ts0.current_player and ts2.current_player == ts0.current_player
    assert ts1.reward == 0 and ts2.reward == 0 and not ts2.last


def test_go_illegal_move_ends_the_game_against_its_player(go):
    state, (ts0, ts1, ts2) = play(go, [0, 0])  # the second player plays on an occupied point
    assert ts2.last and ts2.discount == 0
    assert ts2.reward == -1.0  # the actor's perspective: the player who moved illegally loses
    np.testing.assert_array_equal(np.asarray(state.rewards)[ts1.current_player], -1.0)
    np.testing.assert_array_equal(np.asarray(state.rewards)[ts0.current_player], 1.0)


def test_go_reward_is_the_movers(go):
    # Two passes on an empty board: White (second to move) wins on komi; White made the last move.
    _, (*_, ts_white_wins) = play(go, [PASS, PASS])
    assert ts_white_wins.last and ts_white_wins.discount == 0 and ts_white_wins.reward == 1.0
    # Black 2 stones, White 1 stone, no territory: komi 7.5 makes White win; Black passes last.
    _, (*_, ts_black_loses) = play(go, [0, 80, 1, PASS, PASS])
    assert ts_black_loses.last and ts_black_loses.reward == -1.0


def test_go_vmapped_scan_with_legal_random_moves():
    env = for_training(make_pgx("go_9x9"))
    ts = rollout(env, 8, 100, jax.random.key(0))
    assert_fixed_dtypes(ts, env.spec, 100, 8)
    assert ts.legal_action_mask.shape == (100, 8, 82) and ts.legal_action_mask.dtype == np.bool_
    assert ts.current_player.dtype == np.int32
    assert set(np.unique(ts.reward)) <= {-1.0, 0.0, 1.0}
    assert (ts.reward[~ts.last] == 0).all()  # Go pays only at the end
    np.testing.assert_array_equal(ts.discount, np.where(ts.last, 0.0, 1.0))  # ends are terminations
    # Players alternate within a game.
    changed = ts.current_player[1:] != ts.current_player[:-1]
    assert changed[~ts.last[1:]].all()


def test_minatar_breakout_vmapped_scan():
    env = for_training(make_pgx("minatar-breakout"))
    ts = rollout(env, 8, 100, jax.random.key(0))
    assert_fixed_dtypes(ts, env.spec, 100, 8)
    assert ts.legal_action_mask is None and ts.current_player is None
    assert ts.last.any() and ts.reward.sum() > 0  # random play breaks bricks, then misses the ball
    np.testing.assert_array_equal(ts.discount, np.where(ts.last, 0.0, 1.0))  # losing the ball terminates
    for b in range(8):  # the returns of finished episodes add up to the rewards up to the last end
        ends = np.flatnonzero(ts.last[:, b])
        if ends.size:
            assert ts.info["episode_return"][ends, b].sum() == ts.reward[: ends[-1] + 1, b].sum()


def test_minatar_time_limit_truncates_with_discount_one():
    # Freeway never ends before 2,500 steps by itself; a 20-step limit truncates every episode.
    env = for_training(PgxEnv("minatar-freeway", max_episode_steps=20))
    ts = rollout(env, 4, 60, jax.random.key(0))
    assert_fixed_dtypes(ts, env.spec, 60, 4)
    expected = (np.arange(60) % 20) == 19
    np.testing.assert_array_equal(ts.last, np.broadcast_to(expected[:, None], (60, 4)))
    np.testing.assert_array_equal(ts.discount, 1.0)
    np.testing.assert_array_equal(ts.info["episode_length"][ts.last], 20)


def test_go_pass_after_moves_masks_early_passes(go):
    """``env.pass_after_moves=3``: pass is not legal for either player before move 3, then it is."""
    from rlk.core.registry import default_registry

    plugin = default_registry().get("env", "go_9x9")
    env = plugin.factory(plugin.config(pass_after_moves=3))
    _, (ts0, ts1, ts2, ts3) = play((env, jax.jit(env.reset), jax.jit(env.step)), [0, 80, 1])
    assert [bool(ts.legal_action_mask[PASS]) for ts in (ts0, ts1, ts2, ts3)] == [False, False, False, True]
    assert ts0.legal_action_mask[:PASS].all() and not ts1.legal_action_mask[0]  # board points unchanged
    _, (standard,) = play(go, [])  # standard rules
    assert standard.legal_action_mask[PASS]


def test_go_score_reward_adds_the_movers_final_area_margin():
    """``env.score_reward=w``: along the same random games the rewards equal pgx's except at each game's
    end, where the ender's reward gains ``w`` times its final area margin, counted independently by
    pgx's own Tromp-Taylor scoring (``_count_scores``) of the final board (no komi)."""
    from pgx._src.games.go import _count_scores

    from rlk.plugins.envs.pgx_adapter import PgxEnv

    w, B = 0.5, 8
    plain, scored = PgxEnv("go_9x9"), PgxEnv("go_9x9", score_reward=w)
    reset = jax.jit(jax.vmap(plain.reset))
    steps = jax.jit(jax.vmap(plain.step)), jax.jit(jax.vmap(scored.step))
    count = jax.jit(jax.vmap(lambda x: _count_scores(x, 9)))
    state, ts = reset(jax.random.split(jax.random.PRNGKey(0), B))
    key, ended, checked, results, margins = jax.random.PRNGKey(1), np.zeros(B, bool), 0, [], []
    for _ in range(170):
        key, k1, k2 = jax.random.split(key, 3)
        action = jax.random.categorical(k1, jnp.where(ts.legal_action_mask, 0.0, -jnp.inf))
        mover_color = np.asarray(state._x.color)  # 0 black, 1 white: the colour about to move
        keys = jax.random.split(k2, B)
        new_state, ts = steps[0](state, action, keys)
        _, ts_scored = steps[1](state, action, keys)
        r, r_scored = np.asarray(ts.reward), np.asarray(ts_scored.reward)
        now = np.asarray(ts.last) & ~ended
        scores = np.asarray(count(new_state._x))
        margin = np.where(mover_color == 0, scores[:, 0] - scores[:, 1], scores[:, 1] - scores[:, 0]) / 81.0
        live = ~ended & ~now
        np.testing.assert_allclose(r_scored[live], r[live])
        np.testing.assert_allclose(r_scored[now], r[now] + w * margin[now], atol=1e-6)
        checked += now.sum()
        results += list(r[now]); margins += list(margin[now])
        ended |= now
        state = new_state
    assert checked == B and set(np.abs(results)) == {1.0} and np.abs(margins).min() > 0  # +-1 results, margins seen


def own_eyes_by_hand(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Single-point true eyes of ``mine`` (bool [9, 9]), point by point: empty, every on-board
    4-neighbour mine, at most one opponent diagonal in the middle of the board, none on its edge."""
    eyes = np.zeros((9, 9), bool)
    for r in range(9):
        for c in range(9):
            if mine[r, c] or theirs[r, c]:
                continue
            sides = [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))]
            if not all(mine[p] for p in sides if 0 <= p[0] < 9 and 0 <= p[1] < 9):
                continue
            diagonals = [(r + dr, c + dc) for dr in (-1, 1) for dc in (-1, 1)]
            on_board = [p for p in diagonals if 0 <= p[0] < 9 and 0 <= p[1] < 9]
            eyes[r, c] = sum(theirs[p] for p in on_board) <= (1 if len(on_board) == 4 else 0)
    return eyes.reshape(-1)


def test_go_no_eye_filling_masks_own_eyes_and_passes():
    """``env.no_eye_filling``: a corner eye is not legal for its owner, a false eye (opponent diagonal)
    is; along random games under the rule the mask is the game's own mask without the mover's eyes
    (counted point by point above), and pass only where nothing else is legal."""
    from rlk.core.registry import default_registry

    plugin = default_registry().get("env", "go_9x9")
    env = plugin.factory(plugin.config(no_eye_filling=True))
    assert env.no_eye_filling and env.spec.simulator.step == env.step  # the search plays the rule too
    go = (env, jax.jit(env.reset), jax.jit(env.step))
    state, (*_, ts) = play(go, [1, 80, 9, 79])  # black to move with an eye at point 0 (the corner)
    assert not ts.legal_action_mask[0] and bool(env.standard_legal_action_mask(state)[0])
    assert not ts.legal_action_mask[PASS] and ts.legal_action_mask[2]
    state, (*_, ts) = play(go, [1, 10, 9, 79])  # white on the diagonal point 10: a false eye, legal
    assert ts.legal_action_mask[0]

    B = 16
    reset, step = jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))
    standard = jax.jit(jax.vmap(env.standard_legal_action_mask))
    state, ts = reset(jax.random.split(jax.random.PRNGKey(0), B))
    key, eyes_seen, passes, ended = jax.random.PRNGKey(1), 0, 0, 0
    for _ in range(170):
        mask, own = np.asarray(ts.legal_action_mask), np.asarray(standard(state))
        obs = np.asarray(ts.observation) > 0.5
        for b in range(B):
            eyes = own_eyes_by_hand(obs[b, ..., 0], obs[b, ..., 1])
            np.testing.assert_array_equal(mask[b, :PASS], own[b, :PASS] & ~eyes)
            assert mask[b, PASS] == (own[b, PASS] and not mask[b, :PASS].any())
            eyes_seen += int((own[b, :PASS] & eyes).sum())
        key, k1, k2 = jax.random.split(key, 3)
        action = jax.random.categorical(k1, jnp.where(ts.legal_action_mask, 0.0, -jnp.inf))
        passes += int((np.asarray(action) == PASS).sum())
        state, ts = step(state, action, jax.random.split(k2, B))
        ended += int(np.asarray(ts.last).sum())
    assert eyes_seen > 0 and passes > 0 and ended > 0  # the rule bit, and games ran to their end
