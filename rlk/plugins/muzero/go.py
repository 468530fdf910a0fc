"""Go-specific pieces of MuZero's self-play: an area-score potential for reward shaping.

``area_margin(observation)``: Tromp-Taylor area (stones plus empty points that reach only one
colour; the scoring pgx's Go uses, without komi) of the player to move minus the opponent's, over the
board size squared, read from the current-board planes of pgx's Go observation (plane 0: the stones
of the player to move, plane 1: the opponent's). In ``[-1, 1]``.

Reward shaping with it (Ng et al. 1999, potential-based): the mover's reward for ``s -> s'`` becomes
``r + c * (phi_mover(s') - phi_mover(s))``, with ``phi_mover(s) = area_margin(s)`` (the mover is the
player to move at ``s``), ``phi_mover(s') = -area_margin(s')`` (``s'`` is seen by the opponent) and
``phi(terminal) = 0``. Along a game the shaping telescopes to ``-c * phi(s_0)`` (0 from the empty
board), so every player's return, and the optimal play, are those of the game (win +1, loss -1);
what changes is that rewards are dense: a search that reaches a position values the area it holds
there, and n-step targets see it before the game ends.
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


def shaped_reward(reward: jax.Array, obs: jax.Array, next_obs: jax.Array, next_terminal: jax.Array,
                  coef: float) -> jax.Array:
    """The mover's shaped reward of one transition ``obs -> next_obs`` (unbatched; see the module doc)."""
    phi_next = jnp.where(next_terminal, 0.0, -area_margin(next_obs))
    return reward + coef * (phi_next - area_margin(obs))
