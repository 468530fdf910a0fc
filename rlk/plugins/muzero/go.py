"""Potential-based reward shaping of MuZero's two-player self-play, with the potential the game declares
(``Simulator.potential`` of ``EnvSpec.simulator``). Go's (``go_9x9``, ``rlk.plugins.envs.pgx_adapter``) is
``area_margin(observation)``: Tromp-Taylor area (stones plus empty points that reach only one colour; the
scoring pgx's Go uses, without komi) of the player to move minus the opponent's, over the board size
squared. In ``[-1, 1]``.

Reward shaping with it (Ng et al. 1999, potential-based): the mover's reward for ``s -> s'`` becomes
``r + c * (phi_mover(s') - phi_mover(s))``, with ``phi_mover(s) = area_margin(s)`` (the mover is the
player to move at ``s``), ``phi_mover(s') = -area_margin(s')`` (``s'`` is seen by the opponent) and
``phi(terminal) = 0``. Along a game the shaping telescopes to ``-c * phi(s_0)`` (0 from the empty
board), so every player's return, and the optimal play, are those of the game (win +1, loss -1);
what changes is that rewards are dense: a search that reaches a position values the area it holds
there, and n-step targets see it before the game ends.

With Go's ``env.score_reward = w`` (``rlk.plugins.envs.pgx_adapter``) the game's terminal reward gains
``w`` times the mover's final area margin: shaping with ``c = w`` then telescopes to the game's result
plus ``w`` times the final margin, i.e. the same dense rewards with ``phi(terminal)`` the final board's
margin instead of 0, and an objective that values winning by more (KataGo-style score utility).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def shaped_reward(potential: Callable[[jax.Array], jax.Array], reward: jax.Array, obs: jax.Array, next_obs: jax.Array,
                  next_terminal: jax.Array, coef: float) -> jax.Array:
    """The mover's shaped reward of one transition ``obs -> next_obs`` (unbatched; see the module doc);
    ``potential(observation)`` values a position for the player to move there."""
    phi_next = jnp.where(next_terminal, 0.0, -potential(next_obs))
    return reward + coef * (phi_next - potential(obs))
