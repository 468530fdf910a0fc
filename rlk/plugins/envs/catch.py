"""Catch, as bsuite defines it (Osband et al. 2020, "Behaviour Suite for RL", catch.py), in JAX.

A ball starts in a random column of the top row and falls one row per step; the agent moves a
paddle on the bottom row left, not at all, or right (actions 0, 1, 2). When the ball reaches the
bottom row the episode ends with reward +1 if the paddle is under it and -1 otherwise. The
observation is the ``rows x columns`` board with ones at the ball and the paddle.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rlk.core.interfaces import Environment
from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, Simulator, TimeStep
from rlk.plugins.envs.config import CatchConfig


class CatchState(NamedTuple):
    ball_x: jax.Array
    ball_y: jax.Array
    paddle_x: jax.Array


class Catch(Environment):
    """bsuite Catch: 10x5 board, reward +-1 at the end of each 9-step episode."""

    def __init__(self, config: CatchConfig | None = None):
        self.config = config or CatchConfig()

    @property
    def spec(self) -> EnvSpec:
        c = self.config
        return EnvSpec(
            name="catch",
            observation=ArraySpec(shape=(c.rows, c.columns), dtype="float32"),
            action=DiscreteSpec(num_values=3),
            max_episode_steps=c.rows - 1,
            simulator=self.simulator(),
        )

    def simulator(self) -> Simulator:
        """The true game for a search: the board shows the ball and the paddle, so the state behind a
        batch of observations is read back from the observations themselves (nothing tracked)."""
        return Simulator(step=self.step, initial=lambda batch: (), root=lambda tracked, ts: jax.vmap(self.decode)(ts.observation),
                         advance=lambda states, action: (), observe=self._observe)

    def decode(self, board: jax.Array) -> CatchState:
        """The state behind one board: the paddle is on the bottom row, the ball the one above it
        (a ball on the bottom row only shows after the episode's end)."""
        rows, columns = self.config.rows, self.config.columns
        paddle = jnp.argmax(board[rows - 1]).astype(jnp.int32)
        above = board[:rows - 1]
        on_bottom = jnp.sum(board[rows - 1]) > 1.5  # ball and paddle on the bottom row, in two cells
        flat = jnp.argmax(above.reshape(-1))
        ball_y = jnp.where(jnp.any(above > 0), flat // columns, rows - 1).astype(jnp.int32)
        bottom_ball = jnp.argmax(jnp.where(jnp.arange(columns) == paddle, 0.0, board[rows - 1]))
        ball_x = jnp.where(jnp.any(above > 0), flat % columns, jnp.where(on_bottom, bottom_ball, paddle)).astype(jnp.int32)
        return CatchState(ball_x, ball_y, paddle)

    def _observe(self, s: CatchState) -> jax.Array:
        c = self.config
        board = jnp.zeros((c.rows, c.columns), jnp.float32)
        board = board.at[s.ball_y, s.ball_x].set(1.0)
        return board.at[c.rows - 1, s.paddle_x].set(1.0)

    def render(self, state: CatchState) -> jax.Array:
        """The board as RGB ``uint8 [rows, columns, 3]``: a white ball, a blue paddle, a dark background."""
        c = self.config
        image = jnp.full((c.rows, c.columns, 3), 24, jnp.uint8)
        image = image.at[c.rows - 1, state.paddle_x].set(jnp.array([64, 128, 255], jnp.uint8))
        return image.at[state.ball_y, state.ball_x].set(jnp.array([255, 255, 255], jnp.uint8))

    def reset(self, key: jax.Array) -> tuple[CatchState, TimeStep]:
        c = self.config
        state = CatchState(
            ball_x=jax.random.randint(key, (), 0, c.columns, dtype=jnp.int32),
            ball_y=jnp.int32(0),
            paddle_x=jnp.int32(c.columns // 2),
        )
        ts = TimeStep(self._observe(state), jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False))
        return state, ts

    def step(self, state: CatchState, action: jax.Array, key: jax.Array) -> tuple[CatchState, TimeStep]:
        del key
        c = self.config
        paddle_x = jnp.clip(state.paddle_x + action.astype(jnp.int32) - 1, 0, c.columns - 1)
        state = CatchState(state.ball_x, state.ball_y + 1, paddle_x)
        done = state.ball_y == c.rows - 1
        reward = jnp.where(done, jnp.where(state.ball_x == paddle_x, 1.0, -1.0), 0.0).astype(jnp.float32)
        ts = TimeStep(self._observe(state), reward, jnp.where(done, 0.0, 1.0).astype(jnp.float32), done)
        return state, ts
