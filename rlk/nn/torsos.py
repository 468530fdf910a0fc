"""Torsos: equinox modules whose pytree leaves are all arrays (so whole states ``jit`` and checkpoint)."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp


class Linear(eqx.Module):
    """``x @ W + b`` with ``W [in, out]`` (the layout of haiku, flax and PureJaxRL).

    Not ``eqx.nn.Linear``'s ``W [out, in]``: with that layout the weight gradient is the
    ``[out, in]`` product ``g^T x``, which XLA:CPU computes up to 2x slower than ``x^T g`` for a
    first layer on small observations (``benchmarks/results-cpu.md``, "Weight layout").
    """

    weight: jax.Array  # [in, out]
    bias: jax.Array  # [out]

    def __call__(self, x: jax.Array) -> jax.Array:
        return x @ self.weight + self.bias


def orthogonal_linear(key: jax.Array, d_in: int, d_out: int, scale: float) -> Linear:
    """A linear layer with orthogonal weights of gain ``scale`` and zero bias (PPO's usual init).

    The weights are those of ``orthogonal(scale)`` drawn as ``[out, in]`` and stored transposed,
    so a key gives the same function as the earlier ``eqx.nn.Linear``-based layer.
    """
    weight = jax.nn.initializers.orthogonal(scale)(key, (d_out, d_in), jnp.float32)
    return Linear(weight.T, jnp.zeros((d_out,), jnp.float32))


class MLP(eqx.Module):
    """Flattens its input, then ``Linear -> activation`` for each hidden size, then a final ``Linear``."""

    layers: tuple[Linear, ...]
    activation: Callable[[jax.Array], jax.Array] = eqx.field(static=True)

    def __init__(
        self,
        key: jax.Array,
        in_size: int,
        hidden: Sequence[int],
        out_size: int,
        activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
        hidden_scale: float = math.sqrt(2.0),
        out_scale: float = 1.0,
    ):
        sizes = [in_size, *hidden, out_size]
        keys = jax.random.split(key, len(sizes) - 1)
        scales = [hidden_scale] * len(hidden) + [out_scale]
        self.layers = tuple(orthogonal_linear(k, a, b, s) for k, a, b, s in zip(keys, sizes[:-1], sizes[1:], scales))
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.ravel(x).astype(jnp.float32)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)

    def batch(self, x: jax.Array) -> jax.Array:
        """``[N, ...]`` -> ``[N, out]``: the same function as ``vmap(self)``, one ``x @ W + b`` per
        layer (on XLA:CPU a vmapped matrix-vector product becomes a batched dot with copies)."""
        x = x.reshape((x.shape[0], -1)).astype(jnp.float32)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
