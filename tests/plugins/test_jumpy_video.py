"""JUMP: the ELBO terms against numpy, permutation invariance of r_C, jumpy sampling whose computation
does not depend on t, the datasets, the consistency metric, and a run through rlk train/eval/sample."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.plugins.jumpy_video import losses
from rlk.plugins.jumpy_video.baseline import autoregressive_rollout
from rlk.plugins.jumpy_video.data import (MovingShapes, MovingShapesConfig, Rooms3D, RoomsConfig, render_room,
                                          render_shapes, room_params, shape_params)
from rlk.plugins.jumpy_video.metrics import centroid_row, consistency_metrics
from rlk.plugins.jumpy_video.model import Jump, JumpConfig

TINY = dict(r_dim=16, z_dim=4, channels=4, hidden=16, max_context=3, num_targets=2)


@pytest.fixture(scope="module")
def tiny():
    """A tiny JUMP on 21 frames of 8x8 (initialised once: weight init compiles slowly on a loaded CPU)."""
    jump = Jump(JumpConfig(**TINY, pixel_std=0.3), (21, 8, 8, 1), 1)
    return jump, jax.jit(jump.init)(jax.random.PRNGKey(0))


def _np_kl(mq, lq, mp, lp):  # KL(N(mq, e^{2lq}) || N(mp, e^{2lp})), summed, float64
    mq, lq, mp, lp = (np.asarray(a, np.float64) for a in (mq, lq, mp, lp))
    return np.sum(lp - lq + (np.exp(2 * lq) + (mq - mp) ** 2) / (2 * np.exp(2 * lp)) - 0.5, -1)


def test_kl_of_diagonal_gaussians_equals_numpy():
    rng = np.random.default_rng(0)
    a = [rng.standard_normal((5, 7)).astype(np.float32) for _ in range(4)]
    np.testing.assert_allclose(np.asarray(losses.diagonal_gaussian_kl(*map(jnp.asarray, a))), _np_kl(*a), rtol=1e-5)
    assert np.allclose(losses.diagonal_gaussian_kl(*map(jnp.asarray, (a[0], a[1], a[0], a[1]))), 0.0, atol=1e-6)


def test_elbo_terms_of_the_model_equal_an_independent_numpy_computation(tiny):
    """The posterior/prior KL and the pixel log-likelihood inside the model's loss, recomputed in numpy
    from the prior and posterior the model's heads output and the renderer's mean images."""
    jump, params = tiny
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.uniform(size=(21, 8, 8, 1)).astype(np.float32))
    v = jnp.linspace(0, 1, 21)[:, None]
    ctx, mask, tgt = jnp.array([0, 2, 1]), jnp.array([True, True, False]), jnp.array([5, 3])
    eps = jnp.asarray(rng.standard_normal(4).astype(np.float32))

    @jax.jit
    def pieces(params):
        terms = jump.example_terms(params, x, v, ctx, mask, tgt, eps)
        r_c = jump.represent(params, x[jnp.array([0, 2])], v[jnp.array([0, 2])], jnp.ones(2, bool))  # = ctx[mask]
        r_t = jump.represent(params, x[tgt], v[tgt], jnp.ones(2, bool))
        mq, lq = jump.posterior(params, r_c, r_t)
        z = mq + jnp.exp(lq) * eps
        return terms, jump.prior(params, r_c), (mq, lq), jump.render(params, z, v[tgt])

    terms, (mp, lp), (mq, lq), means = pieces(params)
    np.testing.assert_allclose(float(terms["kl"]), _np_kl(mq, lq, mp, lp), rtol=1e-5)
    means = np.asarray(means, np.float64)
    xt = np.asarray(x[tgt], np.float64)
    ll = np.sum(-0.5 * ((xt - means) / 0.3) ** 2 - np.log(0.3) - 0.5 * np.log(2 * np.pi), axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(terms["log_likelihood_t"]), ll, rtol=1e-5)
    assert float(terms["kl"]) > 0


def test_context_representation_is_permutation_invariant_and_ignores_masked_frames(tiny):
    jump, params = tiny
    represent = jax.jit(jump.represent)
    x = jax.random.uniform(jax.random.PRNGKey(2), (5, 8, 8, 1))
    v = jax.random.uniform(jax.random.PRNGKey(3), (5, 1))
    mask = jnp.array([True, True, True, True, False])
    r = represent(params, x, v, mask)
    perm = jnp.array([3, 0, 4, 2, 1])
    np.testing.assert_allclose(np.asarray(represent(params, x[perm], v[perm], mask[perm])), np.asarray(r),
                               rtol=1e-5, atol=1e-5)
    garbage = x.at[4].set(7.0)  # a masked (padding) frame changes nothing
    np.testing.assert_allclose(np.asarray(represent(params, garbage, v, mask)), np.asarray(r), rtol=1e-6)
    # ... while a different context set does change it (the check above is not vacuous)
    assert np.abs(np.asarray(represent(params, x, v, mask.at[4].set(True))) - np.asarray(r)).max() > 1e-4
    # and so does the prior: p(z | C) is a function of the set only
    prior = jax.jit(jump.prior)
    mp1, _ = prior(params, r)
    mp2, _ = prior(params, represent(params, x[perm], v[perm], mask[perm]))
    np.testing.assert_allclose(np.asarray(mp1), np.asarray(mp2), rtol=1e-5, atol=1e-6)


def _structure(jaxpr):
    """Primitives and output shapes of every equation (sub-jaxprs included) and scan lengths; literal
    values (t itself) left out."""
    out = []
    for eqn in jaxpr.eqns:
        out.append((str(eqn.primitive), tuple(str(o.aval) for o in eqn.outvars), eqn.params.get("length")))
        for p in eqn.params.values():
            inner = getattr(p, "jaxpr", p)
            if hasattr(inner, "eqns"):
                out.extend(_structure(inner))
    return out


def test_sampling_frame_t_directly_is_the_same_computation_for_every_t(tiny):
    """The jaxpr of sampling frame t (t a Python constant, baked in) has the same equations and shapes
    for t = 1, 5, 20; the autoregressive baseline's differs (its scan runs t steps)."""
    jump, params = tiny
    x = jnp.zeros((21, 8, 8, 1))
    v = jnp.linspace(0, 1, 21)[:, None]
    key = jax.random.PRNGKey(0)

    def jumpy(t):
        return lambda p, k: jump.sample_frames(p, x[:3], v[:3], jnp.ones(3, bool), jnp.full((1, 1), t / 20.0), k)

    structures = [_structure(jax.make_jaxpr(jumpy(t))(params, key).jaxpr) for t in (1, 5, 20)]
    assert structures[0] == structures[1] == structures[2]
    assert len(structures[0]) > 10
    jumpy_frames = [jax.eval_shape(jumpy(t), params, key).shape for t in (1, 20)]
    assert jumpy_frames[0] == jumpy_frames[1] == (1, 8, 8, 1)

    def rollout(t):
        return lambda p, k: autoregressive_rollout(jump, p, x[2], v[2], jnp.full((1,), 0.05), t, k)

    ar = [jax.make_jaxpr(rollout(t))(params, key).jaxpr for t in (1, 20)]
    lengths = [[e.params["length"] for e in j.eqns if str(e.primitive) == "scan"] for j in ar]
    assert lengths == [[1], [20]]
    assert _structure(ar[0]) != _structure(ar[1])


def test_training_sets_respect_the_prefix_and_have_no_repeats():
    jump = Jump(JumpConfig(**{**TINY, "max_context": 4, "num_targets": 3}), (10, 8, 8, 1), 1)
    draw = jax.jit(jump.draw_sets)
    for i in range(50):
        key = jax.random.PRNGKey(i)
        ctx, mask, tgt = (np.asarray(a) for a in draw(key))
        assert mask.sum() >= 1 and len(set(ctx.tolist())) == 4 and len(set(tgt.tolist())) == 3
        # recompute the prefix length with the same key split as draw_sets
        k_len = jax.random.split(key, 4)[0]
        prefix = int(jax.random.randint(k_len, (), 1, 11))
        assert np.all(ctx[mask] < prefix)
        assert mask.sum() <= min(4, prefix)


def test_moving_shapes_share_the_past_and_split_the_future():
    rng = np.random.default_rng(0)
    p = shape_params(16, rng)
    up, down = dict(p, branch=-np.ones(16)), dict(p, branch=np.ones(16))
    fu, fd = render_shapes(up, 16, 21, 6), render_shapes(down, 16, 21, 6)
    np.testing.assert_array_equal(fu[:, :7], fd[:, :7])               # identical up to t_fork
    assert np.all(np.abs(fu[:, 10:] - fd[:, 10:]).sum(axis=(2, 3, 4)) > 1)  # different after it
    cu, cd = centroid_row(jnp.asarray(fu)), centroid_row(jnp.asarray(fd))
    assert np.all(np.asarray(cd[:, 20] - cu[:, 20]) > 6)                # down is further down the image

    a, b = MovingShapes(MovingShapesConfig(num_train=20, num_test=5)), MovingShapes(MovingShapesConfig(num_train=20, num_test=5))
    np.testing.assert_array_equal(a.arrays("train")["x"], b.arrays("train")["x"])
    d = a.arrays("train")
    assert d["x"].shape == (20, 21, 16, 16, 1) and d["v"].shape == (20, 21, 1)
    assert d["x"].min() >= 0 and d["x"].max() <= 1
    went_down = np.asarray(centroid_row(jnp.asarray(d["x"][:, 20])) > centroid_row(jnp.asarray(d["x"][:, 0])))
    np.testing.assert_array_equal(went_down.astype(np.int32), d["y"])  # the label is the branch taken


def test_rooms_render_the_scene_seen_from_the_camera():
    p = room_params(2, 3, np.random.default_rng(0))
    args = lambda i: (jnp.asarray(p["centres"][i]), jnp.asarray(p["colours"][i]), jnp.asarray(p["floor"][i]),
                      jnp.asarray(p["wall"][i]))
    a = np.asarray(render_room(jnp.float32(0.3), *args(0)))
    np.testing.assert_allclose(np.asarray(render_room(jnp.float32(0.3 + 2 * np.pi), *args(0))), a, atol=1e-3)
    assert np.abs(np.asarray(render_room(jnp.float32(0.3 + np.pi), *args(0))) - a).mean() > 0.01
    # a camera looking straight at a sphere sees its hue in the middle of the image
    c = p["centres"][0, 0]
    yaw = np.arctan2(c[2], c[0])  # the camera on the sphere's side, looking at the centre through it
    img = np.asarray(render_room(jnp.float32(yaw), *args(0)))
    hue = p["colours"][0, 0] / np.linalg.norm(p["colours"][0, 0])
    centre_px = img[8:11, 6:10].reshape(-1, 3)
    cos = centre_px @ hue / np.linalg.norm(centre_px, axis=-1)
    assert cos.max() > 0.99
    ds = Rooms3D(RoomsConfig(num_train=4, num_test=2, views=3))
    assert ds.spec.shape == (3, 16, 16, 3) and ds.arrays("train")["v"].shape == (4, 3, 2)


def test_consistency_metric_on_consistent_and_mixed_sets():
    rng = np.random.default_rng(3)
    p = shape_params(32, rng)
    frames = render_shapes(p, 16, 21, 6)
    other = render_shapes(dict(p, branch=-p["branch"]), 16, 21, 6)
    ref = jnp.asarray(frames[:, 4])
    true_sets = jnp.asarray(frames[:, None, 16:21])
    m = consistency_metrics(true_sets, ref)
    assert float(m["branch_agreement"]) == 1.0
    assert float(m["step_jump"]) == pytest.approx(0.4, abs=0.05)
    mixed = np.array(frames[:, None, 16:21])
    mixed[:, 0, 2] = other[:, 18]   # the middle frame from the other future
    m2 = consistency_metrics(jnp.asarray(mixed), ref)
    assert float(m2["branch_agreement"]) == 0.0 and float(m2["step_jump"]) > 2.0


@pytest.mark.slow
def test_train_eval_sample_through_the_cli(cli, tmp_path):
    """rlk train --model jumpy_video --dataset moving-shapes (tiny; summary.json has the evaluation), then
    rlk sample (PNG + GIF);
    the trained model's ELBO beats the same model untrained, measured the same way."""
    from PIL import Image

    run = tmp_path / "run"
    model = ["-o", "model.r_dim=32", "-o", "model.z_dim=8", "-o", "model.channels=8", "-o", "model.hidden=64",
             "-o", "model.consistency_draws=1"]
    cli("train", "--model", "jumpy_video", "--dataset", "moving-shapes", "--steps", "100", "--run-dir", str(run),
        "-o", "dataset.num_train=400", "-o", "dataset.num_test=64", "-o", "arch.batch_size=32",
        "-o", "arch.learning_rate=2e-3", "-o", "arch.eval_examples=64", "-o", "log_every_steps=50", "-o", "checkpoint_every_steps=100", *model)
    trained = json.loads((run / "summary.json").read_text())  # the model's evaluate on the test split
    assert {"branch_agreement_one_z", "branch_agreement_independent_z", "kl"} <= set(trained)

    data = MovingShapes(MovingShapesConfig(num_train=400, num_test=64))
    jump = Jump(JumpConfig(r_dim=32, z_dim=8, channels=8, hidden=64, consistency_draws=1), data.spec.shape, 1, data)
    batch = {k: v[:64] for k, v in data.arrays("test").items()}
    untrained = jax.jit(jump.evaluate)(jax.jit(jump.init)(jax.random.PRNGKey(0)), batch, jax.random.PRNGKey(12_345))
    assert trained["neg_elbo_per_frame"] < 0.5 * float(untrained["neg_elbo_per_frame"])
    assert trained["prior_sample_mse"] < float(untrained["prior_sample_mse"])

    out = cli("sample", str(run), "--out", str(tmp_path / "s.png"), "--gif", str(tmp_path / "s.gif")).stdout
    assert "wrote" in out
    png = Image.open(tmp_path / "s.png")
    gif = Image.open(tmp_path / "s.gif")
    assert png.size[0] > png.size[1] / 4 and gif.n_frames == 5 + 4  # context frames + sample_times
