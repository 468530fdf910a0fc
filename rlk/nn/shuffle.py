"""A uniform random permutation by one sort of packed 32-bit keys.

``jax.random.permutation(key, n)`` sorts ``n`` random keys together with their indices (a sort of two
operands with a stability comparator). On XLA:CPU that took 146 us for PPO's 1,024 samples, ~7% of an
update, and the same sort of single ``uint32`` keys takes 29 us (``benchmarks/results-cpu.md``). So each
key packs ``32 - b`` random bits above the ``b = ceil(log2 n)`` bits of its index, XOR-ed with one
random ``b``-bit mask: sorting the keys orders the indices by their random bits, two indices that drew the
same random bits are ordered by ``index ^ mask``, which puts either first with probability 1/2, and the
index is read back from the low bits. Ties of three or more (about ``n^3 / 6 / 2^(96 - 3b)``: 1e-5 for
``n = 1024``) are the only departure from a uniform permutation; above ``MAX_PACKED`` elements there are
too few random bits left and ``jax.random.permutation`` is used.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MAX_PACKED = 4096  # 20 random bits: ~8 tied pairs (each ordered at random), ~0.01 triple ties per draw


def permutation(key: jax.Array, n: int) -> jax.Array:
    """A random permutation of ``0..n-1`` (int32 ``[n]``), distributed as ``jax.random.permutation``'s."""
    if n > MAX_PACKED:
        return jax.random.permutation(key, n)
    index_bits = max(1, (n - 1).bit_length())
    bits_key, mask_key = jax.random.split(key)
    random_bits = jax.random.bits(bits_key, (n,), jnp.uint32) >> index_bits << index_bits
    mask = jax.random.bits(mask_key, (), jnp.uint32) & jnp.uint32((1 << index_bits) - 1)
    keys = random_bits | (jnp.arange(n, dtype=jnp.uint32) ^ mask)
    low = jnp.sort(keys) & jnp.uint32((1 << index_bits) - 1)
    return (low ^ mask).astype(jnp.int32)
