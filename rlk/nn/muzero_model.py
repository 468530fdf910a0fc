"""The MuZero-style learned model Muesli and MuZero share (Schrittwieser et al. 2020, Appendix B).

representation h: observation -> latent; dynamics g: (latent, action) -> (latent', reward logits);
prediction f: latent -> (policy logits, value logits). Latents are min-max scaled to [0, 1] as in
MuZero's appendix ("Network Architecture") unless ``scale_latents=False`` (MuZero on Catch leaves them
unscaled: the scaling slows that small MLP model's learning). The representation is an MLP for vector
observations, or a convolutional encoder for pixels (``torso``: ``rlk.nn.conv``, e.g. IMPALA's residual
network, which Muesli and MuZero use on Atari), or for board games ``torso="board"``: a
same-padding 3x3 convolution and residual blocks that keep the board's size (``BoardTorso``; AlphaZero's
residual tower, Silver et al. 2017, in miniature), flattened into the latent.
"""

from __future__ import annotations

import math
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.nn.conv import TORSOS, Conv2d, ConvEncoder, Dense, ResidualBlock, image_layout, resolve_torso
from rlk.nn.observations import scale_pixels
from rlk.nn.torsos import MLP


def scale_latent(s: jax.Array) -> jax.Array:
    """Min-max scaling of a latent to [0, 1] (MuZero, Appendix B)."""
    lo, hi = jnp.min(s, axis=-1, keepdims=True), jnp.max(s, axis=-1, keepdims=True)
    return (s - lo) / (hi - lo + 1e-8)


class BoardTorso(eqx.Module):
    """A board ``[H, W, C]`` (channels last, e.g. pgx Go's planes) -> ``[out_size]``: a 3x3 SAME
    convolution to ``channels``, ``blocks`` residual blocks (3x3 SAME, the board keeps its size: every
    point keeps its own features, which a strided Atari torso would pool away), ReLU, flatten, Dense."""

    conv: Conv2d
    blocks: tuple[ResidualBlock, ...]
    dense: Dense

    def __init__(self, key: jax.Array, shape: Sequence[int], out_size: int, channels: int = 32, blocks: int = 1):
        if image_layout(shape) != "HWC":
            raise ValueError(f"torso 'board' needs channels-last board observations [H, W, C], got shape {tuple(shape)}")
        h, w, c = shape
        keys = jax.random.split(key, blocks + 2)
        self.conv = Conv2d(keys[0], c, channels, 3, 1, "SAME")
        self.blocks = tuple(ResidualBlock(k, channels) for k in keys[1:-1])
        self.dense = Dense(keys[-1], h * w * channels, out_size, scale=1.0)

    def batch(self, x: jax.Array) -> jax.Array:
        x = self.conv(x.astype(jnp.float32))
        for block in self.blocks:
            x = block(x)
        return self.dense(jax.nn.relu(x).reshape((x.shape[0], -1)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.batch(x[None])[0]


class MuZeroModel(eqx.Module):
    representation: eqx.Module  # MLP or ConvEncoder
    dynamics: MLP
    reward_head: MLP
    policy_head: MLP
    value_head: MLP
    num_actions: int = eqx.field(static=True)
    scale_latents: bool = eqx.field(static=True)

    def __init__(self, key: jax.Array, obs_shape: Sequence[int], num_actions: int, latent_size: int,
                 hidden: Sequence[int], num_atoms: int, scale_latents: bool = True, torso: str = "mlp"):
        keys = jax.random.split(key, 5)
        act = jax.nn.relu
        self.num_actions = num_actions
        self.scale_latents = scale_latents
        torso = resolve_torso(torso, obs_shape)
        if torso == "board":
            self.representation = BoardTorso(keys[0], obs_shape, latent_size)
        elif torso == "mlp":
            self.representation = MLP(keys[0], math.prod(obs_shape), hidden, latent_size, activation=act)
        elif torso in TORSOS:
            self.representation = ConvEncoder(keys[0], torso, obs_shape, latent_size)
        else:
            raise ValueError(f"unknown torso '{torso}' (expected auto, mlp, board, {', '.join(TORSOS)})")
        self.dynamics = MLP(keys[1], latent_size + num_actions, hidden, latent_size, activation=act)
        self.reward_head = MLP(keys[2], latent_size, hidden, num_atoms, activation=act, out_scale=0.01)
        self.policy_head = MLP(keys[3], latent_size, hidden, num_actions, activation=act, out_scale=0.01)
        self.value_head = MLP(keys[4], latent_size, hidden, num_atoms, activation=act, out_scale=0.01)

    def initial(self, observation: jax.Array) -> jax.Array:
        """One observation -> latent ``[D]``; uint8 pixels (Atari, 0..255) are scaled to [0, 1] first."""
        s = self.representation(scale_pixels(observation))
        return scale_latent(s) if self.scale_latents else s

    def predict(self, latent: jax.Array) -> tuple[jax.Array, jax.Array]:
        """latent -> (policy logits ``[A]``, value logits ``[atoms]``)."""
        return self.policy_head(latent), self.value_head(latent)

    def step(self, latent: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(latent, action) -> (next latent, reward logits ``[atoms]``)."""
        x = jnp.concatenate([latent, jax.nn.one_hot(action, self.num_actions)])
        nxt = self.dynamics(x)
        nxt = scale_latent(nxt) if self.scale_latents else nxt
        return nxt, self.reward_head(nxt)
