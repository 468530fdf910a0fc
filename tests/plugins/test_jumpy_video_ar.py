"""JUMP's autoregressive baseline: its per-frame ELBO on a hand-made video against NumPy (the recurrence,
the prior and posterior of each frame's own latent, the KL and pixel terms), the causality of its past
summary, a rollout whose length grows with the target frame, and a run through the CLI."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.plugins.jumpy_video.autoregressive import Autoregressive
from rlk.plugins.jumpy_video.config import AutoregressiveConfig

TINY = dict(r_dim=8, z_dim=3, channels=4, hidden=16, pixel_std=0.3)
T = 6


@pytest.fixture(scope="module")
def tiny():
    ar = Autoregressive(AutoregressiveConfig(**TINY), (T, 8, 8, 1), 1)
    return ar, jax.jit(ar.init)(jax.random.PRNGKey(0))


def _video() -> np.ndarray:
    """A 2x2 white square moving one pixel right per frame on black: ``[T, 8, 8, 1]``."""
    x = np.zeros((T, 8, 8, 1), np.float32)
    for t in range(T):
        x[t, 3:5, 1 + t:3 + t] = 1.0
    return x


def _np_gru(gru, r, h):
    w_ih, w_hh, b, b_n = (np.asarray(a, np.float64) for a in (gru.weight_ih, gru.weight_hh, gru.bias, gru.bias_n))
    i_r, i_z, i_n = np.split(w_ih @ r + b, 3)
    h_r, h_z, h_n = np.split(w_hh @ h, 3)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    reset, update = sig(i_r + h_r), sig(i_z + h_z)
    new = np.tanh(i_n + reset * (h_n + b_n))
    return new + update * (h - new)


def _np_head(head, r):
    (l1, l2) = head.mlp.layers
    a = np.maximum(np.asarray(l1.weight, np.float64) @ r + np.asarray(l1.bias, np.float64), 0)
    out = np.asarray(l2.weight, np.float64) @ a + np.asarray(l2.bias, np.float64)
    mean, raw = np.split(out, 2)
    return mean, np.clip(raw, -6, 2)


def test_per_frame_elbo_of_a_hand_made_video_equals_numpy(tiny):
    """h_t from the frames before t only (h_0 = 0), prior p(z_t | h_t), posterior q(z_t | h_t + r_t), and
    the ELBO sum_t log N(x_t; g(z_t, [e(v_t), h_t]), 0.3^2) - KL_t, recomputed in float64 NumPy from the
    encoder's r_t and the renderer's mean images."""
    ar, params = tiny
    nets = ar.nets(params)
    x, v = jnp.asarray(_video()), jnp.linspace(0, 1, T)[:, None]
    eps = jnp.asarray(np.random.default_rng(0).standard_normal((T, 3)).astype(np.float32))
    terms = jax.jit(ar.frame_terms)(params, x, v, eps)
    r = np.asarray(jax.jit(ar.encode)(params, x, v), np.float64)

    h, hs = np.zeros(8), []
    for t in range(T):
        hs.append(h)
        h = _np_gru(nets.gru, r[t], h)
    hs = np.stack(hs)
    lls, kls = [], []
    for t in range(T):
        mp, lp = _np_head(nets.prior, hs[t])
        mq, lq = _np_head(nets.posterior, hs[t] + r[t])
        z = mq + np.exp(lq) * np.asarray(eps[t], np.float64)
        mean = np.asarray(ar.render(params, jnp.asarray(z[None], jnp.float32), v[t:t + 1],
                                    jnp.asarray(hs[t:t + 1], jnp.float32))[0], np.float64)
        lls.append(np.sum(-0.5 * ((_video()[t] - mean) / 0.3) ** 2 - np.log(0.3) - 0.5 * np.log(2 * np.pi)))
        kls.append(np.sum(lp - lq + (np.exp(2 * lq) + (mq - mp) ** 2) / (2 * np.exp(2 * lp)) - 0.5))
    np.testing.assert_allclose(np.asarray(terms["log_likelihood_t"]), lls, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(terms["kl_t"]), kls, rtol=1e-4, atol=1e-6)
    assert min(kls) > 0 and len(set(np.round(kls, 6))) == T  # every frame has its own latent and prior

    loss, m = jax.jit(ar.loss)(params, {"x": x[None], "v": v[None]}, jax.random.PRNGKey(1)[None])
    assert np.isfinite(float(loss)) and float(m["kl"]) > 0


def test_past_summary_reads_only_earlier_frames(tiny):
    ar, params = tiny
    x, v = jnp.asarray(_video()), jnp.linspace(0, 1, T)[:, None]
    past = jax.jit(lambda x: ar.past(params, ar.encode(params, x, v))[0])
    h = np.asarray(past(x))
    h2 = np.asarray(past(x.at[3].set(0.5)))  # change frame 3: h_0..h_3 unchanged, h_4.. change
    np.testing.assert_allclose(h2[:4], h[:4], rtol=1e-6)
    assert np.abs(h2[4:] - h[4:]).max() > 1e-4
    assert np.all(h[0] == 0)


def test_rollout_to_frame_t_takes_one_step_per_frame(tiny):
    ar, params = tiny
    x, v = jnp.asarray(_video()), jnp.linspace(0, 1, T)[:, None]

    def steps(t):
        jaxpr = jax.make_jaxpr(lambda k: ar.rollout(params, x[:2], v[:2], v[2:t + 1], k))(jax.random.PRNGKey(0))
        return [e.params["length"] for e in jaxpr.jaxpr.eqns if e.primitive.name == "scan"]

    assert steps(2) == [2, 1] and steps(5) == [2, 4]  # the context read (2 frames), then t - 1 rolled-out frames


@pytest.mark.slow
def test_train_ar_through_the_cli(cli, tmp_path):
    """rlk train --model jumpy_video_ar (a few updates, tiny): summary.json has the comparable future ELBO
    and the consistency metrics of its rollouts."""
    run = tmp_path / "run"
    cli("train", "--model", "jumpy_video_ar", "--dataset", "moving-shapes", "--steps", "2", "--run-dir", str(run),
        "-o", "dataset.num_train=16", "-o", "dataset.num_test=8", "-o", "dataset.size=8", "-o", "dataset.frames=8",
        "-o", "dataset.fork=3", "-o", "arch.batch_size=8", "-o", "arch.eval_examples=8", "-o", "log_every_steps=2",
        *[a for k, val in TINY.items() for a in ("-o", f"model.{k}={val}")], "-o", "model.sample_context=3",
        "-o", "model.sample_times=[5,7]", "-o", "model.consistency_times=[5,6,7]", "-o", "model.consistency_draws=1")
    s = json.loads((run / "summary.json").read_text())
    assert {"future_neg_elbo_per_frame", "branch_agreement_ar", "down_fraction_ar", "prior_sample_mse"} <= set(s)
    assert np.isfinite(s["future_neg_elbo_per_frame"]) and s["kl"] > 0 and 0 <= s["down_fraction_ar"] <= 1
