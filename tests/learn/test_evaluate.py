"""rlk.learn.evaluate: greedy episodes until each ends, two-player matches, the host-env loop."""

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.interfaces import Agent, Environment, HostEnvironment
from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, TimeStep
from rlk.learn.evaluate import evaluate, evaluate_host, random_opponent


class Countdown(Environment):
    """One player: the episode lasts ``length`` steps (auto-resetting); each step's reward is the action."""

    def __init__(self, length: int = 3):
        self.length = length

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(name="countdown", observation=ArraySpec(shape=(1,)), action=DiscreteSpec(num_values=3),
                       max_episode_steps=self.length)

    def reset(self, key):
        return jnp.int32(0), TimeStep(jnp.zeros(1), jnp.float32(0), jnp.float32(1), jnp.bool_(False))

    def step(self, state, action, key):
        t = state + 1
        last = t >= self.length
        ts = TimeStep(jnp.zeros(1), action.astype(jnp.float32), jnp.where(last, 0.0, 1.0), last)
        return jnp.where(last, 0, t), ts


class Race(Environment):
    """Two players alternate from 0; a move adds 1 or 2; who reaches 5 or more wins (reward +1 to the mover)."""

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec(name="race", observation=ArraySpec(shape=(1,)), action=DiscreteSpec(num_values=2),
                       num_players=2, has_legal_action_mask=True, max_episode_steps=5)

    def _ts(self, total, player, reward, last):
        return TimeStep(jnp.full(1, total, jnp.float32), reward, 1.0 - last.astype(jnp.float32), last,
                        jnp.ones(2, bool), player)

    def reset(self, key):
        return (jnp.int32(0), jnp.int32(0)), self._ts(0, jnp.int32(0), jnp.float32(0), jnp.bool_(False))

    def step(self, state, action, key):
        total, player = state
        total = total + action + 1
        last = total >= 5
        return (total, 1 - player), self._ts(total, 1 - player, jnp.where(last, 1.0, 0.0), last)


def _fixed(action: int) -> Agent:
    act = lambda params, actor, ts, key: (jnp.full(ts.reward.shape, action, jnp.int32), actor + 1, {})
    return Agent(init=None, initial_actor_state=lambda b: jnp.zeros(b, jnp.int32), act=act, eval_act=act,
                 update=None, num_envs=1, unroll_length=1)


def test_counts_rewards_until_each_episode_ends_and_is_jittable():
    run = jax.jit(lambda key: evaluate(_fixed(2), None, Countdown(3), 5, key))
    out = run(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(out.returns, np.full(5, 6.0))  # 3 steps x reward 2, not the next episode's
    np.testing.assert_array_equal(out.lengths, np.full(5, 3))
    assert bool(jnp.all(out.agent_first))


def test_greedy_false_evaluates_the_training_policy():
    """``act`` always plays 1, ``eval_act`` always 2: 3 steps of reward = action give 3 and 6."""
    greedy = _fixed(2)
    agent = greedy._replace(act=_fixed(1).act)
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(evaluate(agent, None, Countdown(3), 4, key).returns, np.full(4, 6.0))
    np.testing.assert_array_equal(evaluate(agent, None, Countdown(3), 4, key, greedy=False).returns, np.full(4, 3.0))


def test_two_player_match_scores_the_agent_and_alternates_who_moves_first():
    """The agent always adds 2: moving first it reaches 5 on its second move (2 + x + 2) and wins;
    the random opponent (1 or 2) wins the games it starts unless it adds 1 twice."""
    out = evaluate(_fixed(1), None, Race(), 64, jax.random.PRNGKey(1), random_opponent())
    first = np.asarray(out.agent_first)
    np.testing.assert_array_equal(first, np.arange(64) % 2 == 0)
    returns = np.asarray(out.returns)
    assert set(np.unique(returns)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(returns[first], 1.0)
    assert (returns[~first] == 1.0).any() and (returns[~first] == -1.0).any()
    assert (np.asarray(out.lengths)[first] == 3).all()


def test_the_agents_actor_state_advances_on_its_own_moves_only():
    seen = []

    def act(params, actor, ts, key):
        jax.debug.callback(lambda a: seen.append(np.asarray(a).copy()), actor)
        return jnp.ones(ts.reward.shape, jnp.int32), actor + 1, {}

    agent = _fixed(1)._replace(eval_act=act)
    evaluate(agent, None, Race(), 2, jax.random.PRNGKey(0), random_opponent(lambda state: jnp.array([False, True])))
    # game 0: the agent moves at steps 0 and 2; game 1: at step 1 (the opponent adds 2 at steps 0 and 2)
    np.testing.assert_array_equal(np.stack(seen), [[0, 0], [1, 0], [1, 1]])


class HostCountdown(HostEnvironment):
    def __init__(self, num_envs: int, length: int):
        self.num_envs, self.length, self.t = num_envs, length, 0

    @property
    def spec(self) -> EnvSpec:
        return Countdown(self.length).spec

    def _ts(self, reward, last):
        n = self.num_envs
        return TimeStep(np.zeros((n, 1), np.float32), np.full(n, reward, np.float32), np.ones(n, np.float32),
                        np.full(n, last), info={})

    def reset(self, seed):
        self.t = 0
        return self._ts(0.0, False)

    def step(self, action):
        self.t += 1
        last = self.t % self.length == 0
        return self._ts(float(action[0]), last)


def test_host_evaluation_counts_rewards_until_each_episode_ends():
    np.testing.assert_array_equal(evaluate_host(_fixed(2), None, HostCountdown(3, 4), seed=0), np.full(3, 8.0))
