"""Tromp-Taylor area scoring of pgx Go boards (the scoring pgx's Go uses, without komi).

``area_scores(mine, theirs)``: stones plus empty points that reach only one colour, for each side.
``area_margin(observation)``: the player to move's area minus the opponent's, over the board size
squared, from the current-board planes of pgx's Go observation (plane 0: the stones of the player to
move, plane 1: the opponent's); in ``[-1, 1]``. Used by Go's ``score_reward`` (``pgx_adapter``) and
MuZero's area shaping (``rlk.plugins.muzero.go``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _grow(region: jax.Array, through: jax.Array) -> jax.Array:
    """``region`` (bool ``[H, W]``) extended by one step to its 4-neighbours that are in ``through``."""
    pad = jnp.pad(region, 1)
    near = pad[:-2, 1:-1] | pad[2:, 1:-1] | pad[1:-1, :-2] | pad[1:-1, 2:]
    return region | (near & through)


def _reach(stones: jax.Array, empty: jax.Array) -> jax.Array:
    """Empty points connected through empty points to ``stones`` (flood fill to a fixed point)."""

    def body(carry):
        region, _ = carry
        grown = _grow(region, empty)
        return grown, jnp.any(grown != region)

    region, _ = jax.lax.while_loop(lambda c: c[1], body, (stones, jnp.bool_(True)))
    return region & empty


def area_scores(mine: jax.Array, theirs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Tromp-Taylor area of each side for boards ``mine``, ``theirs`` (bool ``[H, W]``, one board)."""
    empty = ~(mine | theirs)
    reach_mine, reach_theirs = _reach(mine, empty), _reach(theirs, empty)
    own = lambda stones, reach, other: jnp.sum(stones) + jnp.sum(reach & ~other)
    return own(mine, reach_mine, reach_theirs), own(theirs, reach_theirs, reach_mine)


def area_margin(observation: jax.Array) -> jax.Array:
    """The player to move's area minus the opponent's, over ``H * W``, for one pgx Go observation ``[H, W, C]``."""
    mine, theirs = observation[..., 0] > 0.5, observation[..., 1] > 0.5
    a, b = area_scores(mine, theirs)
    return (a - b).astype(jnp.float32) / (mine.shape[0] * mine.shape[1])
