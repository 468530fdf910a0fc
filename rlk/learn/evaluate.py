"""Evaluation: an agent's greedy ``eval_act`` (or its training policy ``act``) run until every episode of
a batch has ended.

``evaluate`` steps a JAX environment in one ``lax.while_loop`` (pure, jit-able, no device placement);
with an ``opponent`` it plays a two-player game, the agent moving first in the even episodes and
second in the odd ones. ``evaluate_host`` is the same loop over a host environment (numpy, a Python
loop over steps). Rewards are counted until an episode's first ``last``; the environment is the raw
one (no auto-reset wrapper is needed).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.interfaces import Agent, Environment, HostEnvironment
from rlk.core.types import TimeStep

# ``(env_state[E], timestep[E], key) -> action[E]``: the other player of a two-player game.
Opponent = Callable[[Any, TimeStep, jax.Array], jax.Array]


class Episodes(NamedTuple):
    """Results of a batch of evaluation episodes.

    Attributes:
      returns: ``[E]`` the agent's summed reward per episode (two-player games: its moves' rewards
        minus the opponent's, the reward being the mover's).
      lengths: ``[E]`` steps until the episode ended (both players' moves).
      agent_first: ``[E]`` whether the agent moved first (all True without an opponent).
    """

    returns: jax.Array
    lengths: jax.Array
    agent_first: jax.Array


def random_opponent(legal_mask: Optional[Callable[[Any], jax.Array]] = None) -> Opponent:
    """A uniformly random legal player: draws from the timestep's legal-action mask, or from
    ``legal_mask(env_state)`` (one unbatched state) when given (e.g. a game's standard rules)."""

    def act(env_state, ts: TimeStep, key):
        legal = ts.legal_action_mask if legal_mask is None else jax.vmap(legal_mask)(env_state)
        return jax.random.categorical(key, jnp.where(legal, 0.0, -jnp.inf))

    return act


def evaluate(agent: Agent, params: Any, env: Environment, episodes: int, key: jax.Array,
             opponent: Optional[Opponent] = None, env_state_as_actor_state: bool = False,
             greedy: bool = True) -> Episodes:
    """``episodes`` greedy episodes of ``agent`` (``eval_act`` with ``params``; ``greedy=False``: its
    training policy ``act``) on ``env``, batched.

    Runs until every episode has ended or ``env.spec.max_episode_steps + 1`` steps. ``key`` is split
    into a reset key and a loop key; each step splits the loop key into (next, act, env) keys, and
    with an ``opponent`` into (next, act, opponent, env) keys.
    ``env_state_as_actor_state``: the agent's actor state is the game's own state before each of its
    moves (a search that simulates the true game, which the agent's own copy cannot follow when an
    opponent moves too). Without it the actor state advances on the agent's moves only.
    """
    max_steps = env.spec.max_episode_steps + 1
    policy = agent.eval_act if greedy else agent.act
    reset_key, run_key = jax.random.split(key)
    env_state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, episodes))
    actor_state = agent.initial_actor_state(episodes)
    if opponent is None:
        agent_first = jnp.ones(episodes, bool)
        agent_player = None
    else:
        agent_first = jnp.arange(episodes) % 2 == 0
        agent_player = jnp.where(agent_first, ts.current_player, 1 - ts.current_player)

    def cond(carry):
        i, _, _, _, done, _, _, _ = carry
        return jnp.logical_and(i < max_steps, jnp.logical_not(jnp.all(done)))

    def body(carry):
        i, env_state, ts, actor_state, done, total, length, key = carry
        if opponent is None:
            key, act_key, env_key = jax.random.split(key, 3)
        else:
            key, act_key, opp_key, env_key = jax.random.split(key, 4)
        if env_state_as_actor_state:
            actor_state = env_state
        action, new_actor_state, _ = policy(params, actor_state, ts, act_key)
        if opponent is None:
            actor_state = new_actor_state
        else:
            agents_turn = ts.current_player == agent_player
            action = jnp.where(agents_turn, action, opponent(env_state, ts, opp_key))
            if not env_state_as_actor_state:
                actor_state = jax.tree.map(
                    lambda a, b: jnp.where(agents_turn.reshape((-1,) + (1,) * (a.ndim - 1)), a, b),
                    new_actor_state, actor_state)
        env_state, ts = jax.vmap(env.step)(env_state, action, jax.random.split(env_key, episodes))
        reward = ts.reward if opponent is None else jnp.where(agents_turn, ts.reward, -ts.reward)
        total = total + jnp.where(done, 0.0, reward)
        length = length + jnp.where(done, 0, 1)
        return i + 1, env_state, ts, actor_state, jnp.logical_or(done, ts.last), total, length, key

    init = (0, env_state, ts, actor_state, jnp.zeros(episodes, bool), jnp.zeros(episodes),
            jnp.zeros(episodes, jnp.int32), run_key)
    final = jax.lax.while_loop(cond, body, init)
    return Episodes(final[5], final[6], agent_first)


def evaluate_host(agent: Agent, params: Any, env: HostEnvironment, seed: int) -> np.ndarray:
    """Greedy returns ``[env.num_envs]`` on a batch of host environments, one episode each.

    The environment is reset with ``seed``; the acting keys come from ``PRNGKey(seed)``. ``eval_act``
    is compiled once; the loop over steps runs on the host and stops once every episode has ended.
    """
    n = env.num_envs
    ts = env.reset(seed)
    act = jax.jit(agent.eval_act)
    actor_state = agent.initial_actor_state(n)
    total = np.zeros(n)
    done = np.zeros(n, bool)
    key = jax.random.PRNGKey(seed)
    for _ in range(env.spec.max_episode_steps + 1):
        key, k = jax.random.split(key)
        action, actor_state, _ = act(params, actor_state, ts._replace(info={}), k)
        ts = env.step(np.asarray(action))
        total += np.where(done, 0.0, ts.reward)
        done |= ts.last
        if done.all():
            break
    return total
