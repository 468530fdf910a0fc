"""Convolutional torsos for pixel observations: Atari (DQN 2013 / Nature 2015), IMPALA's residual
network, and the MinAtar network. Each maps a batch of images ``[N, ...]`` to features ``[N, F]``.

Images come either frames first (``[C, H, W]``, the Atari host env's stacked frames) or channels
last (``[H, W, C]``, pgx MinAtar and Go); ``image_layout`` decides from the observation's shape.
Convolutions run in NHWC (XLA:CPU's fast layout) with ``lax.conv_general_dilated``; every module's
leaves are arrays (``jit`` and checkpoints take the whole state).

- ``dqn``: Mnih et al. 2013, "Playing Atari with Deep RL", section 5: 16 8x8/4, 32 4x4/2, FC 256.
- ``nature``: Mnih et al. 2015, "Human-level control", Methods: 32 8x8/4, 64 4x4/2, 64 3x3/1, FC 512.
- ``impala``: Espeholt et al. 2018, "IMPALA", Figure 3 (right): per stage (16, 32, 32 channels) a 3x3
  conv, a 3x3/2 max-pool and two residual blocks (ReLU, conv, ReLU, conv, + input); ReLU, FC 256.
- ``minatar``: Young & Tian 2019, "MinAtar", section 4: 16 3x3/1, FC 128.
"""

from __future__ import annotations

import math
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

TORSOS = ("dqn", "nature", "impala", "minatar")


def image_layout(shape: Sequence[int]) -> str | None:
    """``"CHW"``, ``"HWC"`` for a rank-3 image observation shape, else ``None`` (not an image).

    Frames first when the leading axis is shorter than two equal spatial axes after it (Atari's
    ``[4, 84, 84]``); channels last otherwise (MinAtar's ``[10, 10, C]``, Go's ``[9, 9, 17]``).
    """
    if len(shape) != 3:
        return None
    return "CHW" if shape[0] < shape[1] == shape[2] else "HWC"


def _to_nhwc(x: jax.Array, layout: str) -> jax.Array:
    x = x.astype(jnp.float32)
    return jnp.transpose(x, (0, 2, 3, 1)) if layout == "CHW" else x


class Conv2d(eqx.Module):
    """A 2-D convolution ``[N, H, W, C] -> [N, H', W', O]`` with an orthogonal kernel (gain sqrt 2)."""

    weight: jax.Array  # [kh, kw, C, O]
    bias: jax.Array  # [O]
    stride: int = eqx.field(static=True)
    padding: str = eqx.field(static=True)

    def __init__(self, key: jax.Array, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                 padding: str = "VALID"):
        init = jax.nn.initializers.orthogonal(math.sqrt(2.0))
        self.weight = init(key, (kernel, kernel, in_channels, out_channels), jnp.float32)
        self.bias = jnp.zeros((out_channels,), jnp.float32)
        self.stride, self.padding = stride, padding

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.lax.conv_general_dilated(x, self.weight, (self.stride, self.stride), self.padding,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + self.bias


class Dense(eqx.Module):
    """``[N, D] -> [N, O]`` as one ``x @ W + b`` (orthogonal ``W`` of gain ``scale``, zero ``b``)."""

    weight: jax.Array  # [D, O]
    bias: jax.Array

    def __init__(self, key: jax.Array, in_size: int, out_size: int, scale: float = math.sqrt(2.0)):
        self.weight = jax.nn.initializers.orthogonal(scale)(key, (in_size, out_size), jnp.float32)
        self.bias = jnp.zeros((out_size,), jnp.float32)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.weight + self.bias


def _out_hw(size: int, kernel: int, stride: int, padding: str) -> int:
    return -(-size // stride) if padding == "SAME" else (size - kernel) // stride + 1


class ConvStack(eqx.Module):
    """``(channels, kernel, stride)`` VALID convolutions with ReLU, flatten, ``Dense -> ReLU``
    (the DQN, Nature and MinAtar torsos)."""

    convs: tuple[Conv2d, ...]
    dense: Dense
    layout: str = eqx.field(static=True)

    def __init__(self, key: jax.Array, shape: Sequence[int], layers: Sequence[tuple[int, int, int]], out_size: int):
        self.layout = image_layout(shape) or "HWC"
        h, w, c = (shape[1], shape[2], shape[0]) if self.layout == "CHW" else tuple(shape)
        keys = jax.random.split(key, len(layers) + 1)
        convs = []
        for k, (channels, kernel, stride) in zip(keys, layers):
            convs.append(Conv2d(k, c, channels, kernel, stride))
            h, w, c = _out_hw(h, kernel, stride, "VALID"), _out_hw(w, kernel, stride, "VALID"), channels
        self.convs = tuple(convs)
        self.dense = Dense(keys[-1], h * w * c, out_size)

    def batch(self, x: jax.Array) -> jax.Array:
        """``[N, *shape]`` -> ``[N, out_size]``."""
        x = _to_nhwc(x, self.layout)
        for conv in self.convs:
            x = jax.nn.relu(conv(x))
        return jax.nn.relu(self.dense(x.reshape((x.shape[0], -1))))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.batch(x[None])[0]


class ResidualBlock(eqx.Module):
    """``x + conv(relu(conv(relu(x))))`` with 3x3 SAME convolutions (IMPALA, Figure 3)."""

    conv1: Conv2d
    conv2: Conv2d

    def __init__(self, key: jax.Array, channels: int):
        k1, k2 = jax.random.split(key)
        self.conv1 = Conv2d(k1, channels, channels, 3, 1, "SAME")
        self.conv2 = Conv2d(k2, channels, channels, 3, 1, "SAME")

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.conv2(jax.nn.relu(self.conv1(jax.nn.relu(x))))


class ImpalaStage(eqx.Module):
    """Conv 3x3 -> max-pool 3x3/2 (SAME) -> two residual blocks."""

    conv: Conv2d
    blocks: tuple[ResidualBlock, ResidualBlock]

    def __init__(self, key: jax.Array, in_channels: int, channels: int):
        k0, k1, k2 = jax.random.split(key, 3)
        self.conv = Conv2d(k0, in_channels, channels, 3, 1, "SAME")
        self.blocks = (ResidualBlock(k1, channels), ResidualBlock(k2, channels))

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.conv(x)
        x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "SAME")
        for block in self.blocks:
            x = block(x)
        return x


class ImpalaTorso(eqx.Module):
    """IMPALA's deep residual torso (Espeholt et al. 2018, Figure 3): stages, ReLU, ``Dense -> ReLU``."""

    stages: tuple[ImpalaStage, ...]
    dense: Dense
    layout: str = eqx.field(static=True)

    def __init__(self, key: jax.Array, shape: Sequence[int], channels: Sequence[int] = (16, 32, 32), out_size: int = 256):
        self.layout = image_layout(shape) or "HWC"
        h, w, c = (shape[1], shape[2], shape[0]) if self.layout == "CHW" else tuple(shape)
        keys = jax.random.split(key, len(channels) + 1)
        stages = []
        for k, ch in zip(keys, channels):
            stages.append(ImpalaStage(k, c, ch))
            h, w, c = -(-h // 2), -(-w // 2), ch
        self.stages = tuple(stages)
        self.dense = Dense(keys[-1], h * w * c, out_size)

    def batch(self, x: jax.Array) -> jax.Array:
        x = _to_nhwc(x, self.layout)
        for stage in self.stages:
            x = stage(x)
        return jax.nn.relu(self.dense(jax.nn.relu(x).reshape((x.shape[0], -1))))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.batch(x[None])[0]


def resolve_torso(name: str, shape: Sequence[int]) -> str:
    """``auto``: the Nature CNN for images of 32 pixels or more (Atari's 84x84 frames), the MLP
    otherwise (vectors, and MinAtar's or Go's small grids, where the MLP is the tested default)."""
    if name != "auto":
        return name
    return "nature" if image_layout(shape) and max(shape) >= 32 else "mlp"


class ConvEncoder(eqx.Module):
    """A convolutional torso then a linear layer: one image -> a vector ``[out_size]`` (a model's
    representation function for pixels; ``vmap`` it, or call ``batch`` on ``[N, ...]``)."""

    torso: eqx.Module
    head: Dense

    def __init__(self, key: jax.Array, name: str, shape: Sequence[int], out_size: int):
        k0, k1 = jax.random.split(key)
        self.torso, features = make_conv_torso(k0, name, shape)
        self.head = Dense(k1, features, out_size, scale=1.0)

    def batch(self, x: jax.Array) -> jax.Array:
        return self.head(self.torso.batch(x))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.head(self.torso(x))


def make_conv_torso(key: jax.Array, name: str, shape: Sequence[int]) -> tuple[eqx.Module, int]:
    """The torso ``name`` (one of ``TORSOS``) for image observations of ``shape``, and its feature size."""
    if name == "dqn":
        return ConvStack(key, shape, [(16, 8, 4), (32, 4, 2)], 256), 256
    if name == "nature":
        return ConvStack(key, shape, [(32, 8, 4), (64, 4, 2), (64, 3, 1)], 512), 512
    if name == "minatar":
        return ConvStack(key, shape, [(16, 3, 1)], 128), 128
    if name == "impala":
        return ImpalaTorso(key, shape), 256
    raise ValueError(f"unknown torso '{name}' (expected one of {', '.join(TORSOS)})")
