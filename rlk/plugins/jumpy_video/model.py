"""JUMP (Kumar et al. 2019, "Consistent Jumpy Predictions for Videos and Scenes", arXiv:1806.04012) as an rlk ``Model``.

Definitions (``losses.py`` has the objective). A video or scene is a set of frames ``x_i`` with
times or viewpoints ``v_i`` (``v``: ``[T, dv]``, embedded with Fourier features ``e(v)``).

  representation  r_i = f(x_i, e(v_i))        (conv encoder, ``Encoder``);   r_C = sum_{i in C} r_i
  prior           p(z | C)    = N(mu_p(r_C), diag sigma_p(r_C)^2)            (``LatentHead``)
  posterior       q(z | C, T) = N(mu_q(r_C + r_T), diag sigma_q(r_C + r_T)^2)
  renderer        p(x' | z, v') = N(g(z, e(v')), pixel_std^2 I)              (deconv, ``Renderer``)

The renderer sees only ``z`` and the query ``v'``: every target frame is rendered from the *same*
``z``, which is what makes jointly sampled frames consistent, and rendering frame ``t`` costs one
decoder pass whatever ``t`` (no rolling forward). The paper's renderer is a ConvDRAW; here it is a
one-shot convolutional decoder (the task allows either), sized for 16x16 frames on a CPU.

Training (per example, from its own key): a prefix length ``L ~ U{1..T}``, ``n_C ~ U{1..max_context}``
context frames drawn without replacement among the first ``L`` frames (fewer if ``L < n_C``), and
``num_targets`` target frames drawn without replacement among all ``T``; so contexts range from a
video's first frames (the future unknown) to frames spread over the whole video. For a scene the
views are in random order, so the prefix is a random subset.
"""

from __future__ import annotations

from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.core.errors import RlkError
from rlk.core.interfaces import Dataset, Model
from rlk.plugins.jumpy_video import losses
from rlk.plugins.jumpy_video.config import FrameModelConfig, JumpConfig
from rlk.plugins.jumpy_video.metrics import consistency_metrics


# -- networks (equinox) ------------------------------------------------------------------------
def embed_v(v: jax.Array, fourier: int) -> jax.Array:
    """``e(v) = [v, sin(2^k pi v), cos(2^k pi v)]_{k < fourier}`` on the last axis."""
    feats = [v]
    for k in range(fourier):
        feats += [jnp.sin((2.0 ** k) * jnp.pi * v), jnp.cos((2.0 ** k) * jnp.pi * v)]
    return jnp.concatenate(feats, axis=-1)


class Encoder(eqx.Module):
    """``f(x, e(v)) -> r``: two stride-2 convs, then an MLP on the features and ``e(v)``."""

    conv1: eqx.nn.Conv2d
    conv2: eqx.nn.Conv2d
    mlp: eqx.nn.MLP

    def __init__(self, c_in: int, size: int, dv: int, cfg: FrameModelConfig, key):
        k1, k2, k3 = jax.random.split(key, 3)
        ch = cfg.channels
        self.conv1 = eqx.nn.Conv2d(c_in, ch, 4, stride=2, padding=1, key=k1)
        self.conv2 = eqx.nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1, key=k2)
        self.mlp = eqx.nn.MLP(2 * ch * (size // 4) ** 2 + dv, cfg.r_dim, cfg.hidden, 1, activation=jax.nn.relu, key=k3)

    def __call__(self, x: jax.Array, ev: jax.Array) -> jax.Array:
        """``x``: ``[H, W, C]``, ``ev``: ``[dv]`` -> ``[r_dim]``."""
        h = jax.nn.relu(self.conv1(jnp.moveaxis(x, -1, 0)))
        h = jax.nn.relu(self.conv2(h))
        return self.mlp(jnp.concatenate([h.reshape(-1), ev]))


class LatentHead(eqx.Module):
    """``r -> (mean, log_std)`` of a diagonal Gaussian over ``z`` (the prior or the posterior)."""

    mlp: eqx.nn.MLP

    def __init__(self, cfg: FrameModelConfig, key):
        self.mlp = eqx.nn.MLP(cfg.r_dim, 2 * cfg.z_dim, cfg.hidden, 1, activation=jax.nn.relu, key=key)

    def __call__(self, r: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean, raw = jnp.split(self.mlp(r), 2)
        return mean, jnp.clip(raw, -6.0, 2.0)


class Renderer(eqx.Module):
    """``g(z, e(v')) -> mean image [H, W, C]``: an MLP to a ``size/4`` grid, two stride-2 deconvs.

    The mean is linear (not squashed into [0, 1]): a sigmoid under a Gaussian likelihood saturates at
    the black background of moving-shapes and training stalls there (the gradient vanishes)."""

    mlp: eqx.nn.MLP
    deconv1: eqx.nn.ConvTranspose2d
    deconv2: eqx.nn.ConvTranspose2d
    side: int = eqx.field(static=True)
    width: int = eqx.field(static=True)

    def __init__(self, c_out: int, size: int, dv: int, cfg: FrameModelConfig, key):
        k1, k2, k3 = jax.random.split(key, 3)
        ch = cfg.channels
        self.side, self.width = size // 4, 2 * ch
        self.mlp = eqx.nn.MLP(cfg.z_dim + dv, self.width * self.side ** 2, cfg.hidden, 1, activation=jax.nn.relu,
                              final_activation=jax.nn.relu, key=k1)
        self.deconv1 = eqx.nn.ConvTranspose2d(2 * ch, ch, 4, stride=2, padding=1, key=k2)
        self.deconv2 = eqx.nn.ConvTranspose2d(ch, c_out, 4, stride=2, padding=1, key=k3)

    def __call__(self, z: jax.Array, ev: jax.Array) -> jax.Array:
        h = self.mlp(jnp.concatenate([z, ev])).reshape(self.width, self.side, self.side)
        h = jax.nn.relu(self.deconv1(h))
        return jnp.moveaxis(self.deconv2(h), 0, -1) + 0.5


class JumpNetworks(eqx.Module):
    encoder: Encoder
    prior: LatentHead
    posterior: LatentHead
    renderer: Renderer


# -- the model ---------------------------------------------------------------------------------
class Jump:
    """JUMP's pure functions; ``model()`` packs them as an ``rlk.core.interfaces.Model``.

    ``params`` is the array part of a ``JumpNetworks`` (``eqx.partition``); the static part (layer
    shapes, activations) is kept here, so the Trainer, optax and orbax see a pytree of arrays.
    """

    def __init__(self, config: JumpConfig, shape: tuple[int, ...], dv: int, dataset: Optional[Dataset] = None):
        if len(shape) != 4:
            raise RlkError(f"jumpy_video needs examples of frames [T, H, W, C] (the dataset's x has shape {shape})")
        self.c, self.shape, self.dataset = config, tuple(shape), dataset
        self.T, H, W, self.C = self.shape
        if H != W or H % 4:
            raise RlkError(f"jumpy_video needs square frames with a side divisible by 4 (got {H}x{W})")
        self.size, self.dv = H, dv
        self.dv_embed = dv * (1 + 2 * config.fourier)
        # the static part (layer shapes, activations) without computing any weights
        shapes = eqx.filter_eval_shape(self._build, jax.random.PRNGKey(0))
        _, self._static = eqx.partition(shapes, lambda a: isinstance(a, (jax.Array, jax.ShapeDtypeStruct)))

    def _build(self, key) -> JumpNetworks:
        c, ks = self.c, jax.random.split(key, 4)
        return JumpNetworks(Encoder(self.C, self.size, self.dv_embed, c, ks[0]), LatentHead(c, ks[1]),
                            LatentHead(c, ks[2]), Renderer(self.C, self.size, self.dv_embed, c, ks[3]))

    def init(self, key: jax.Array):
        return eqx.filter(self._build(key), eqx.is_array)

    def nets(self, params) -> JumpNetworks:
        return eqx.combine(params, self._static)

    # -- pieces (one example) -----------------------------------------------------------------
    def default_v(self) -> jnp.ndarray:
        return jnp.linspace(0.0, 1.0, self.T)[:, None]

    def represent(self, params, x: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
        """``r_C = sum_i mask_i f(x_i, e(v_i))``: ``x [N, H, W, C]``, ``v [N, dv]``, ``mask [N]`` -> ``[r_dim]``.

        A sum over the set: the order of the frames does not matter, and masked frames add nothing.
        """
        nets = self.nets(params)
        r = jax.vmap(nets.encoder)(x, embed_v(v, self.c.fourier))
        return jnp.sum(jnp.where(mask[:, None], r, 0.0), axis=0)

    def prior(self, params, r_c: jax.Array):
        return self.nets(params).prior(r_c)

    def posterior(self, params, r_c: jax.Array, r_t: jax.Array):
        return self.nets(params).posterior(r_c + r_t)

    def render(self, params, z: jax.Array, v: jax.Array) -> jax.Array:
        """Mean images ``[N, H, W, C]`` of targets ``v [N, dv]``, all from one ``z [Z]``."""
        ren = self.nets(params).renderer
        return jax.vmap(ren, in_axes=(None, 0))(z, embed_v(v, self.c.fourier))

    def render_each(self, params, z: jax.Array, v: jax.Array) -> jax.Array:
        """Mean images ``[N, H, W, C]``, target ``n`` from its own ``z[n]`` (``z [N, Z]``)."""
        return jax.vmap(self.nets(params).renderer)(z, embed_v(v, self.c.fourier))

    # -- training -----------------------------------------------------------------------------
    def draw_sets(self, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Context indices ``[K]`` with their mask ``[K]`` and target indices ``[N_T]`` (module docstring)."""
        c, T = self.c, self.T
        K, NT = min(c.max_context, T), min(c.num_targets, T)
        k_len, k_n, k_c, k_t = jax.random.split(key, 4)
        prefix = jax.random.randint(k_len, (), 1, T + 1)
        n_c = jax.random.randint(k_n, (), 1, K + 1)
        scores = jax.random.uniform(k_c, (T,)) + (jnp.arange(T) >= prefix)  # prefix frames first, in random order
        ctx = jnp.argsort(scores)[:K]
        mask = (jnp.arange(K) < n_c) & (ctx < prefix)
        tgt = jax.random.permutation(k_t, T)[:NT]
        return ctx, mask, tgt

    def example_terms(self, params, x, v, ctx, mask, tgt, eps, seen=None) -> dict[str, jax.Array]:
        """ELBO terms of one example for given sets and noise ``eps [Z]`` (``z = mu_q + sigma_q eps``).

        The posterior reads the targets ``seen`` (default: all of ``tgt``); any ``q`` gives a valid bound,
        and one that reads as many frames as in training (``num_targets``) gives a tighter one."""
        seen = tgt if seen is None else seen
        r_c = self.represent(params, x[ctx], v[ctx], mask)
        r_t = self.represent(params, x[seen], v[seen], jnp.ones(seen.shape, bool))
        mp, lp = self.prior(params, r_c)
        mq, lq = self.posterior(params, r_c, r_t)
        z = mq + jnp.exp(lq) * eps
        means = self.render(params, z, v[tgt])
        ll = losses.gaussian_pixel_log_likelihood(x[tgt], means, self.c.pixel_std)
        return {"log_likelihood_t": ll, "kl": losses.diagonal_gaussian_kl(mq, lq, mp, lp),
                "mse": jnp.mean((means - x[tgt]) ** 2)}

    def _v(self, batch) -> jax.Array:
        if "v" in batch:
            return batch["v"]
        return jnp.broadcast_to(self.default_v(), (batch["x"].shape[0], self.T, 1))

    def loss(self, params, batch, keys):
        x, v = batch["x"], self._v(batch)

        def one(x1, v1, key):
            k_sets, k_eps = jax.random.split(key)
            ctx, mask, tgt = self.draw_sets(k_sets)
            t = self.example_terms(params, x1, v1, ctx, mask, tgt, jax.random.normal(k_eps, (self.c.z_dim,)))
            return t, jnp.sum(mask)

        t, n_c = jax.vmap(one)(x, v, keys)
        neg_elbo = losses.negative_elbo(t["log_likelihood_t"], t["kl"], self.c.beta)
        nt = t["log_likelihood_t"].shape[1]
        metrics = {"neg_elbo": jnp.mean(losses.negative_elbo(t["log_likelihood_t"], t["kl"])),
                   "nll_per_frame": -jnp.mean(t["log_likelihood_t"]), "kl": jnp.mean(t["kl"]),
                   "mse": jnp.mean(t["mse"]), "context_frames": jnp.mean(n_c.astype(jnp.float32))}
        return jnp.mean(neg_elbo) / nt, metrics

    # -- jumpy sampling -----------------------------------------------------------------------
    def times(self, ts: list[int]) -> list[int]:
        return [min(t, self.T - 1) for t in ts]

    def sample_frames(self, params, ctx_x, ctx_v, ctx_mask, target_v, key, independent: bool = False) -> jax.Array:
        """Jumpy samples of the targets ``target_v [N, dv]`` given a context set: ``[N, H, W, C]``.

        ``z ~ p(z | C)`` once, then each target is rendered from it (one decoder pass per target,
        whatever its time); ``independent=True`` draws a fresh ``z`` per target instead (the
        inconsistent control of the consistency metric).
        """
        mp, lp = self.prior(params, self.represent(params, ctx_x, ctx_v, ctx_mask))
        if independent:
            z = mp + jnp.exp(lp) * jax.random.normal(key, (target_v.shape[0], self.c.z_dim))
            return self.render_each(params, z, target_v)
        return self.render(params, mp + jnp.exp(lp) * jax.random.normal(key, mp.shape), target_v)

    def sample_batch(self, params, x, v, n_context: int, times: list[int], key, independent: bool = False):
        """Per example of ``x [B, T, ...]``: samples of frames ``times`` given its first ``n_context`` frames."""
        ctx = jnp.arange(min(n_context, self.T))
        tgt = jnp.asarray(self.times(times))
        keys = jax.random.split(key, x.shape[0])
        return jax.vmap(lambda x1, v1, k: self.sample_frames(params, x1[ctx], v1[ctx], jnp.ones(ctx.shape, bool),
                                                             v1[tgt], k, independent))(x, v, keys)

    def evaluate(self, params, batch, key) -> dict[str, jax.Array]:
        """The ELBO with the first ``sample_context`` frames as context and ``sample_times`` as targets,
        per target frame; the same with every later frame as a target (``future_neg_elbo_per_frame``,
        a bound on ``-log p(x_{n:T} | x_{<n}) / (T - n)`` that the autoregressive baseline also reports; the
        posterior reads the ``sample_times`` frames only: ``r_T`` of all 16 is a sum far outside training's
        range of at most ``num_targets`` frames, and its bound is looser); the MSE of jumpy prior samples;
        on moving-shapes, the consistency metrics."""
        c, x, v = self.c, batch["x"], self._v(batch)
        ctx = jnp.arange(min(c.sample_context, self.T))
        tgt = jnp.asarray(self.times(c.sample_times))
        mask = jnp.ones(ctx.shape, bool)
        eps = jax.random.normal(jax.random.fold_in(key, 0), (x.shape[0], c.z_dim))
        t = jax.vmap(lambda x1, v1, e: self.example_terms(params, x1, v1, ctx, mask, tgt, e))(x, v, eps)
        nt = len(c.sample_times)
        out = {"neg_elbo_per_frame": jnp.mean(losses.negative_elbo(t["log_likelihood_t"], t["kl"])) / nt,
               "nll_per_frame": -jnp.mean(t["log_likelihood_t"]), "kl": jnp.mean(t["kl"]),
               "posterior_mse": jnp.mean(t["mse"])}
        future = jnp.arange(len(ctx), self.T)  # every frame after the context: comparable with the AR baseline
        eps_f = jax.random.normal(jax.random.fold_in(key, 3), (x.shape[0], c.z_dim))
        tf = jax.vmap(lambda x1, v1, e: self.example_terms(params, x1, v1, ctx, mask, future, e, tgt))(x, v, eps_f)
        out["future_neg_elbo_per_frame"] = jnp.mean(losses.negative_elbo(tf["log_likelihood_t"], tf["kl"])) / len(future)
        prior_samples = self.sample_batch(params, x, v, c.sample_context, c.sample_times, jax.random.fold_in(key, 1))
        out["prior_sample_mse"] = jnp.mean((prior_samples - x[:, tgt]) ** 2)
        if self.dataset is not None and getattr(self.dataset, "name", "") == "moving-shapes":
            out.update(self.consistency(params, x, v, jax.random.fold_in(key, 2)))
        return out

    def consistency(self, params, x, v, key) -> dict[str, jax.Array]:
        """Consistency metrics (``metrics.consistency_metrics``) of ``consistency_draws`` sample sets per
        video of frames ``consistency_times``, drawn with one ``z`` vs with independent ``z``."""
        c = self.c
        n_ctx = min(c.sample_context, self.T)
        ref = x[:, n_ctx - 1]  # the last context frame: its centroid is the reference of the branch
        out = {}
        for name, indep in (("one_z", False), ("independent_z", True)):
            draws = jnp.stack([self.sample_batch(params, x, v, n_ctx, c.consistency_times,
                                                 jax.random.fold_in(key, i), independent=indep)
                               for i in range(c.consistency_draws)], 1)  # [B, D, N, H, W, C]
            m = consistency_metrics(draws, ref)
            out.update({f"{k}_{name}": val for k, val in m.items()})
        truth = x[:, jnp.asarray(self.times(c.consistency_times))][:, None]
        out.update({f"{k}_data": val for k, val in consistency_metrics(truth, ref).items()})
        return out

    def sample(self, params, batch, key) -> jax.Array:
        """The ``rlk sample`` grid ``[R, C, H, W(, 3)]``: per example a row of the truth (context
        frames, then the true target frames) and ``sample_rows`` rows of jumpy samples (the context,
        then the targets rendered from one ``z ~ p(z | C)`` per row)."""
        c = self.c
        x, v = batch["x"][: c.sample_examples], self._v(batch)[: c.sample_examples]
        n_ctx = min(c.sample_context, self.T)
        tgt = jnp.asarray(self.times(c.sample_times))
        rows = []
        for b in range(x.shape[0]):
            ctx_frames = x[b, :n_ctx]
            rows.append(jnp.concatenate([ctx_frames, x[b, tgt]]))
            for r in range(c.sample_rows):
                s = self.sample_frames(params, x[b, :n_ctx], v[b, :n_ctx], jnp.ones(n_ctx, bool), v[b, tgt],
                                       jax.random.fold_in(key, b * c.sample_rows + r))
                rows.append(jnp.concatenate([ctx_frames, s]))
        grid = jnp.clip(jnp.stack(rows), 0.0, 1.0)
        return grid[..., 0] if self.C == 1 else grid

    def model(self) -> Model:
        return Model(init=self.init, loss=self.loss, evaluate=self.evaluate, sample=self.sample)


def make_jump(config: Optional[JumpConfig], dataset: Dataset) -> Model:
    """JUMP: jumpy, consistent sampling of frames at any time or viewpoint (Kumar et al. 2019)"""
    x = dataset.arrays("train")
    dv = x["v"].shape[-1] if "v" in x else 1
    return Jump(config or JumpConfig(), dataset.spec.shape, dv, dataset).model()
