"""A MuZero model whose latent keeps the board's shape, for board games (Go 9x9).

MuZero's board-game networks (Schrittwieser et al. 2020, Appendix F, "Network Architecture") keep the
hidden state as a stack of ``[H, W]`` planes: the representation is AlphaZero's residual tower over the
board, and the dynamics function reads the action *as a plane* ("for Go ... the action is encoded as a
one-hot plane ... concatenated with the hidden state") and runs the same kind of tower, so every point
of the next state is computed from its own neighbourhood and the action's location. A latent vector
with an MLP dynamics (``rlk.nn.muzero_model.MuZeroModel``) has to learn that geometry from scratch for
each of the 81 points. This is the same design in miniature: ``channels`` planes, ``blocks`` residual
blocks per tower, small 1x1-convolution heads.

The interface is ``MuZeroModel``'s: ``initial(observation) -> latent [H, W, C]``,
``predict(latent) -> (policy logits [A], value logits [atoms])``,
``step(latent, action) -> (latent', reward logits [atoms])``, all on one example (callers ``vmap``).
Actions ``0 .. H*W - 1`` are board points (row-major, pgx's order), an action ``H*W`` (Go's pass) is
a separate all-ones plane.
"""

from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.nn.conv import Conv2d, ResidualBlock, image_layout
from rlk.nn.torsos import MLP


def _scale(s: jax.Array) -> jax.Array:
    """Min-max scaling of a whole hidden state to [0, 1] (MuZero, Appendix G)."""
    return (s - jnp.min(s)) / (jnp.max(s) - jnp.min(s) + 1e-8)


def action_planes(action: jax.Array, height: int, width: int) -> jax.Array:
    """``[H, W, 2]``: a one-hot plane at the action's point, and an all-ones plane for the pass (``H*W``)."""
    point = jax.nn.one_hot(action, height * width).reshape(height, width)  # all zero for the pass
    is_pass = jnp.broadcast_to((action >= height * width).astype(jnp.float32), (height, width))
    return jnp.stack([point, is_pass], axis=-1)


class BoardMuZeroModel(eqx.Module):
    """Representation, dynamics and prediction over ``[H, W, channels]`` latents (see the module doc)."""

    stem: Conv2d
    tower: tuple[ResidualBlock, ...]
    dynamics_in: Conv2d
    dynamics_tower: tuple[ResidualBlock, ...]
    reward_conv: Conv2d
    reward_head: MLP
    policy_conv: Conv2d
    policy_head: MLP
    value_conv: Conv2d
    value_head: MLP
    num_actions: int = eqx.field(static=True)
    board: tuple[int, int] = eqx.field(static=True)
    scale_latents: bool = eqx.field(static=True)

    def __init__(self, key: jax.Array, obs_shape: Sequence[int], num_actions: int, hidden: Sequence[int],
                 num_atoms: int, channels: int = 32, blocks: int = 1, scale_latents: bool = False):
        if image_layout(obs_shape) != "HWC":
            raise ValueError(f"the board model needs channels-last board observations [H, W, C], got {tuple(obs_shape)}")
        h, w, c = obs_shape
        if num_actions not in (h * w, h * w + 1):
            raise ValueError(f"the board model needs one action per point (+ pass): {h}x{w} board, {num_actions} actions")
        keys = iter(jax.random.split(key, 8 + 2 * blocks))
        self.num_actions, self.board, self.scale_latents = num_actions, (h, w), scale_latents
        self.stem = Conv2d(next(keys), c, channels, 3, 1, "SAME")
        self.tower = tuple(ResidualBlock(next(keys), channels) for _ in range(blocks))
        self.dynamics_in = Conv2d(next(keys), channels + 2, channels, 3, 1, "SAME")
        self.dynamics_tower = tuple(ResidualBlock(next(keys), channels) for _ in range(blocks))
        act = jax.nn.relu
        self.reward_conv = Conv2d(next(keys), channels, 1, 1, 1, "SAME")
        self.reward_head = MLP(next(keys), h * w, hidden, num_atoms, activation=act, out_scale=0.01)
        self.policy_conv = Conv2d(next(keys), channels, 2, 1, 1, "SAME")
        self.policy_head = MLP(next(keys), 2 * h * w, (), num_actions, activation=act, out_scale=0.01)
        self.value_conv = Conv2d(next(keys), channels, 1, 1, 1, "SAME")
        self.value_head = MLP(next(keys), h * w, hidden, num_atoms, activation=act, out_scale=0.01)

    @staticmethod
    def _run(x: jax.Array, first: Conv2d, tower: tuple[ResidualBlock, ...]) -> jax.Array:
        x = first(x[None])
        for block in tower:
            x = block(x)
        return jax.nn.relu(x)[0]

    def initial(self, observation: jax.Array) -> jax.Array:
        """One board ``[H, W, C]`` -> latent ``[H, W, channels]``."""
        s = self._run(observation.astype(jnp.float32), self.stem, self.tower)
        return _scale(s) if self.scale_latents else s

    def predict(self, latent: jax.Array) -> tuple[jax.Array, jax.Array]:
        """latent -> (policy logits ``[A]``, value logits ``[atoms]``)."""
        p = jax.nn.relu(self.policy_conv(latent[None])[0])
        v = jax.nn.relu(self.value_conv(latent[None])[0])
        return self.policy_head(p), self.value_head(v)

    def step(self, latent: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(latent, action) -> (next latent, reward logits ``[atoms]``): the action enters as planes."""
        x = jnp.concatenate([latent, action_planes(action, *self.board)], axis=-1)
        nxt = self._run(x, self.dynamics_in, self.dynamics_tower)
        nxt = _scale(nxt) if self.scale_latents else nxt
        r = jax.nn.relu(self.reward_conv(nxt[None])[0])
        return nxt, self.reward_head(r)
