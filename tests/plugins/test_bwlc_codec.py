"""BWLC codec: the channel (hard and relaxed), the prior's fill, the ELBO against numpy, the classifier-feature
Frechet distance against numpy/scipy, and joint vs separate on digits."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.plugins.bwlc_codec import channel as ch
from rlk.plugins.bwlc_codec import networks as nn
from rlk.plugins.bwlc_codec.metrics import FeatureClassifier, classifier_init, frechet_distance
from rlk.plugins.bwlc_codec.model import BWLCCodec, BWLCConfig


def test_channel_keeps_exactly_the_first_k_symbols():
    code = jax.random.normal(jax.random.PRNGKey(0), (6, 8))
    k = jnp.array([0, 1, 3, 5, 8, 2])
    y, m = ch.bwlc(code, k, jnp.zeros_like(code), 0.0)
    expected = np.where(np.arange(8)[None] < np.asarray(k)[:, None], np.asarray(code), 0.0)  # independent mask
    np.testing.assert_array_equal(np.asarray(y), expected)
    np.testing.assert_array_equal(np.asarray(m).sum(1), np.asarray(k))


def test_relaxed_channel_has_gradients_and_tends_to_the_hard_mask():
    code = jax.random.normal(jax.random.PRNGKey(1), (3, 8))
    f = lambda c, kk: jnp.sum(ch.bwlc(c, None, jnp.zeros_like(c), 0.0, mask=ch.relaxed_bandwidth_mask(kk, 8, 0.5))[0] ** 2)
    g_code, g_k = jax.grad(f, argnums=(0, 1))(code, jnp.array([2.0, 4.5, 7.0]))
    assert np.all(np.abs(np.asarray(g_code)[:, :2]) > 0) and np.all(np.abs(np.asarray(g_k)) > 0)
    cold = ch.relaxed_bandwidth_mask(jnp.array([3.0]), 8, 1e-3)
    np.testing.assert_allclose(np.asarray(cold), np.asarray(ch.bandwidth_mask(jnp.array([3]), 8)), atol=1e-6)


def test_training_through_the_relaxed_channel_tends_to_the_hard_channel():
    """The whole negative ELBO with the relaxed channel at temperature -> 0 and real k equals the hard
    channel's at k rounded to the nearest integer (same parameters, same draws)."""
    shape, K = (2, 3), 5
    hard = BWLCCodec(BWLCConfig(code_dim=K, hidden=8, prior_hidden=6, eval_ks=[1]), shape=shape)
    params = hard.init(jax.random.PRNGKey(7))
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.uniform(size=(5, *shape)), jnp.float32)
    eps, fill, nu = (jnp.asarray(rng.standard_normal(s), jnp.float32) for s in ((5, K), (5, K), (5, 4)))
    k_real = np.array([0.7, 1.2, 2.9, 3.6, 4.8])
    ref = jax.jit(hard.terms)(params, x, jnp.asarray(np.rint(k_real).astype(np.int32)), eps, fill, nu)
    for temperature, close in ((1e-4, True), (0.3, False)):
        relaxed = BWLCCodec(BWLCConfig(code_dim=K, hidden=8, prior_hidden=6, eval_ks=[1], channel="relaxed",
                                       temperature=temperature), shape=shape)
        got = jax.jit(relaxed.terms)(params, x, jnp.asarray(k_real, jnp.float32), eps, fill, nu)
        same = np.allclose(np.asarray(got["rec"]), np.asarray(ref["rec"]), rtol=1e-5, atol=1e-4)
        assert same == close, (temperature, got["rec"], ref["rec"])
    np.testing.assert_array_equal(np.asarray(got["rate"]), np.asarray(ref["rate"]))  # the rate never sees the channel


def test_relaxed_training_draws_real_bandwidths_that_round_to_p_k():
    codec = BWLCCodec(BWLCConfig(code_dim=6, k_min=2, channel="relaxed", eval_ks=[2]), shape=(2, 2))
    k = np.asarray(jax.jit(codec._draws)(jax.random.split(jax.random.PRNGKey(0), 6000))[0])
    assert k.dtype == np.float32 and np.all(np.abs(k - np.rint(k)) <= 0.5)
    counts = np.bincount(np.rint(k).astype(int), minlength=7)[2:]
    assert counts.min() > 1080 and counts.max() < 1320  # uniform on {2..6}: 1,200 each (sd about 31)


def _np_features(params, x):
    """The classifier's features with explicit loops: 3x3 stride-2 SAME convolutions (rows of the weight
    matrix ordered channel, kernel row, kernel column), then the dense layer."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}

    def conv(img, w, b):  # img [H, W, C]
        H, W, C = img.shape
        pad = np.zeros((H + 2, W + 2, C))  # SAME for 3x3 stride 2: pad (H % 2 == 0 ? 0 : 1) before, 1 after
        top = 0 if H % 2 == 0 else 1
        left = 0 if W % 2 == 0 else 1
        pad[top:top + H, left:left + W] = img
        out = np.zeros(((H + 1) // 2, (W + 1) // 2, w.shape[1]))
        for r in range(out.shape[0]):
            for c in range(out.shape[1]):
                patch = pad[2 * r: 2 * r + 3, 2 * c: 2 * c + 3]  # [3, 3, C]
                out[r, c] = np.maximum(patch.transpose(2, 0, 1).reshape(-1) @ w + b, 0)
        return out

    feats = []
    for img in x:
        h = conv(conv(img[:, :, None], p["w1"], p["b1"]), p["w2"], p["b2"])
        feats.append(np.maximum(h.reshape(-1) @ p["w3"] + p["b3"], 0))
    return np.array(feats)


def test_frechet_distance_of_classifier_features_equals_numpy_and_scipy():
    """A hand-made case: a classifier with fixed random weights on 8x8 images of bright squares vs
    bright bars; features by explicit loops, the distance with scipy's matrix square root."""
    import scipy.linalg

    params = classifier_init(jax.random.PRNGKey(3), (8, 8), width=6, classes=3)
    clf = FeatureClassifier(params, (8, 8), test_accuracy=float("nan"))
    rng = np.random.default_rng(2)
    squares, bars = np.zeros((40, 8, 8)), np.zeros((40, 8, 8))
    for i in range(40):
        r, c = rng.integers(0, 5, 2)
        squares[i, r:r + 3, c:c + 3] = rng.uniform(0.5, 1.0)
        bars[i, rng.integers(0, 8), :] = rng.uniform(0.5, 1.0)
    f1, f2 = _np_features(params, squares), _np_features(params, bars)
    np.testing.assert_allclose(np.asarray(clf.features(jnp.asarray(squares.reshape(40, -1), jnp.float32))), f1,
                               rtol=1e-4, atol=1e-5)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    ref = np.sum((f1.mean(0) - f2.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    got = frechet_distance(clf.features(jnp.asarray(squares.reshape(40, -1), jnp.float32)),
                           clf.features(jnp.asarray(bars.reshape(40, -1), jnp.float32)))
    assert ref > 0.05  # the two sets differ: a case that can fail
    np.testing.assert_allclose(float(got), ref, rtol=1e-3)


def test_feature_classifier_is_accurate_on_digits():
    from rlk.plugins.datasets.sources import make_digits

    assert FeatureClassifier.fit(make_digits(), width=32, steps=250).test_accuracy > 0.93


@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_awgn_power_constraint_and_snr(snr_db):
    code = ch.power_normalise(3.0 * jax.random.normal(jax.random.PRNGKey(2), (4000, 16)) + 1.0)
    np.testing.assert_allclose(np.mean(np.asarray(code) ** 2, axis=1), 1.0, rtol=1e-5)  # power 1 per symbol
    sigma = ch.noise_std(snr_db)
    y, _ = ch.bwlc(code, jnp.full((4000,), 16), jax.random.normal(jax.random.PRNGKey(3), code.shape), sigma)
    noise_power = float(np.mean((np.asarray(y) - np.asarray(code)) ** 2))
    assert 10 * np.log10(1.0 / noise_power) == pytest.approx(snr_db, abs=0.1)


def test_prior_is_autoregressive_and_fills_only_the_missing_symbols():
    params = nn.made_init(jax.random.PRNGKey(4), 6, 24)
    params = jax.tree.map(lambda p: p * 50, params)  # make the conditionals depend visibly on the inputs
    y = jax.random.normal(jax.random.PRNGKey(5), (1, 6))
    jac = np.asarray(jax.jacobian(lambda v: nn.made(params, v[None])[0][0])(y[0]))
    assert np.allclose(np.triu(jac), 0.0) and np.abs(np.tril(jac, -1)).sum() > 0  # mean_i depends on y_<i only
    k = jnp.array([2])
    m = ch.bandwidth_mask(k, 6)
    filled = nn.made_fill(params, y * m, m, jnp.zeros((1, 6)))
    np.testing.assert_array_equal(np.asarray(filled)[0, :2], np.asarray(y)[0, :2])
    # with zero noise each missing symbol is its conditional mean given the symbols before it
    mean, _ = nn.made(params, filled)
    np.testing.assert_allclose(np.asarray(filled)[0, 2:], np.asarray(mean)[0, 2:], rtol=1e-5, atol=1e-6)
    noisy = nn.made_fill(params, y * m, m, jnp.ones((1, 6)))
    assert np.all(np.asarray(noisy)[0, 2:] != np.asarray(filled)[0, 2:])


def _np_mlp(layers, x):
    for i, l in enumerate(layers):
        x = x @ np.asarray(l["w"], np.float64) + np.asarray(l["b"], np.float64)
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    return x


def _np_log_normal(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


@pytest.mark.parametrize("channel, fill", [("hard", "prior"), ("relaxed", "prior"), ("hard", "zero")])
def test_negative_elbo_equals_independent_numpy_computation(channel, fill):
    cfg = BWLCConfig(code_dim=3, hidden=8, prior_hidden=4, aux_dim=2, eval_ks=[1], decoder_sees_mask=True,
                     channel=channel, temperature=0.4, fill=fill)
    codec = BWLCCodec(cfg, shape=(2, 2))
    params = codec.init(jax.random.PRNGKey(6))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2, 2, 2)).astype(np.float32)
    k = np.array([1.3, 2.6]) if channel == "relaxed" else np.array([1, 3])
    if channel == "relaxed":  # m_i = sigmoid((k - i - 1/2) / T), written out
        mask = 1 / (1 + np.exp(-(k[:, None] - np.arange(3)[None] - 0.5) / 0.4))
    else:
        mask = (np.arange(3)[None] < k[:, None]).astype(float)
    eps, fill_noise, nu = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (2, 3), (2, 2)))
    t = codec.terms(params, jnp.asarray(x), jnp.asarray(k), jnp.asarray(eps), jnp.asarray(fill_noise), jnp.asarray(nu))
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    xf = x.reshape(2, 4).astype(np.float64)
    out = _np_mlp(p["encoder"], xf)
    mean, log_std = out[:, :3], np.clip(out[:, 3:], -7, 2)
    y = mean + np.exp(log_std) * eps

    def prior(v):  # MADE written out: mean_i, std_i from the y_j, j < i
        m1 = np.array([[h % 2 + 1 >= i + 1 for h in range(4)] for i in range(3)], float)
        m2 = np.array([[i + 1 > h % 2 + 1 for i in range(3)] for h in range(4)], float)
        h = np.maximum(v @ (p["prior"]["w1"] * m1) + p["prior"]["b1"], 0)
        return h @ (p["prior"]["w_mean"] * m2) + p["prior"]["b_mean"], np.exp(np.clip(h @ (p["prior"]["w_std"] * m2) + p["prior"]["b_std"], -7, 3))

    pm, ps = prior(y)
    rate = _np_log_normal(y, mean, np.exp(log_std)).sum(1) - _np_log_normal(y, pm, ps).sum(1)
    received = y * mask
    yh = received.copy()
    for i in range(3 if fill == "prior" else 0):  # ancestral fill: what arrived plus the prior's draw for the rest
        fm, fs = prior(yh)
        yh[:, i] = received[:, i] + (1 - mask[:, i]) * (fm[:, i] + fs[:, i] * fill_noise[:, i])
    a = _np_mlp(p["aux_posterior"], np.concatenate([xf, yh], 1))
    am, als = a[:, :2], np.clip(a[:, 2:], -7, 2)
    u = am + np.exp(als) * nu
    kl_u = 0.5 * (am ** 2 + np.exp(2 * als) - 1 - 2 * als).sum(1)
    pix = 1 / (1 + np.exp(-_np_mlp(p["decoder"], np.concatenate([yh, u, mask], 1))))
    rec = -_np_log_normal(xf, pix, cfg.obs_std).sum(1)
    for name, ref in (("rate", rate), ("kl_aux", kl_u), ("rec", rec), ("neg_elbo", rec + rate + kl_u)):
        np.testing.assert_allclose(np.asarray(t[name]), ref, rtol=2e-4, atol=2e-4, err_msg=name)


@pytest.mark.slow
def test_joint_beats_separate_at_low_bandwidth_on_digits(cli, tmp_path):
    """CI-sized: 1,000 updates each on digits (a cheaper Frechet classifier: 150 updates); metrics from `rlk eval --json`."""
    results = {}
    for system in ("joint", "separate"):
        run = tmp_path / system
        cli("train", "--model", "bwlc_codec", "--dataset", "digits", "--steps", "1000", "-q", "--run-dir", str(run),
            "-o", f"model.system={system}", "-o", "model.eval_ks=[1,2,4,16]", "-o", "model.classifier_steps=150")
        results[system] = json.loads(cli("eval", str(run), "--json").stdout)["metrics"]
    j, s = results["joint"], results["separate"]
    base = j["baseline_mse_mean_image"]
    # the codec learns: well below predicting the mean image, and better with more bandwidth
    assert j["distortion_mse_k16"] < 0.4 * base and s["distortion_mse_k16"] < 0.4 * base
    assert j["distortion_mse_k1"] > j["distortion_mse_k2"] > j["distortion_mse_k4"] > j["distortion_mse_k16"]
    # the paper's headline: joint coding has lower distortion than separate coding at the lowest bandwidth
    assert j["distortion_mse_k1"] < s["distortion_mse_k1"]
    assert j["frechet_k1"] < s["frechet_k1"]
    png = tmp_path / "grid.png"
    cli("sample", str(tmp_path / "joint"), "--out", str(png))
    assert png.stat().st_size > 500


@pytest.mark.parametrize("override, culprit", [("model.channel=relaxed", "channel='relaxed'"),
                                               ("model.fill=zero", "fill='zero'")])
def test_joint_only_options_on_the_separate_system_are_one_line(cli, tmp_path, override, culprit):
    proc = cli("train", "--model", "bwlc_codec", "--dataset", "digits", "--steps", "10", "--run-dir", str(tmp_path / "r"),
               "-o", "model.system=separate", "-o", override, check=False)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and culprit in lines[0] and "system='joint'" in lines[0], proc.stderr
    assert not (tmp_path / "r" / "metrics.csv").exists()
