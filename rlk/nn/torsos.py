"""Torsos: equinox modules whose pytree leaves are all arrays (so whole states ``jit`` and checkpoint)."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp


def orthogonal_linear(key: jax.Array, d_in: int, d_out: int, scale: float) -> eqx.nn.Linear:
    """A linear layer with orthogonal weights of gain ``scale`` and zero bias (PPO's usual init)."""
    layer = eqx.nn.Linear(d_in, d_out, key=key)
    weight = jax.nn.initializers.orthogonal(scale)(key, (d_out, d_in), jnp.float32)
    layer = eqx.tree_at(lambda l: l.weight, layer, weight)
    return eqx.tree_at(lambda l: l.bias, layer, jnp.zeros((d_out,), jnp.float32))


class MLP(eqx.Module):
    """Flattens its input, then ``Linear -> activation`` for each hidden size, then a final ``Linear``."""

    layers: tuple[eqx.nn.Linear, ...]
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
        """``[N, ...]`` -> ``[N, out]``: the same function as ``vmap(self)``, one ``x @ W.T + b`` per
        layer (on XLA:CPU a vmapped ``W @ x`` becomes a batched dot with transposes and copies)."""
        x = x.reshape((x.shape[0], -1)).astype(jnp.float32)
        for layer in self.layers[:-1]:
            x = self.activation(x @ layer.weight.T + layer.bias)
        return x @ self.layers[-1].weight.T + self.layers[-1].bias
