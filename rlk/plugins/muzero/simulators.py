"""The true environment as MuZero's search simulator (Hamrick et al. 2021, section 4: the learned model
versus the environment itself as the model searched over), for JAX environments that can be stepped
from a saved state: Catch and the deterministic pgx board games (``go_9x9``).

The agent sees ``TimeStep``s, not environment states, so the simulator recovers the state behind each
observation one of two ways:
- Catch: from the observation itself (the board shows the ball and the paddle: the whole state);
- pgx games: the actor state keeps a copy of the game, advanced with each action the agent takes (and
  reset where the game ends, as the training wrapper does). This copy is exact when the agent makes
  every move (self-play, as in Anakin) and the game is deterministic; a caller whose opponent moves
  too (``rlk play``) passes the true game state as the actor state instead.

A simulator is three pure functions over a batch ``[B]``: ``initial(B) -> tracked``,
``root(tracked, timestep) -> env states`` (those behind ``timestep.observation``), and
``advance(env states, action) -> tracked`` (for the next step).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from rlk.core.errors import RlkError
from rlk.core.interfaces import Environment
from rlk.core.types import EnvSpec, TimeStep

# pgx games whose ``step`` ignores its key (no chance): a copy advanced with the agent's own actions
# stays exact. MinAtar's sticky actions and spawns are random, so the copy would drift.
DETERMINISTIC_PGX = ("go_9x9",)


class EnvSimulator(NamedTuple):
    """The true environment behind a search: ``env`` unwrapped, stepped from saved states."""

    env: Environment
    initial: Callable[[int], Any]
    root: Callable[[Any, TimeStep], Any]
    advance: Callable[[Any, jax.Array], Any]


def _catch_simulator(spec: EnvSpec) -> EnvSimulator:
    from rlk.plugins.envs.catch import Catch, CatchConfig, CatchState

    rows, columns = spec.observation.shape
    env = Catch(CatchConfig(rows=rows, columns=columns))

    def decode(board: jax.Array) -> CatchState:
        """The state behind one board: the paddle is on the bottom row, the ball the one above it
        (a ball on the bottom row only shows after the episode's end)."""
        paddle = jnp.argmax(board[rows - 1]).astype(jnp.int32)
        above = board[:rows - 1]
        on_bottom = jnp.sum(board[rows - 1]) > 1.5  # ball and paddle on the bottom row, in two cells
        flat = jnp.argmax(above.reshape(-1))
        ball_y = jnp.where(jnp.any(above > 0), flat // columns, rows - 1).astype(jnp.int32)
        bottom_ball = jnp.argmax(jnp.where(jnp.arange(columns) == paddle, 0.0, board[rows - 1]))
        ball_x = jnp.where(jnp.any(above > 0), flat % columns, jnp.where(on_bottom, bottom_ball, paddle)).astype(jnp.int32)
        return CatchState(ball_x, ball_y, paddle)

    return EnvSimulator(env, initial=lambda batch: (), root=lambda tracked, ts: jax.vmap(decode)(ts.observation),
                        advance=lambda states, action: ())


def _pgx_simulator(spec: EnvSpec) -> EnvSimulator:
    from rlk.plugins.envs.pgx_adapter import PgxEnv

    rules = dict(spec.rules)  # the run's rule variants (Go: pass masking, score reward): the search plays them too
    env = PgxEnv(spec.name, max_episode_steps=spec.max_episode_steps,
                 pass_after_moves=int(rules.pop("pass_after_moves", 0)), score_reward=float(rules.pop("score_reward", 0.0)),
                 no_eye_filling=bool(rules.pop("no_eye_filling", 0.0)))
    if rules:
        raise RlkError(f"agent.simulator='env' cannot reproduce env '{spec.name}' option(s) {', '.join(rules)}")

    def initial(batch: int):
        return jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), batch))[0]

    def advance(states, action):
        """The game after ``action``; a new game where it ended (any start: pgx's key only picks
        which player id is black, which the search never sees)."""
        keys = jax.random.split(jax.random.PRNGKey(0), action.shape[0])
        nxt, ts = jax.vmap(env.step)(states, action, keys)
        fresh = initial(action.shape[0])
        return jax.tree.map(lambda a, b: jnp.where(ts.last.reshape(ts.last.shape + (1,) * (a.ndim - 1)), a, b), fresh, nxt)

    return EnvSimulator(env, initial=initial, root=lambda tracked, ts: tracked, advance=advance)


def make_env_simulator(spec: EnvSpec) -> EnvSimulator:
    """The true-environment simulator for ``spec``'s environment, or an RlkError naming the ones there are."""
    if spec.name == "catch":
        return _catch_simulator(spec)
    if spec.name in DETERMINISTIC_PGX:
        return _pgx_simulator(spec)
    raise RlkError(f"agent.simulator='env' needs a JAX env steppable from a saved state (catch, "
                   f"{', '.join(DETERMINISTIC_PGX)}); env '{spec.name}' is not one (use agent.simulator=model)")
