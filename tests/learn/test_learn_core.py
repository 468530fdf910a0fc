"""rlk.learn's optimiser, gradient step and target update, each against an independent computation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.learn.optim import OptimConfig, make_optimiser, step_size
from rlk.learn.sgd import SGDState, sgd_step
from rlk.learn.targets import ema_update


def _lr_at(config: OptimConfig, step: int, steps_per_update: int = 1) -> float:
    lr = step_size(config, steps_per_update)
    return float(lr(step)) if callable(lr) else float(lr)


def _expected_lr(c: OptimConfig, t: int, k: int) -> float:
    """The schedule written out by hand, from the field descriptions (t: gradient steps, k per update)."""
    warm = c.lr_warmup_updates * k
    if t < warm:
        return c.learning_rate * t / warm
    s, n, end = t - warm, c.lr_decay_updates * k, c.learning_rate * c.lr_final_fraction
    if c.lr_schedule == "constant":
        return c.learning_rate
    if c.lr_schedule == "linear":
        return c.learning_rate + (end - c.learning_rate) * min(s, n) / n
    if c.lr_schedule == "cosine":
        cos = 0.5 * (1 + math.cos(math.pi * min(s, n) / n))
        return c.learning_rate * ((1 - c.lr_final_fraction) * cos + c.lr_final_fraction)
    return c.learning_rate * c.lr_decay_rate ** (s / n)


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine", "exponential"])
@pytest.mark.parametrize("warmup", [0, 3])
def test_schedules_match_their_formulas(schedule, warmup):
    c = OptimConfig(learning_rate=0.1, lr_schedule=schedule, lr_warmup_updates=warmup, lr_decay_updates=10,
                    lr_decay_rate=0.5, lr_final_fraction=0.2)
    for t in [0, 1, 5, 12, 20, 31, 40, 80, 200]:
        np.testing.assert_allclose(_lr_at(c, t, steps_per_update=4), _expected_lr(c, t, 4), rtol=1e-5, atol=1e-7)


def test_constant_step_size_keeps_no_schedule_state():
    """A constant step size is a float (as PPO and V-trace always had), so the optimiser state holds no count."""
    assert step_size(OptimConfig(learning_rate=0.3)) == 0.3


def _grads(params, x):
    return jax.grad(lambda p: jnp.sum((x @ p["w"] + p["b"]) ** 2))(params)


def test_adam_clip_and_decay_match_a_hand_written_update():
    """Clip by global norm, then adam: one step written with numpy from Kingma & Ba (2015), Algorithm 1."""
    c = OptimConfig(learning_rate=0.01, max_grad_norm=0.5, adam_eps=1e-5)
    params = {"w": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "b": jnp.array([0.1, -0.2])}
    x = jnp.array([[1.0, 2.0], [3.0, -1.0]])
    opt = make_optimiser(c)
    updates, _ = opt.update(_grads(params, x), opt.init(params), params)
    g = jax.tree.map(np.asarray, _grads(params, x))
    norm = np.sqrt(sum(np.sum(v ** 2) for v in g.values()))
    for k in g:
        gk = g[k] * min(1.0, 0.5 / norm)
        m, v = 0.1 * gk, 0.001 * gk ** 2  # first step: (1 - beta) * g, (1 - beta2) * g^2
        m_hat, v_hat = m / 0.1, v / 0.001
        np.testing.assert_allclose(updates[k], -0.01 * m_hat / (np.sqrt(v_hat) + 1e-5), rtol=1e-5)


def test_sgd_momentum_and_l2_decay():
    c = OptimConfig(optimiser="sgd", learning_rate=0.1, momentum=0.9, weight_decay=0.01)
    params = {"w": jnp.array([[1.0, 2.0], [3.0, 4.0]]), "b": jnp.zeros(2)}
    x = jnp.eye(2)
    opt = make_optimiser(c)
    state = opt.init(params)
    trace = jax.tree.map(np.zeros_like, params)
    p = params
    for _ in range(2):
        updates, state = opt.update(_grads(p, x), state, p)
        g = jax.tree.map(lambda gr, w: np.asarray(gr) + 0.01 * np.asarray(w), _grads(p, x), p)
        trace = jax.tree.map(lambda t, gi: 0.9 * t + gi, trace, g)
        jax.tree.map(lambda u, t: np.testing.assert_allclose(u, -0.1 * t, rtol=1e-5), updates, trace)
        p = jax.tree.map(lambda a, u: a + u, p, updates)


def test_sgd_step_is_value_and_grad_then_update():
    c = OptimConfig(learning_rate=0.05, max_grad_norm=1.0)
    opt = make_optimiser(c)
    params = {"w": jnp.array([[0.3, -0.7], [1.1, 0.2]]), "b": jnp.array([0.5, 0.0])}
    x = jnp.array([[1.0, 0.5], [-0.5, 2.0]])

    def loss_fn(p, data):
        out = data @ p["w"] + p["b"]
        return jnp.mean(out ** 2), {"mean_out": jnp.mean(out)}

    state, metrics = jax.jit(sgd_step(loss_fn, opt))(SGDState(params, opt.init(params)), x)
    grads = jax.grad(lambda p: loss_fn(p, x)[0])(params)
    updates, _ = opt.update(grads, opt.init(params), params)
    jax.tree.map(lambda a, b, u: np.testing.assert_allclose(a, b + u, rtol=1e-6), state.params, params, updates)
    np.testing.assert_allclose(metrics["loss"], loss_fn(params, x)[0], rtol=1e-6)
    assert set(metrics) == {"loss", "mean_out"}


def test_sgd_step_on_devices_equals_the_whole_batch():
    """Under shard_map over 4 devices (check_vma off, as the Replicator runs), the step equals one device's."""
    from jax.sharding import PartitionSpec as P

    devices = jax.devices()[:4]
    if len(devices) < 4:
        pytest.skip("needs 4 host devices")
    opt = make_optimiser(OptimConfig(learning_rate=0.1))
    params = {"w": jnp.array([[0.3, -0.7], [1.1, 0.2]]), "b": jnp.array([0.5, 0.0])}
    x = jax.random.normal(jax.random.key(0), (8, 2))
    loss_fn = lambda p, data: (jnp.mean((data @ p["w"] + p["b"]) ** 2), {})
    state = SGDState(params, opt.init(params))
    whole, _ = sgd_step(loss_fn, opt)(state, x)
    mesh = jax.make_mesh((4,), ("data",), devices=devices, axis_types=(jax.sharding.AxisType.Auto,))
    shard = jax.shard_map(lambda s, d: sgd_step(loss_fn, opt, "data")(s, d)[0], mesh=mesh,
                          in_specs=(P(), P("data")), out_specs=P(), check_vma=False)
    split = jax.jit(shard)(state, x)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), split.params, whole.params)


def test_ema_update():
    online, target = {"a": jnp.array([1.0, 3.0])}, {"a": jnp.array([0.0, 1.0])}
    np.testing.assert_allclose(ema_update(online, target, 0.25)["a"], [0.25, 1.5])
    np.testing.assert_allclose(ema_update(online, target, 1.0)["a"], [1.0, 3.0])
