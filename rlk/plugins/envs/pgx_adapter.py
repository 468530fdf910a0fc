"""pgx games (every one in ``catalogue.PGX_GAMES``) as rlk ``Environment``s.

pgx (Koyamada et al. 2023, "Pgx: Hardware-Accelerated Parallel Game Simulators") keeps one
``State`` per game with a ``rewards[num_players]`` vector and a ``legal_action_mask``. The mapping
to ``TimeStep`` (``rlk.core.types``) is:

- ``observation``: ``state.observation`` as float32 (pgx's are bool planes ``[H, W, C]``), seen by
  the player to move (pgx observes from ``current_player``'s side).
- ``reward``: ``state.rewards[acting_player]``, where ``acting_player`` is ``current_player``
  *before* the move. In Go this is the reward of the player who just moved (+1 win, -1 loss, 0
  while the game goes on; an illegal move ends the game with -1 for its player), so a two-player
  agent whose next observation belongs to the opponent must negate values across turns. In MinAtar
  (one player) it is simply the game's reward.
- ``discount``: 0 where pgx's ``terminated``, else 1.
- ``last``: ``terminated | truncated``; truncated is pgx's own flag or the adapter's time limit
  (``state._step_count >= max_episode_steps``), which keeps discount 1.
- ``legal_action_mask`` (bool ``[num_actions]``): given for every game but MinAtar, whose mask is
  always all True (None there, like Catch and gymnax; ``EnvSpec.has_legal_action_mask`` says which).
  ``current_player`` (int32 ``[]``): given for games of two or more players only. Players need not
  alternate (backgammon: one player makes several moves in a turn; sparrow_mahjong has three).
- ``info``: ``{}`` (``EpisodeStats`` adds its keys).

The environment state is pgx's ``State`` itself; auto-reset is ``rlk``'s ``AutoReset`` wrapper.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import jax.numpy as jnp

from pydantic import BaseModel

from rlk.core.interfaces import Environment
from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, Simulator, TimeStep
from rlk.plugins.envs.catalogue import MINATAR_GAMES, PGX_FIXED, RLK_GO_VARIANTS
from rlk.plugins.envs.go_area import area_margin, own_eyes

# pgx's MinAtar games have no time limit (Freeway ends itself after 2,500 steps; the others may
# run forever under a good policy), so the adapter truncates them here.
MINATAR_MAX_EPISODE_STEPS = 10_000
# Games whose ``step`` ignores its key (no chance): they declare a ``Simulator`` (``EnvSpec.simulator``), whose
# copy of a game advanced with the agent's own actions stays exact. MinAtar's sticky actions and spawns are random.
DETERMINISTIC = ("go_9x9",)


def default_max_episode_steps(env: Any) -> int:
    """Go: pgx's own game-length limit (``2 * size**2``, 162 for 9x9, which *terminates* the
    game with its score); MinAtar and other games: ``MINATAR_MAX_EPISODE_STEPS``."""
    game = getattr(env, "_game", None)
    limit = getattr(game, "max_termination_steps", None)
    return int(limit) if limit is not None else MINATAR_MAX_EPISODE_STEPS


class PgxEnv(Environment):
    """One unbatched pgx game with pure ``reset``/``step`` (see the module docstring for the mapping).

    ``pass_after_moves`` (Go only): the legal-action mask leaves out pass (the last action) while
    ``state._step_count`` is below it and another move is legal; a self-play agent then cannot end
    a game by passing twice before the board has been played out (``GoConfig``).
    ``score_reward`` (Go only): the mover's reward at the game's end gains ``score_reward`` times its
    area margin on the final board (``go_area.area_margin`` of the next observation, which is the
    opponent's view, negated).
    ``no_eye_filling`` (Go only): the legal-action mask leaves out the player to move's own single-point
    true eyes (``go_area.own_eyes``), and pass while another move is legal. ``standard_legal_action_mask``
    gives the game's own mask, without the variants.
    """

    def __init__(self, env_id: str, max_episode_steps: Optional[int] = None, pass_after_moves: int = 0,
                 score_reward: float = 0.0, no_eye_filling: bool = False, options: Optional[dict[str, Any]] = None):
        import pgx

        self.env_id = env_id
        self.pass_after_moves = int(pass_after_moves)
        self.score_reward = float(score_reward)
        self.no_eye_filling = bool(no_eye_filling)
        self._env = pgx.make(env_id)
        if options:  # the game's constructor options (``catalogue``), beside those its name fixes
            self._env = type(self._env)(**PGX_FIXED.get(env_id, {}), **options)
        self.num_players = int(self._env.num_players)
        self.masked = env_id not in MINATAR_GAMES  # MinAtar's mask is all True
        self.max_episode_steps = int(max_episode_steps or default_max_episode_steps(self._env))
        # Shapes by abstract evaluation: pgx's own ``observation_shape``/``num_actions`` run ``init``
        # eagerly, op by op (seconds per game).
        shapes = jax.eval_shape(self._env.init, jax.random.key(0))
        self._spec = EnvSpec(
            name=env_id,
            observation=ArraySpec(shape=tuple(shapes.observation.shape), dtype="float32"),
            action=DiscreteSpec(num_values=int(shapes.legal_action_mask.shape[0])),
            num_players=self.num_players,
            has_legal_action_mask=self.masked,
            max_episode_steps=self.max_episode_steps,
            simulator=self.simulator() if env_id in DETERMINISTIC else None,
        )

    def simulator(self) -> Simulator:
        """The true game for a search (deterministic games only), under this env's rule variants. The
        actor state tracks a copy of each game, advanced with each action the agent takes (and a new game
        where one ended, as the training wrapper does): exact when the agent makes every move (self-play)
        and the game is deterministic; a caller whose opponent moves too (``rlk play``) passes the true
        game state as the actor state instead. Go's potential is the area-score margin (``go_area``)."""

        def initial(batch: int):
            return jax.vmap(self.reset)(jax.random.split(jax.random.PRNGKey(0), batch))[0]

        def advance(states, action):
            """The game after ``action``; a new game where it ended (any start: pgx's key only picks
            which player id is black, which the search never sees)."""
            keys = jax.random.split(jax.random.PRNGKey(0), action.shape[0])
            nxt, ts = jax.vmap(self.step)(states, action, keys)
            fresh = initial(action.shape[0])
            return jax.tree.map(lambda a, b: jnp.where(ts.last.reshape(ts.last.shape + (1,) * (a.ndim - 1)), a, b), fresh, nxt)

        potential = area_margin if self.env_id.startswith("go_") else None
        return Simulator(step=self.step, initial=initial, root=lambda tracked, ts: tracked, advance=advance,
                         observe=lambda state: state.observation.astype(jnp.float32), potential=potential)

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    def _timestep(self, state: Any, reward: jax.Array) -> TimeStep:
        """The ``TimeStep`` of a pgx state, given the reward of the transition into it."""
        terminated = state.terminated.astype(jnp.bool_)
        truncated = state.truncated.astype(jnp.bool_) | (state._step_count >= self.max_episode_steps)
        multi_player = self.num_players > 1
        legal = self.standard_legal_action_mask(state)
        if self.no_eye_filling:
            board = legal[:-1] & ~own_eyes(state.observation.astype(jnp.float32))
            legal = jnp.concatenate([board, (legal[-1] & ~jnp.any(board))[None]])
        if self.pass_after_moves:
            early = (state._step_count < self.pass_after_moves) & jnp.any(legal[:-1])
            legal = legal.at[-1].set(legal[-1] & ~early)
        return TimeStep(
            observation=state.observation.astype(jnp.float32),
            reward=reward.astype(jnp.float32),
            discount=jnp.where(terminated, 0.0, 1.0).astype(jnp.float32),
            last=terminated | truncated,
            legal_action_mask=legal if self.masked else None,
            current_player=state.current_player.astype(jnp.int32) if multi_player else None,
            info={},
        )

    def standard_legal_action_mask(self, state: Any) -> jax.Array:
        """The game's own legal moves in ``state`` (bool ``[num_actions]``), without the rule variants."""
        return state.legal_action_mask.astype(jnp.bool_)

    def render(self, state: Any) -> Optional[jax.Array]:
        """MinAtar: the board as RGB ``uint8 [H, W, 3]``, each cell the colour of its highest set channel
        (MinAtar's own display, one colour per channel); other games do not render."""
        if not self.env_id.startswith("minatar"):
            return None
        planes = state.observation.astype(jnp.bool_)  # [H, W, C]
        channels = planes.shape[-1]
        hues = jnp.arange(channels, dtype=jnp.float32) / channels
        palette = (127.5 + 127.5 * jnp.cos(2 * jnp.pi * (hues[:, None] + jnp.array([0.0, 1 / 3, 2 / 3])))).astype(jnp.uint8)
        top = channels - 1 - jnp.argmax(planes[..., ::-1], axis=-1)  # the highest set channel
        return jnp.where(jnp.any(planes, -1)[..., None], palette[top], jnp.uint8(0))

    def reset(self, key: jax.Array) -> tuple[Any, TimeStep]:
        """``pgx.Env.init``; reward 0, discount 1, ``last`` False."""
        state = self._env.init(key)
        return state, self._timestep(state, jnp.float32(0.0))

    def step(self, state: Any, action: jax.Array, key: jax.Array) -> tuple[Any, TimeStep]:
        """``pgx.Env.step(state, action, key)`` (the key drives MinAtar's sticky actions and spawns);
        the reward is the one of the player who acted."""
        acting_player = state.current_player
        state = self._env.step(state, jnp.asarray(action).astype(jnp.int32), key)
        reward = state.rewards[acting_player]
        if self.score_reward:
            final = -area_margin(state.observation.astype(jnp.float32))
            reward = reward + jnp.where(state.terminated, self.score_reward * final, 0.0)
        return state, self._timestep(state, reward)


def make_pgx(env_id: str, config: Optional[BaseModel] = None) -> Environment:
    """Builds the pgx game ``env_id`` (``pgx.available_envs()``) as an rlk ``Environment``.

    ``config``: the game's config from ``catalogue.PGX_GAMES`` (its constructor options; Go's also
    holds rlk's rule variants), or None for pgx's defaults (Go komi 7.5, MinAtar sticky-action
    probability 0.1 and minimal action sets).
    """
    values = config.model_dump() if config is not None else {}
    options = {k: v for k, v in values.items() if k not in RLK_GO_VARIANTS}
    return PgxEnv(env_id, options=options, **{k: v for k, v in values.items() if k in RLK_GO_VARIANTS})
