"""Joint and separate coding over the bandwidth-limited channel, as an rlk ``Model``.

Definitions (README.md has them with the paper's notation). ``x``: an image flattened to ``D``
pixels in [0, 1]; ``K``: code length; ``k ~ p(k)``: the receiver's bandwidth.

Joint system (encoder and decoder trained through the channel):
  transmitter  mu(x) in R^K (power-normalised when snr_db is set)
  channel      y = mu(x) + s(x) * eps, eps ~ N(0, I): ``q(y | x)``; s = channel noise std when
               snr_db is set, else a learned posterior std; the receiver gets y_{<k}
  prior        p(y) = prod_i N(y_i; MADE(y_{<i})) fills the missing symbols y_{>=k} ~ p(. | y_{<k})
               (fill='zero': they stay 0, the ablation without a prior for the missing information)
  training     channel='hard': mask 1[i < k]; channel='relaxed': real k' = k + U(-1/2, 1/2) and mask
               sigmoid((k' - i - 1/2) / T), y_hat_i = y_i m_i + (1 - m_i) fill_i; the receiver (evaluation)
               always gets the hard channel
  decoder      p(x | y_hat, u) Bernoulli, auxiliary latent u ~ N(0, I) (posterior r(u | x, y_hat))
  loss         -log p(x | y_hat, u) + beta * [log q(y | x) - log p(y)] + aux_beta * KL(r(u | x, y_hat) || N(0, I))
Separate system: the same source code trained without the channel (k = K, no noise), plus a
channel code (encoder c(mu), decoder d(y * m, m)) trained on the frozen source code's mean to
minimise ||d(channel(c(mu))) - mu||^2. The receiver decodes d(...) with the source decoder.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.interfaces import Dataset, Model
from rlk.plugins.bwlc_codec import channel as ch
from rlk.plugins.bwlc_codec import networks as nn
from rlk.plugins.bwlc_codec.config import BWLCConfig
from rlk.plugins.bwlc_codec.metrics import FeatureClassifier, frechet_distance


class BWLCCodec:
    """The model's pure functions; ``model()`` packs them as an ``rlk.core.interfaces.Model``."""

    def __init__(self, config: BWLCConfig, dataset: Optional[Dataset] = None, shape: Optional[tuple] = None):
        self.c = config
        self.dataset = dataset
        self.shape = tuple(shape if shape is not None else dataset.spec.shape)
        self.D = int(np.prod(self.shape))
        self.sigma = ch.noise_std(config.snr_db)
        self._mask_input = config.system == "joint" and config.decoder_sees_mask

    # -- parameters ---------------------------------------------------------------------
    def init(self, key: jax.Array) -> dict[str, Any]:
        c, D, K, H, A = self.c, self.D, self.c.code_dim, self.c.hidden, self.c.aux_dim
        ks = jax.random.split(key, 6)
        params = {
            "encoder": nn.mlp_init(ks[0], [D, H, H, 2 * K]),
            "prior": nn.made_init(ks[1], K, c.prior_hidden),
            "decoder": nn.mlp_init(ks[2], [K + A + (K if self._mask_input else 0), H, H, D]),
        }
        if A:
            params["aux_posterior"] = nn.mlp_init(ks[3], [D + K, H, 2 * A])
        if c.system == "separate":
            params["channel_encoder"] = nn.mlp_init(ks[4], [K, H, K])
            params["channel_decoder"] = nn.mlp_init(ks[5], [2 * K, H, K])
        return params

    # -- pieces -------------------------------------------------------------------------
    def encode(self, params, x: jax.Array, through_channel: bool) -> tuple[jax.Array, jax.Array]:
        """``(mean, log_std)`` of ``q(y | x)``; a noisy channel fixes the std to the noise's."""
        out = nn.mlp(params["encoder"], x.reshape(x.shape[0], -1))
        mean, raw = jnp.split(out, 2, axis=-1)
        if through_channel and self.sigma > 0:
            return ch.power_normalise(mean), jnp.full_like(mean, np.log(self.sigma))
        return mean, jnp.clip(raw, -7.0, 2.0)

    def decode_logits(self, params, y_hat: jax.Array, u: jax.Array, mask: Optional[jax.Array] = None) -> jax.Array:
        parts = [y_hat] + ([u] if self.c.aux_dim else []) + ([mask] if self._mask_input else [])
        return nn.mlp(params["decoder"], jnp.concatenate(parts, axis=-1))

    def log_likelihood(self, x_flat: jax.Array, logits: jax.Array) -> jax.Array:
        """``log p(x | y_hat, u)`` per example; the pixel mean is ``sigmoid(logits)`` for both likelihoods."""
        if self.c.likelihood == "bernoulli":
            return jnp.sum(nn.bernoulli_log_prob(x_flat, logits), -1)
        log_std = jnp.full_like(x_flat, np.log(self.c.obs_std))
        return jnp.sum(nn.log_normal(x_flat, jax.nn.sigmoid(logits), log_std), -1)

    def channel_code(self, params, source: jax.Array, k: jax.Array, noise: jax.Array) -> jax.Array:
        """Separate system: channel-encode the source code, send it, channel-decode an estimate of it."""
        sent = nn.mlp(params["channel_encoder"], source)
        if self.sigma > 0:
            sent = ch.power_normalise(sent)
        y, m = ch.bwlc(sent, k, noise, self.sigma)
        return nn.mlp(params["channel_decoder"], jnp.concatenate([y, m], axis=-1))

    def training_mask(self, k: jax.Array) -> jax.Array:
        """``[B, K]`` mask of the training channel: hard ``1[i < k]``, or relaxed (``channel='relaxed'``)."""
        if self.c.channel == "relaxed":
            return ch.relaxed_bandwidth_mask(k, self.c.code_dim, self.c.temperature)
        return ch.bandwidth_mask(k, self.c.code_dim)

    def fill_missing(self, params, received: jax.Array, m: jax.Array, noise: jax.Array) -> jax.Array:
        """``y_hat``: the received symbols with the missing ones sampled from the prior (``fill='prior'``)
        or left at zero (``fill='zero'``, the ablation without a prior for the missing information)."""
        if self.c.fill == "zero":
            return received
        return nn.made_fill(params["prior"], received, m, noise)

    def _aux(self, params, x_flat, y_hat, noise_u):
        """``u ~ r(u | x, y_hat)`` and ``KL(r || N(0, I))`` per example."""
        if not self.c.aux_dim:
            return jnp.zeros((x_flat.shape[0], 0)), jnp.zeros(x_flat.shape[0])
        m, log_s = jnp.split(nn.mlp(params["aux_posterior"], jnp.concatenate([x_flat, y_hat], -1)), 2, -1)
        log_s = jnp.clip(log_s, -7.0, 2.0)
        kl = 0.5 * jnp.sum(m ** 2 + jnp.exp(2 * log_s) - 1.0 - 2 * log_s, axis=-1)
        return m + jnp.exp(log_s) * noise_u, kl

    # -- the ELBO -----------------------------------------------------------------------
    def terms(self, params, x: jax.Array, k: jax.Array, eps: jax.Array, fill_noise: jax.Array, noise_u: jax.Array):
        """Per-example terms of the negative ELBO for given draws (all ``[B]``).

        ``eps`` (``[B, K]``) draws ``y ~ q(y | x)``, ``fill_noise`` the prior's fill of ``y_{>=k}``,
        ``noise_u`` (``[B, A]``) the auxiliary latent.
        """
        c = self.c
        x_flat = x.reshape(x.shape[0], -1)
        joint = c.system == "joint"
        mean, log_std = self.encode(params, x, through_channel=joint)
        y = mean + jnp.exp(log_std) * eps
        rate = jnp.sum(nn.log_normal(y, mean, log_std), -1) - nn.made_log_prob(params["prior"], y)
        if joint:
            m = self.training_mask(k)
            y_hat = self.fill_missing(params, y * m, m, fill_noise)
        else:  # the source code never sees the channel
            y_hat, m = y, None
        u, kl_u = self._aux(params, x_flat, y_hat, noise_u)
        rec = -self.log_likelihood(x_flat, self.decode_logits(params, y_hat, u, m))
        out = {"rec": rec, "rate": rate, "kl_aux": kl_u, "neg_elbo": rec + rate + kl_u}
        if not joint:
            est = self.channel_code(params, jax.lax.stop_gradient(mean), k, fill_noise)
            out["channel_mse"] = jnp.mean((est - jax.lax.stop_gradient(mean)) ** 2, -1)
        return out

    def _draws(self, keys: jax.Array):
        """Per-example draws from per-example keys: ``(k, eps, fill_noise, noise_u)``."""
        c = self.c

        def one(key):
            kk, k1, k2, k3 = jax.random.split(key, 4)
            k = ch.sample_bandwidth(kk, 1, c.code_dim, c.k_min, c.k_dist)[0]
            if c.channel == "relaxed":  # a real bandwidth that rounds to k
                k = k + jax.random.uniform(jax.random.fold_in(kk, 1), (), minval=-0.5, maxval=0.5)
            return (k, jax.random.normal(k1, (c.code_dim,)), jax.random.normal(k2, (c.code_dim,)),
                    jax.random.normal(k3, (c.aux_dim,)))

        return jax.vmap(one)(keys)

    def loss(self, params, batch, keys):
        k, eps, fill_noise, noise_u = self._draws(keys)
        t = self.terms(params, batch["x"], k, eps, fill_noise, noise_u)
        total = t["rec"] + self.c.beta * t["rate"] + self.c.aux_beta * t["kl_aux"]
        if "channel_mse" in t:
            total = total + self.c.channel_weight * t["channel_mse"]
        metrics = {name: jnp.mean(v) for name, v in t.items()}
        metrics["k_mean"] = jnp.mean(k.astype(jnp.float32))
        return jnp.mean(total), metrics

    # -- the receiver ---------------------------------------------------------------------
    def reconstruct(self, params, x: jax.Array, k: int, key: Optional[jax.Array] = None, logits: bool = False) -> jax.Array:
        """What the receiver decodes at bandwidth ``k``: pixel means ``[B, D]``.

        ``key=None``: the deterministic receiver (prior fill by its conditional means, ``u = 0``),
        used for distortion; with a key: channel noise, a sampled fill and ``u ~ N(0, I)``.
        """
        c, B = self.c, x.shape[0]
        keys = jax.random.split(key, 3) if key is not None else None
        draw = (lambda i, n: jax.random.normal(keys[i], (B, n))) if key is not None else (lambda i, n: jnp.zeros((B, n)))
        ks = jnp.full((B,), k, jnp.int32)
        chan_noise = draw(0, c.code_dim) if self.sigma > 0 else jnp.zeros((B, c.code_dim))
        if c.system == "joint":
            mean, _ = self.encode(params, x, through_channel=True)
            y, m = ch.bwlc(mean, ks, chan_noise, self.sigma)
            u = draw(2, c.aux_dim)
            if key is not None:
                out = self.decode_logits(params, self.fill_missing(params, y, m, draw(1, c.code_dim)), u, m)
                return out if logits else jax.nn.sigmoid(out)
            # distortion: the mean of the decoder over prior fills of the missing symbols (fixed draws)
            fills = jax.random.normal(jax.random.PRNGKey(0), (c.eval_fill_samples, B, c.code_dim))
            if k >= c.code_dim or c.fill == "zero":  # nothing to sample
                fills = fills[:1]
            outs = jax.vmap(lambda n: self.decode_logits(params, self.fill_missing(params, y, m, n), u, m))(fills)
            if logits:  # the likelihood of the averaged pixel means
                p = jnp.clip(jnp.mean(jax.nn.sigmoid(outs), 0), 1e-6, 1 - 1e-6)
                return jnp.log(p) - jnp.log1p(-p)
            return jnp.mean(jax.nn.sigmoid(outs), 0)
        mean, _ = self.encode(params, x, through_channel=False)
        y_hat = self.channel_code(params, mean, ks, chan_noise)
        out = self.decode_logits(params, y_hat, draw(2, c.aux_dim))
        return out if logits else jax.nn.sigmoid(out)

    def nll(self, params, x: jax.Array, k: int) -> jax.Array:
        """``-log p(x | y_hat_k)`` in nats per image, with the deterministic receiver (mean over ``[B]``)."""
        x_flat = x.reshape(x.shape[0], -1)
        return -jnp.mean(self.log_likelihood(x_flat, self.reconstruct(params, x, k, logits=True)))

    # -- evaluation ---------------------------------------------------------------------
    @functools.cached_property
    def classifier(self) -> FeatureClassifier:
        return FeatureClassifier.fit(self.dataset, self.c.classifier_hidden, self.c.classifier_steps)

    def evaluate(self, params, batch, key) -> dict[str, jax.Array]:
        """Per bandwidth k: distortion (MSE per pixel), NLL (nats/image), Frechet distance of classifier features;
        and the test accuracy of that classifier."""
        x = batch["x"]
        x_flat = x.reshape(x.shape[0], -1)
        clf = self.classifier
        real = clf.features(x_flat)
        out = {"baseline_mse_mean_image": jnp.mean((x_flat - jnp.mean(x_flat, 0)) ** 2),
               "classifier_test_accuracy": jnp.asarray(clf.test_accuracy)}
        for i, k in enumerate(self.c.eval_ks):
            rec = self.reconstruct(params, x, k)
            out[f"distortion_mse_k{k}"] = jnp.mean((rec - x_flat) ** 2)
            out[f"nll_k{k}"] = self.nll(params, x, k)
            sampled = self.reconstruct(params, x, k, jax.random.fold_in(key, i))
            out[f"frechet_k{k}"] = frechet_distance(real, clf.features(sampled))
        return out

    def sample(self, params, batch, key) -> jax.Array:
        """Rows: the originals, then the receiver's samples at each of ``eval_ks``: ``[1 + len(ks), N, *shape]``."""
        x = batch["x"]
        rows = [x.reshape(x.shape[0], *self.shape)]
        for i, k in enumerate(self.c.eval_ks):
            rows.append(self.reconstruct(params, x, k, jax.random.fold_in(key, i)).reshape(x.shape[0], *self.shape))
        return jnp.stack(rows)

    def model(self) -> Model:
        return Model(init=self.init, loss=self.loss, evaluate=self.evaluate, sample=self.sample)


def make_bwlc_codec(config: Optional[BWLCConfig], dataset: Dataset) -> Model:
    """Joint (or separate) source-channel coding over the bandwidth-limited channel (Ullrich et al. 2020)"""
    return BWLCCodec(config or BWLCConfig(), dataset).model()
