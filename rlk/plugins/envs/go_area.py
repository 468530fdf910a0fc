"""Tromp-Taylor area scoring of pgx Go boards (the scoring pgx's Go uses, without komi).

``area_scores(mine, theirs)``: stones plus empty points that reach only one colour, for each side.
``area_margin(observation)``: the player to move's area minus the opponent's, over the board size
squared, from the current-board planes of pgx's Go observation (plane 0: the stones of the player to
move, plane 1: the opponent's); in ``[-1, 1]``. Used by Go's ``score_reward`` (``pgx_adapter``) and
MuZero's area shaping (``rlk.plugins.muzero.go``).
``own_eyes(observation)``: the player to move's single-point true eyes, which Go's ``no_eye_filling``
rule variant (``pgx_adapter``) keeps that player from filling.
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


def own_eyes(observation: jax.Array) -> jax.Array:
    """The player to move's true single-point eyes, bool ``[H * W]`` (pgx's point order, row-major), for one
    pgx Go observation ``[H, W, C]``.

    An eye is an empty point whose on-board 4-neighbours are all the player's stones and whose
    diagonal neighbours hold at most one opponent stone, none where the point is on the edge (the eye
    rule of Monte-Carlo Go playouts: Bruegmann 1993; Gelly et al. 2006, MoGo). Filling one only takes
    a liberty from one's own group; a point that fails the diagonal test is a false eye and may be filled.
    """
    mine, theirs = observation[..., 0] > 0.5, observation[..., 1] > 0.5
    empty = ~(mine | theirs)
    own = jnp.pad(mine, 1, constant_values=True)  # off the board counts as one's own for the 4-neighbours
    sides = own[:-2, 1:-1] & own[2:, 1:-1] & own[1:-1, :-2] & own[1:-1, 2:]
    opp = jnp.pad(theirs, 1).astype(jnp.int32)
    diagonal_opponents = opp[:-2, :-2] + opp[:-2, 2:] + opp[2:, :-2] + opp[2:, 2:]
    on_board = jnp.pad(jnp.ones(mine.shape, jnp.int32), 1)
    diagonals_on_board = on_board[:-2, :-2] + on_board[:-2, 2:] + on_board[2:, :-2] + on_board[2:, 2:]
    allowed = jnp.where(diagonals_on_board == 4, 1, 0)  # one opponent diagonal in the middle, none on the edge
    return (empty & sides & (diagonal_opponents <= allowed)).reshape(-1)
