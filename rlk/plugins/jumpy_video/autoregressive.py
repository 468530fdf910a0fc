"""The trained autoregressive baseline: a stochastic frame-by-frame model (a conditional VAE per frame,
as SVG-LP, Denton & Fergus 2018), built from JUMP's layers and trained on the same data and budget.

  representation  r_t = f(x_t, e(v_t))                              (JUMP's ``Encoder``)
  past            h_0 = 0,  h_{t+1} = GRU(r_t, h_t)                 (a summary of the frames < t)
  prior           p(z_t | x_{<t})      = N(mu_p(h_t), diag sigma_p(h_t)^2)
  posterior       q(z_t | x_{<=t})     = N(mu_q(h_t + r_t), diag sigma_q(h_t + r_t)^2)
  renderer        p(x_t | z_t, x_{<t}) = N(g(z_t, [e(v_t), h_t]), pixel_std^2 I)

  log p(x_{0:T}) >= sum_t E_q[log p(x_t | z_t, x_{<t})] - KL(q(z_t | x_{<=t}) || p(z_t | x_{<t}))

Training is teacher-forced (``h`` reads the true frames), so a video's ELBO is one pass of the
encoder and renderer over its frames plus a GRU scan. Sampling frame ``t`` after a context rolls
forward through every frame in between (``z_t`` from the prior, ``x_t`` the renderer's mean image,
``h_{t+1} = GRU(f(x_t, e(v_t)), h_t)``): one encoder, GRU, prior and renderer pass per step. Unlike
JUMP, every frame has its own latent, so a future chosen at one step survives only through the
rendered frames that ``h`` reads.
"""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.core.errors import RlkError
from rlk.core.interfaces import Dataset, Model
from rlk.plugins.jumpy_video import losses
from rlk.plugins.jumpy_video.config import AutoregressiveConfig
from rlk.plugins.jumpy_video.metrics import consistency_metrics
from rlk.plugins.jumpy_video.model import Encoder, LatentHead, Renderer, embed_v


class ArNetworks(eqx.Module):
    encoder: Encoder
    gru: eqx.nn.GRUCell
    prior: LatentHead
    posterior: LatentHead
    renderer: Renderer


class Autoregressive:
    """The baseline's pure functions; ``model()`` packs them as an ``rlk.core.interfaces.Model``.

    ``params`` is the array part of ``ArNetworks`` (as in ``model.Jump``)."""

    def __init__(self, config: AutoregressiveConfig, shape: tuple[int, ...], dv: int,
                 dataset: Optional[Dataset] = None):
        if len(shape) != 4:
            raise RlkError(f"jumpy_video_ar needs examples of frames [T, H, W, C] (the dataset's x has shape {shape})")
        self.c, self.shape, self.dataset = config, tuple(shape), dataset
        self.T, H, W, self.C = self.shape
        if H != W or H % 4:
            raise RlkError(f"jumpy_video_ar needs square frames with a side divisible by 4 (got {H}x{W})")
        self.size = H
        self.dv_embed = dv * (1 + 2 * config.fourier)
        shapes = eqx.filter_eval_shape(self._build, jax.random.PRNGKey(0))
        _, self._static = eqx.partition(shapes, lambda a: isinstance(a, (jax.Array, jax.ShapeDtypeStruct)))

    def _build(self, key) -> ArNetworks:
        c, ks = self.c, jax.random.split(key, 5)
        return ArNetworks(Encoder(self.C, self.size, self.dv_embed, c, ks[0]), eqx.nn.GRUCell(c.r_dim, c.r_dim, key=ks[1]),
                          LatentHead(c, ks[2]), LatentHead(c, ks[3]),
                          Renderer(self.C, self.size, self.dv_embed + c.r_dim, c, ks[4]))

    def init(self, key: jax.Array):
        return eqx.filter(self._build(key), eqx.is_array)

    def nets(self, params) -> ArNetworks:
        return eqx.combine(params, self._static)

    # -- pieces (one video) -------------------------------------------------------------------
    def encode(self, params, x: jax.Array, v: jax.Array) -> jax.Array:
        """``r_t = f(x_t, e(v_t))``: ``x [T, H, W, C]``, ``v [T, dv]`` -> ``[T, r_dim]``."""
        return jax.vmap(self.nets(params).encoder)(x, embed_v(v, self.c.fourier))

    def past(self, params, r: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(h [T, r_dim], h_T)``: ``h_t`` summarises ``r_{<t}`` (``h_0 = 0``); ``h_T`` follows the last frame."""
        gru = self.nets(params).gru

        def step(h, r_t):
            return gru(r_t, h), h

        h_last, h = jax.lax.scan(step, jnp.zeros(self.c.r_dim), r)
        return h, h_last

    def render(self, params, z: jax.Array, v: jax.Array, h: jax.Array) -> jax.Array:
        """Mean images ``[N, H, W, C]`` of frames ``v [N, dv]``, frame ``n`` from ``z[n]`` and ``h[n]``."""
        cond = jnp.concatenate([embed_v(v, self.c.fourier), h], axis=-1)
        return jax.vmap(self.nets(params).renderer)(z, cond)

    def frame_terms(self, params, x: jax.Array, v: jax.Array, eps: jax.Array) -> dict[str, jax.Array]:
        """ELBO terms of every frame of one video (teacher-forced), for noise ``eps [T, Z]``:
        ``log_likelihood_t`` and ``kl_t`` ``[T]`` (``z_t = mu_q + sigma_q eps_t``), ``mse_t`` ``[T]``."""
        nets = self.nets(params)
        r = self.encode(params, x, v)
        h, _ = self.past(params, r)
        mp, lp = jax.vmap(nets.prior)(h)
        mq, lq = jax.vmap(nets.posterior)(h + r)
        means = self.render(params, mq + jnp.exp(lq) * eps, v, h)
        return {"log_likelihood_t": losses.gaussian_pixel_log_likelihood(x, means, self.c.pixel_std),
                "kl_t": losses.diagonal_gaussian_kl(mq, lq, mp, lp),
                "mse_t": jnp.mean((means - x) ** 2, axis=(-3, -2, -1))}

    # -- training -----------------------------------------------------------------------------
    def _v(self, batch) -> jax.Array:
        if "v" in batch:
            return batch["v"]
        return jnp.broadcast_to(jnp.linspace(0.0, 1.0, self.T)[:, None], (batch["x"].shape[0], self.T, 1))

    def loss(self, params, batch, keys):
        """The negative ELBO of whole videos, per frame, averaged over the batch."""
        x, v = batch["x"], self._v(batch)
        eps = jax.vmap(lambda k: jax.random.normal(k, (self.T, self.c.z_dim)))(keys)
        t = jax.vmap(lambda x1, v1, e: self.frame_terms(params, x1, v1, e))(x, v, eps)
        neg_elbo = losses.negative_elbo(t["log_likelihood_t"], jnp.sum(t["kl_t"], -1), self.c.beta)
        metrics = {"neg_elbo": jnp.mean(losses.negative_elbo(t["log_likelihood_t"], jnp.sum(t["kl_t"], -1))),
                   "nll_per_frame": -jnp.mean(t["log_likelihood_t"]), "kl": jnp.mean(jnp.sum(t["kl_t"], -1)),
                   "mse": jnp.mean(t["mse_t"])}
        return jnp.mean(neg_elbo) / self.T, metrics

    # -- sampling -----------------------------------------------------------------------------
    def rollout(self, params, ctx_x: jax.Array, ctx_v: jax.Array, future_v: jax.Array, key: jax.Array) -> jax.Array:
        """Frames ``[F, H, W, C]`` at ``future_v [F, dv]`` (the frames right after the context, in order),
        sampled one by one after reading the context ``ctx_x [N, H, W, C]``, ``ctx_v [N, dv]``."""
        nets = self.nets(params)
        _, h = self.past(params, self.encode(params, ctx_x, ctx_v))

        def step(h, inputs):
            v_t, k = inputs
            mp, lp = nets.prior(h)
            z = mp + jnp.exp(lp) * jax.random.normal(k, mp.shape)
            x_t = self.render(params, z[None], v_t[None], h[None])[0]
            r_t = nets.encoder(x_t, embed_v(v_t, self.c.fourier))
            return nets.gru(r_t, h), x_t

        _, frames = jax.lax.scan(step, h, (future_v, jax.random.split(key, future_v.shape[0])))
        return frames

    def sample_batch(self, params, x, v, n_context: int, last: int, key) -> jax.Array:
        """Per example of ``x [B, T, ...]``: frames ``n_context..last`` rolled out from its first
        ``n_context`` frames, ``[B, last - n_context + 1, H, W, C]``."""
        fut = jnp.arange(n_context, last + 1)
        keys = jax.random.split(key, x.shape[0])
        return jax.vmap(lambda x1, v1, k: self.rollout(params, x1[:n_context], v1[:n_context], v1[fut], k))(x, v, keys)

    def _n_context(self) -> int:
        return min(self.c.sample_context, self.T - 1)

    def evaluate(self, params, batch, key) -> dict[str, jax.Array]:
        """With the first ``sample_context`` frames as context: the negative ELBO of the frames after
        them, per frame (``future_neg_elbo_per_frame``, comparable with JUMP's of the same name); the MSE
        of rolled-out frames at ``sample_times``; on moving-shapes, the consistency metrics of frames
        ``consistency_times`` from ``consistency_draws`` rollouts per video."""
        c, x, v = self.c, batch["x"], self._v(batch)
        n = self._n_context()
        eps = jax.random.normal(jax.random.fold_in(key, 0), (x.shape[0], self.T, c.z_dim))
        t = jax.vmap(lambda x1, v1, e: self.frame_terms(params, x1, v1, e))(x, v, eps)
        ll, kl = t["log_likelihood_t"][:, n:], t["kl_t"][:, n:]
        out = {"future_neg_elbo_per_frame": jnp.mean(losses.negative_elbo(ll, jnp.sum(kl, -1))) / (self.T - n),
               "nll_per_frame": -jnp.mean(ll), "kl": jnp.mean(jnp.sum(kl, -1)), "posterior_mse": jnp.mean(t["mse_t"][:, n:])}
        times = [min(s, self.T - 1) for s in c.sample_times]
        frames = self.sample_batch(params, x, v, n, max(times), jax.random.fold_in(key, 1))
        sel = jnp.asarray([s - n for s in times])
        out["prior_sample_mse"] = jnp.mean((frames[:, sel] - x[:, jnp.asarray(times)]) ** 2)
        if self.dataset is not None and getattr(self.dataset, "name", "") == "moving-shapes":
            out.update(self.consistency(params, x, v, jax.random.fold_in(key, 2)))
        return out

    def consistency(self, params, x, v, key) -> dict[str, jax.Array]:
        """``metrics.consistency_metrics`` of ``consistency_draws`` rollouts per video (frames
        ``consistency_times``), and of the data."""
        c, n = self.c, self._n_context()
        times = [min(s, self.T - 1) for s in c.consistency_times]
        sel = jnp.asarray([s - n for s in times])
        draws = jnp.stack([self.sample_batch(params, x, v, n, max(times), jax.random.fold_in(key, i))[:, sel]
                           for i in range(c.consistency_draws)], 1)  # [B, D, N, H, W, C]
        ref = x[:, n - 1]
        out = {f"{k}_ar": val for k, val in consistency_metrics(draws, ref).items()}
        out.update({f"{k}_data": val for k, val in consistency_metrics(x[:, jnp.asarray(times)][:, None], ref).items()})
        return out

    def sample(self, params, batch, key) -> jax.Array:
        """The ``rlk sample`` grid, laid out as JUMP's: per example the truth (context, then the frames at
        ``sample_times``), then ``sample_rows`` rollouts shown at the same times."""
        c, n = self.c, self._n_context()
        x, v = batch["x"][: c.sample_examples], self._v(batch)[: c.sample_examples]
        times = [min(s, self.T - 1) for s in c.sample_times]
        sel = jnp.asarray([s - n for s in times])
        rows = []
        for b in range(x.shape[0]):
            rows.append(jnp.concatenate([x[b, :n], x[b, jnp.asarray(times)]]))
            for r in range(c.sample_rows):
                f = self.rollout(params, x[b, :n], v[b, :n], v[b, n:max(times) + 1], jax.random.fold_in(key, b * c.sample_rows + r))
                rows.append(jnp.concatenate([x[b, :n], f[sel]]))
        grid = jnp.clip(jnp.stack(rows), 0.0, 1.0)
        return grid[..., 0] if self.C == 1 else grid

    def model(self) -> Model:
        return Model(init=self.init, loss=self.loss, evaluate=self.evaluate, sample=self.sample)


def make_autoregressive(config: Optional[AutoregressiveConfig], dataset: Dataset) -> Model:
    """The autoregressive baseline of JUMP: a conditional VAE per frame, rolled forward to sample"""
    x = dataset.arrays("train")
    dv = x["v"].shape[-1] if "v" in x else 1
    return Autoregressive(config or AutoregressiveConfig(), dataset.spec.shape, dv, dataset).model()
