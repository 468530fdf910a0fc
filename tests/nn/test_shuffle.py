"""``rlk.nn.shuffle.permutation``: a permutation, uniformly distributed, ties broken at random."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.nn import shuffle


@pytest.mark.parametrize("n", [1, 2, 1000, 1024, shuffle.MAX_PACKED + 3])
def test_is_a_permutation(n):
    perms = np.asarray(jax.vmap(lambda k: shuffle.permutation(k, n))(jax.random.split(jax.random.PRNGKey(0), 8)))
    for p in perms:
        assert p.dtype == np.int32 and sorted(p.tolist()) == list(range(n))
    if n > 2:
        assert len({tuple(p) for p in perms}) == 8  # different keys, different orders


def _chi2_positions(perms: np.ndarray, n: int) -> float:
    counts = np.stack([np.bincount(perms[:, pos], minlength=n) for pos in range(n)], axis=1)
    expected = len(perms) / n
    return float(np.sum((counts - expected) ** 2 / expected))


def test_every_element_lands_in_every_position_equally_often():
    n, draws = 6, 30_000
    perms = np.asarray(jax.jit(jax.vmap(lambda k: shuffle.permutation(k, n)))(jax.random.split(jax.random.PRNGKey(1), draws)))
    # (n-1)^2 = 25 degrees of freedom: the 99.9% quantile of chi^2_25 is 52.6
    assert _chi2_positions(perms, n) < 52.6
    orders = np.unique(perms, axis=0, return_counts=True)[1]
    assert len(orders) == 720 and orders.min() > 0.4 * draws / 720  # all 6! orders, about equally often


def test_ties_in_the_random_bits_are_ordered_at_random(monkeypatch):
    """With every random key equal (all ties), the order comes from ``index ^ mask`` alone: each pair
    of indices must still come out either way round about half the time."""
    real_bits = jax.random.bits

    def tied_bits(key, shape, dtype):  # the index mask stays random, the sort keys all tie
        return real_bits(key, shape, dtype) if shape == () else jnp.zeros(shape, dtype)

    monkeypatch.setattr(shuffle.jax.random, "bits", tied_bits)
    n, draws = 4, 4000
    perms = np.asarray(jax.vmap(lambda k: shuffle.permutation(k, n))(jax.random.split(jax.random.PRNGKey(2), draws)))
    position = np.argsort(perms, axis=1)  # position[d, i]: where index i landed
    for i in range(n):
        for j in range(i + 1, n):
            before = np.mean(position[:, i] < position[:, j])
            assert 0.45 < before < 0.55, (i, j, before)
