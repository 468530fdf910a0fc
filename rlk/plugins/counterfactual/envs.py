"""The illustrative environments of Mesnard et al. 2021 ("Counterfactual Credit Assignment in
Model-Free RL", arXiv 2011.09464, section 5), in JAX, as defined here (see README.md).

Both environments put a vector ``info['hindsight']`` in every ``TimeStep``: what the transition
into that step showed the agent *before* any auto-reset (the feedback vector of the bandit, the
true next observation of Key-to-Door). The hindsight network reads it (with the reward) to build
its statistic of the future; the policy never sees it.

- ``BanditFeedback``: a contextual bandit with feedback. Context ``x ~ Uniform{0..C-1}``, action
  ``a`` in ``{0..A-1}``, reward ``r = mu[x, a] + sigma * eps_0`` and a feedback vector
  ``f = W [onehot(x); onehot(a); eps]`` with ``eps ~ N(0, I_k)``; ``mu`` (``U(0, 1)``) and ``W``
  (Gaussian, ``[feedback_dim, C + A + k]``) are fixed by ``task_seed``. One step per episode.
  The observation is ``[onehot(x); 0_F]`` and ``info['hindsight']`` is ``[onehot(x); f]`` (the same
  shape: the feedback arrives in the slot the policy saw empty). ``hindsight='noise'`` puts
  ``[onehot(x); eps; 0]`` there instead: the reward's luck alone, an oracle ``Phi``; ``'mixed_noise'``
  puts ``[onehot(x); W_eps eps]``, the feedback's innovation given ``x`` and ``a`` (an oracle as mixed
  as the feedback).
- ``KeyToDoor``: three phases in an ``R x R`` room. Phase 1 (``key_steps`` steps): a key lies
  on a random cell; stepping on it picks it up (no reward). Phase 2 (``apple_steps`` steps): a
  fresh room where every cell but the agent's holds an apple with probability ``apple_prob``;
  each apple eaten gives ``apple_reward`` (``apples='low'``) or ``apple_reward + apple_std * z``,
  ``z ~ N(0, 1)`` (``apples='high'``). Phase 3 (one step): the door opens for any action and
  gives ``door_reward`` if the agent holds the key, 0 otherwise. Episodes have a fixed length
  ``key_steps + apple_steps + 1``. ``hindsight='noise'`` replaces ``info['hindsight']`` by the apple
  noise ``apple_std * z`` drawn at each apple-phase step (whether or not an apple is eaten): a
  statistic of the future that is independent of the actions by construction (an oracle ``Phi``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.interfaces import Environment
from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, TimeStep
from rlk.plugins.counterfactual.config import BanditFeedbackConfig, KeyToDoorConfig, TaskInterleavingConfig


# -- contextual bandit with feedback ---------------------------------------------------------------


class BanditState(NamedTuple):
    context: jax.Array


def bandit_tables(config: BanditFeedbackConfig) -> tuple[np.ndarray, np.ndarray]:
    """The task's fixed tables: mean rewards ``mu [C, A]`` and mixing matrix ``W [F, C + A + k]``."""
    c = config
    rng = np.random.default_rng(c.task_seed)
    mu = rng.uniform(0.0, 1.0, (c.num_contexts, c.num_actions)).astype(np.float32)
    w = (rng.normal(size=(c.feedback_dim, c.num_contexts + c.num_actions + c.noise_dim))
         / np.sqrt(c.num_contexts + c.num_actions + c.noise_dim)).astype(np.float32)
    return mu, w


class BanditFeedback(Environment):
    """Contextual bandit with a high-dimensional feedback vector mixing context, action and noise."""

    def __init__(self, config: BanditFeedbackConfig | None = None):
        self.config = config or BanditFeedbackConfig()
        mu, w = bandit_tables(self.config)
        self.mu, self.w = jnp.asarray(mu), jnp.asarray(w)

    @property
    def spec(self) -> EnvSpec:
        c = self.config
        return EnvSpec(name="bandit-feedback", observation=ArraySpec(shape=(c.num_contexts + c.feedback_dim,)),
                       action=DiscreteSpec(num_values=c.num_actions), max_episode_steps=1)

    def _ts(self, context, reward, last, feedback) -> TimeStep:
        ctx = jax.nn.one_hot(context, self.config.num_contexts)
        obs = jnp.concatenate([ctx, jnp.zeros((self.config.feedback_dim,))])
        return TimeStep(obs, jnp.float32(reward), jnp.where(last, 0.0, 1.0).astype(jnp.float32), jnp.bool_(last),
                        info={"hindsight": jnp.concatenate([ctx, feedback])})

    def reset(self, key: jax.Array) -> tuple[BanditState, TimeStep]:
        context = jax.random.randint(key, (), 0, self.config.num_contexts)
        return BanditState(context), self._ts(context, 0.0, False, jnp.zeros((self.config.feedback_dim,)))

    def step(self, state: BanditState, action: jax.Array, key: jax.Array) -> tuple[BanditState, TimeStep]:
        c = self.config
        ctx_key, noise_key = jax.random.split(key)
        eps = jax.random.normal(noise_key, (c.noise_dim,))
        reward = self.mu[state.context, action] + c.reward_noise * eps[0]
        z = jnp.concatenate([jax.nn.one_hot(state.context, c.num_contexts), jax.nn.one_hot(action, c.num_actions), eps])
        # the episode ends; the next context is drawn by the auto-reset wrapper
        if c.hindsight == "noise":
            seen = jnp.zeros((c.feedback_dim,)).at[: c.noise_dim].set(eps[: c.feedback_dim])
        elif c.hindsight == "mixed_noise":
            seen = self.w[:, c.num_contexts + c.num_actions:] @ eps
        else:
            seen = self.w @ z
        return state, self._ts(state.context, reward, True, seen)


# -- Key-to-Door -------------------------------------------------------------------------------------


class KeyToDoorState(NamedTuple):
    t: jax.Array          # step within the episode
    pos: jax.Array        # agent cell, 0..R*R-1
    items: jax.Array      # [R*R] key (phase 1) or apples (phase 2)
    has_key: jax.Array    # bool


MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], np.int32)  # up, down, left, right


class KeyToDoor(Environment):
    """Key-to-Door with distractor apples (low- or high-variance rewards); fixed-length episodes."""

    def __init__(self, config: KeyToDoorConfig | None = None):
        self.config = config or KeyToDoorConfig()

    @property
    def length(self) -> int:
        return self.config.key_steps + self.config.apple_steps + 1

    @property
    def spec(self) -> EnvSpec:
        n = self.config.room_size ** 2
        return EnvSpec(name="key-to-door", observation=ArraySpec(shape=(2 * n + 5,)),
                       action=DiscreteSpec(num_values=4), max_episode_steps=self.length)

    def _phase(self, t):
        c = self.config
        return jnp.where(t < c.key_steps, 0, jnp.where(t < c.key_steps + c.apple_steps, 1, 2))

    def observe(self, s: KeyToDoorState) -> jax.Array:
        """``[onehot(pos) (R*R); items (R*R); onehot(phase) (3); has_key; t / length]``."""
        n = self.config.room_size ** 2
        return jnp.concatenate([
            jax.nn.one_hot(s.pos, n), s.items.astype(jnp.float32), jax.nn.one_hot(self._phase(s.t), 3),
            s.has_key.astype(jnp.float32)[None], (s.t / self.length).astype(jnp.float32)[None],
        ])

    def _room(self, key, p: float, exclude) -> jax.Array:
        n = self.config.room_size ** 2
        items = jax.random.bernoulli(key, p, (n,))
        return jnp.logical_and(items, jnp.arange(n) != exclude)

    def reset(self, key: jax.Array) -> tuple[KeyToDoorState, TimeStep]:
        n = self.config.room_size ** 2
        pos_key, key_key = jax.random.split(key)
        pos = jax.random.randint(pos_key, (), 0, n)
        key_cell = (pos + jax.random.randint(key_key, (), 1, n)) % n  # never on the start cell
        s = KeyToDoorState(jnp.int32(0), pos, jax.nn.one_hot(key_cell, n) > 0, jnp.bool_(False))
        obs = self.observe(s)
        return s, TimeStep(obs, jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False), info={"hindsight": jnp.zeros_like(obs)})

    def step(self, state: KeyToDoorState, action: jax.Array, key: jax.Array) -> tuple[KeyToDoorState, TimeStep]:
        c = self.config
        r_size, n = c.room_size, c.room_size ** 2
        room_key, pos_key, apple_key = jax.random.split(key, 3)
        phase = self._phase(state.t)
        move = jnp.asarray(MOVES)[action]
        row = jnp.clip(state.pos // r_size + move[0], 0, r_size - 1)
        col = jnp.clip(state.pos % r_size + move[1], 0, r_size - 1)
        pos = jnp.where(phase == 2, state.pos, row * r_size + col)
        on_item = state.items[pos] & (phase < 2)
        has_key = state.has_key | (on_item & (phase == 0))
        noise = c.apple_std * jax.random.normal(apple_key) if c.apples == "high" else 0.0
        reward = jnp.where(on_item & (phase == 1), c.apple_reward + noise, 0.0)
        reward = reward + jnp.where((phase == 2) & has_key, c.door_reward, 0.0)
        items = state.items.at[pos].set(False)
        t = state.t + 1
        # entering phase 2: a fresh room of apples, the agent at a random cell
        enter_apples = t == c.key_steps
        new_pos = jax.random.randint(pos_key, (), 0, n)
        pos = jnp.where(enter_apples, new_pos, pos)
        items = jnp.where(enter_apples, self._room(room_key, c.apple_prob, new_pos), items)
        items = jnp.where(t == c.key_steps + c.apple_steps, jnp.zeros_like(items), items)  # the door room is empty
        done = t == self.length
        s = KeyToDoorState(t, pos, items, has_key)
        obs = self.observe(s)
        if c.hindsight == "observation":
            hindsight = obs
        else:
            value = jnp.where(phase == 1, noise, 0.0) if c.hindsight == "noise" else jnp.where(phase == 1, reward, 0.0)
            hindsight = jnp.zeros_like(obs).at[0].set(value)
        ts = TimeStep(obs, reward.astype(jnp.float32), jnp.where(done, 0.0, 1.0).astype(jnp.float32), done,
                      info={"hindsight": hindsight})
        return s, ts


# -- task interleaving ---------------------------------------------------------------------------------------
class InterleavingState(NamedTuple):
    t: jax.Array        # step within the episode
    task: jax.Array     # the task of the current query
    context: jax.Array  # its context
    pending: jax.Array  # [delay] rewards earned, not yet paid (oldest first)


class TaskInterleaving(Environment):
    """Several contextual-bandit tasks interleaved in one episode, each answer paid after a delay.

    The paper's definition could not be read from here (only its abstract); this is the assumed one (README).
    Each of ``num_queries`` steps shows a query: a task ``k ~ U{0..K-1}`` and a context ``c`` (observation
    ``[onehot(k); onehot(c); t / length]``); the answer ``a`` earns ``mu[k, c, a] + reward_noise * eps`` with
    ``mu[k] ~ reward_scales[k] * U(0, 1)`` fixed by ``task_seed``, paid ``delay`` steps later. After the last query
    ``delay`` steps without a query (observation zero but the time, actions ignored) pay what is left. An
    answer's return holds the rewards of every later answer, of every task: the tasks are each other's
    distractors, the larger-scale task the low-scale one's. ``info['hindsight']`` is the next observation.
    """

    def __init__(self, config: TaskInterleavingConfig | None = None):
        self.config = config or TaskInterleavingConfig()
        c = self.config
        rng = np.random.default_rng(c.task_seed)
        mu = rng.uniform(0.0, 1.0, (c.num_tasks, c.num_contexts, c.num_actions)) * np.asarray(c.reward_scales)[:, None, None]
        self.mu = jnp.asarray(mu, jnp.float32)

    @property
    def length(self) -> int:
        return self.config.num_queries + self.config.delay

    @property
    def spec(self) -> EnvSpec:
        c = self.config
        return EnvSpec(name="task-interleaving", observation=ArraySpec(shape=(c.num_tasks + c.num_contexts + 1,)),
                       action=DiscreteSpec(num_values=c.num_actions), max_episode_steps=self.length)

    def observe(self, s: InterleavingState) -> jax.Array:
        c = self.config
        query = (s.t < c.num_queries).astype(jnp.float32)
        return jnp.concatenate([query * jax.nn.one_hot(s.task, c.num_tasks), query * jax.nn.one_hot(s.context, c.num_contexts),
                                (s.t / self.length).astype(jnp.float32)[None]])

    def _query(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        task_key, ctx_key = jax.random.split(key)
        c = self.config
        return jax.random.randint(task_key, (), 0, c.num_tasks), jax.random.randint(ctx_key, (), 0, c.num_contexts)

    def reset(self, key: jax.Array) -> tuple[InterleavingState, TimeStep]:
        task, context = self._query(key)
        s = InterleavingState(jnp.int32(0), task, context, jnp.zeros((self.config.delay,), jnp.float32))
        obs = self.observe(s)
        return s, TimeStep(obs, jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False), info={"hindsight": jnp.zeros_like(obs)})

    def step(self, state: InterleavingState, action: jax.Array, key: jax.Array) -> tuple[InterleavingState, TimeStep]:
        c = self.config
        query_key, noise_key = jax.random.split(key)
        earned = jnp.where(state.t < c.num_queries,
                           self.mu[state.task, state.context, action] + c.reward_noise * jax.random.normal(noise_key), 0.0)
        queue = jnp.concatenate([state.pending, earned[None]])
        reward, pending = queue[0], queue[1:]
        task, context = self._query(query_key)
        t = state.t + 1
        s = InterleavingState(t, task, context, pending)
        obs = self.observe(s)
        done = t == self.length
        return s, TimeStep(obs, reward.astype(jnp.float32), jnp.where(done, 0.0, 1.0).astype(jnp.float32), done,
                           info={"hindsight": obs})
