"""Small networks as pure functions over dicts of arrays: MLPs and a MADE autoregressive prior."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

LOG_2PI = float(np.log(2 * np.pi))


def mlp_init(key: jax.Array, sizes: list[int]) -> list[dict[str, jax.Array]]:
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": jax.random.normal(k, (a, b)) * (1.0 / np.sqrt(a)), "b": jnp.zeros(b)}
            for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def mlp(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def log_normal(x: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """Elementwise ``log N(x; mean, exp(log_std)^2)``."""
    return -0.5 * (((x - mean) * jnp.exp(-log_std)) ** 2 + LOG_2PI) - log_std


def bernoulli_log_prob(x: jax.Array, logits: jax.Array) -> jax.Array:
    """Elementwise ``x log sigmoid(l) + (1 - x) log(1 - sigmoid(l))`` for ``x`` in [0, 1]."""
    return -x * jax.nn.softplus(-logits) - (1.0 - x) * jax.nn.softplus(logits)


# -- MADE (Germain et al. 2015): a Gaussian autoregressive prior over the K code symbols --------------
def made_masks(dim: int, hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Input->hidden and hidden->output masks: output ``i`` depends only on inputs ``< i``."""
    d_in = np.arange(1, dim + 1)
    d_hid = np.arange(hidden) % max(1, dim - 1) + 1
    m1 = (d_hid[None, :] >= d_in[:, None]).astype(np.float32)     # [dim, hidden]
    m2 = (d_in[None, :] > d_hid[:, None]).astype(np.float32)      # [hidden, dim]
    return m1, m2


def made_init(key: jax.Array, dim: int, hidden: int) -> dict[str, jax.Array]:
    k1, k2, k3 = jax.random.split(key, 3)
    return {"w1": jax.random.normal(k1, (dim, hidden)) / np.sqrt(dim), "b1": jnp.zeros(hidden),
            "w_mean": jax.random.normal(k2, (hidden, dim)) * 0.01 / np.sqrt(hidden), "b_mean": jnp.zeros(dim),
            "w_std": jax.random.normal(k3, (hidden, dim)) * 0.01 / np.sqrt(hidden), "b_std": jnp.zeros(dim)}


def made(params: dict[str, jax.Array], y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(mean, log_std)`` of ``p(y_i | y_{<i})`` for every ``i``; ``y``: ``[B, K]``."""
    dim, hidden = params["w1"].shape
    m1, m2 = made_masks(dim, hidden)
    h = jax.nn.relu(y @ (params["w1"] * m1) + params["b1"])
    mean = h @ (params["w_mean"] * m2) + params["b_mean"]
    log_std = jnp.clip(h @ (params["w_std"] * m2) + params["b_std"], -7.0, 3.0)
    return mean, log_std


def made_log_prob(params: dict[str, jax.Array], y: jax.Array) -> jax.Array:
    """``log p(y) = sum_i log p(y_i | y_{<i})``, ``[B]``."""
    mean, log_std = made(params, y)
    return jnp.sum(log_normal(y, mean, log_std), axis=-1)


def made_fill(params: dict[str, jax.Array], y: jax.Array, mask: jax.Array, noise: jax.Array) -> jax.Array:
    """The receiver's estimate of every symbol: what arrived plus the prior's draw for what did not,
    ``y_hat_i = y_i + (1 - m_i) * draw_i``, ``draw_i ~ p(y_i | y_hat_{<i})`` in order ``i = 0 .. K-1``
    (``noise`` standard normal; zeros: the conditional means). ``y`` is the channel output (already
    masked); with a hard mask received symbols are kept and missing ones sampled, with a relaxed mask
    ``m_i`` in (0, 1) the two blend."""
    K = y.shape[-1]

    def body(i, cur):
        mean, log_std = made(params, cur)
        draw = mean[:, i] + jnp.exp(log_std[:, i]) * noise[:, i]
        return cur.at[:, i].set(y[:, i] + (1.0 - mask[:, i]) * draw)

    return jax.lax.fori_loop(0, K, body, y)
