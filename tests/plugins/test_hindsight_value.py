"""HiMo (rlk.plugins.hindsight_value): loss values against numpy, the paper's stop-gradients checked by
gradients, the future index, and the ``himo`` loss on PPO and V-trace; the illustrative task is in
tests/experiments/."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.core.errors import RlkError
from rlk.core.losses import StateInputs, agent_losses
from rlk.core.types import TimeStep, Trajectory
from rlk.plugins.hindsight_value import himo
from rlk.plugins.hindsight_value.losses import hindsight_value_loss, make_himo, model_loss, model_value_loss

OBS, D, N, K = 7, 3, 32, 4


def _heads_and_batch(seed=0):
    """HiMo heads (trajectory phi), observations [N, OBS], a future window [N, K, OBS] whose valid prefix
    has every length 0..K, and return targets [N]."""
    k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
    heads = himo.HiMoHeads(k1, OBS, D, (8,))
    x = jax.random.normal(k2, (N, OBS))
    mask = jnp.arange(K)[None, :] < (jnp.arange(N) % (K + 1))[:, None]
    future = himo.FutureWindow(jax.random.normal(k3, (N, K, OBS)), mask)
    target = jax.random.normal(k4, (N,))
    return heads, x, future, {"value_target": target}


def _phi_by_loop(phi: himo.TrajectoryPhi, future: himo.FutureWindow) -> np.ndarray:
    """phi of each step by a Python loop: the GRU cell over the valid steps only, from the last to the first."""
    cell = jax.jit(lambda o, h: phi.gru(jax.nn.relu(phi.embed(o)), h))  # one step of one example
    hs = []
    for obs, mask in zip(np.asarray(future.observation), np.asarray(future.mask)):
        h = jnp.zeros(phi.gru.hidden_size)
        for j in reversed(range(len(mask))):
            if mask[j]:
                h = cell(obs[j], h)
        hs.append(h)
    return np.asarray(jax.jit(jax.vmap(phi.out))(jnp.stack(hs)))


def test_losses_match_numpy():
    heads, x, xf, batch = _heads_and_batch()
    out = eqx.filter_jit(himo.himo_outputs)(heads, x, xf)
    g_ = batch["value_target"]
    losses = jax.jit(lambda o, g: [hindsight_value_loss(o.v_plus, g), model_value_loss(o.v_m, g),
                                   model_loss(o.phi, o.phi_hat)])(out, g_)
    o = {f"himo_{k}": np.asarray(v, np.float64) for k, v in out._asdict().items()}
    g = np.asarray(batch["value_target"], np.float64)
    np.testing.assert_allclose(losses[0], 0.5 * np.mean((o["himo_v_plus"] - g) ** 2), rtol=1e-5)
    np.testing.assert_allclose(losses[1], 0.5 * np.mean((o["himo_v_m"] - g) ** 2), rtol=1e-5)
    np.testing.assert_allclose(losses[2], np.mean(np.sum((o["himo_phi_hat"] - o["himo_phi"]) ** 2, -1)), rtol=1e-5)
    # the outputs are the networks the docstrings say: v_m reads phi_hat = g(x), v+ reads phi(x_future)
    per_example = eqx.filter_jit(lambda m, a: jax.vmap(m)(a))  # the modules' __call__, not the batched path
    phi_hat = per_example(heads.model, x)
    phi = _phi_by_loop(heads.phi, xf)
    np.testing.assert_allclose(o["himo_phi_hat"], phi_hat, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(o["himo_phi"], phi, rtol=1e-4, atol=1e-5)
    v_m = per_example(heads.v_m, jnp.concatenate([x, phi_hat], -1))[:, 0]
    v_plus = per_example(heads.v_plus, jnp.concatenate([x, phi], -1))[:, 0]
    np.testing.assert_allclose(o["himo_v_m"], v_m, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(o["himo_v_plus"], v_plus, rtol=1e-4, atol=1e-5)


TERMS = {
    "himo_model": lambda o, g: model_loss(o.phi, o.phi_hat),
    "himo_model_value": lambda o, g: model_value_loss(o.v_m, g),
    "himo_hindsight_value": lambda o, g: hindsight_value_loss(o.v_plus, g),
}


def _grad_norms(name):
    """Gradient norm of HiMo's loss term ``name`` with respect to each of the four HiMo networks."""
    heads, x, xf, batch = _heads_and_batch(1)

    def loss(h):
        return TERMS[name](himo.himo_outputs(h, x, xf), batch["value_target"])

    grads = eqx.filter_jit(eqx.filter_grad(loss))(heads)
    norm = lambda tree: float(sum(jnp.sum(jnp.square(l)) for l in jax.tree.leaves(eqx.filter(tree, eqx.is_array))))
    return {part: norm(getattr(grads, part)) for part in ("phi", "model", "v_plus", "v_m")}


def test_model_loss_leaves_phi_untouched():
    g = _grad_norms("himo_model")
    assert g["phi"] == 0.0, "L_model must not change the hindsight network (stop_grad(phi))"
    assert g["model"] > 0.0
    assert g["v_plus"] == 0.0 and g["v_m"] == 0.0


def test_model_value_loss_leaves_the_model_untouched():
    g = _grad_norms("himo_model_value")
    assert g["model"] == 0.0, "L_vm must not change phi_hat's network (v_m reads stop_grad(phi_hat))"
    assert g["v_m"] > 0.0
    assert g["phi"] == 0.0 and g["v_plus"] == 0.0


def test_hindsight_value_loss_trains_phi_and_v_plus_only():
    g = _grad_norms("himo_hindsight_value")
    assert g["phi"] > 0.0 and g["v_plus"] > 0.0, "phi is learned through v+ (value-driven)"
    assert g["model"] == 0.0 and g["v_m"] == 0.0


def test_future_window_matches_a_loop():
    """Which steps feed phi_t: x_{t+1..t+k} of t's episode, cut at the episode's end (a ``last`` flag at
    t+j: x_{t+j} is already the next episode's first) and the unroll's end (t+j > T), against a loop."""
    rng = np.random.default_rng(0)
    T, B, k = 12, 6, 4
    last = rng.random((T + 1, B)) < 0.2
    last[1, 0], last[T, 1] = True, True  # an episode ending right after t = 0, and one at the unroll's end
    index, mask = jax.jit(himo.future_window, static_argnums=1)(jnp.asarray(last), k)
    frame = np.asarray(jax.jit(himo.future_index, static_argnums=1)(jnp.asarray(last), k))
    want_steps = np.zeros((T, B, k), bool)
    want_frame = np.zeros((T, B), int)
    for b in range(B):
        for t in range(T):
            want_frame[t, b] = t
            for d in range(1, k + 1):
                if t + d > T or last[t + d, b]:
                    break
                want_steps[t, b, d - 1] = True
                want_frame[t, b] = t + d
    np.testing.assert_array_equal(np.asarray(mask), want_steps)
    assert not want_steps[0, 0].any() and want_steps[T - 1, 1].sum() == 0 and want_steps[T - 2, 1].sum() == 1
    valid_index = np.where(want_steps, np.arange(T)[:, None, None] + np.arange(1, k + 1), -1)
    np.testing.assert_array_equal(np.where(want_steps, np.asarray(index), -1), valid_index)
    np.testing.assert_array_equal(frame, want_frame)
    obs = jnp.arange((T + 1) * B).reshape(T + 1, B)
    np.testing.assert_array_equal(himo.gather_future(obs, jnp.asarray(want_frame)), np.asarray(obs)[want_frame, np.arange(B)[None]])
    window = np.asarray(himo.gather_future(obs, index))
    np.testing.assert_array_equal(np.where(want_steps, window, -1),
                                  np.where(want_steps, np.asarray(obs)[np.minimum(valid_index, T), np.arange(B)[None, :, None]], -1))


def test_prepared_window_feeds_phi_only_its_episode():
    """The loss's ``prepare`` on a trajectory: changing an observation outside x_t's window (the next
    episode, or past k) leaves phi_t unchanged; changing one inside it changes phi_t."""
    T, B, k = 8, 1, 3
    loss = make_himo(himo.HiMoConfig(horizon=k, phi_size=D, hidden_sizes=(8,)))
    heads = himo.HiMoHeads(jax.random.key(0), OBS, D, (8,))
    obs = jax.random.normal(jax.random.key(1), (T + 1, B, OBS))
    last = jnp.zeros((T + 1, B), bool).at[4, 0].set(True)  # t = 0..3 in one episode, x_4 starts the next
    ts = TimeStep(observation=obs, reward=jnp.zeros((T + 1, B)), discount=jnp.ones((T + 1, B)), last=last)

    @jax.jit
    def phi_of(o):
        window = loss.prepare(Trajectory(timestep=ts._replace(observation=o), action=None, extras={}))
        return himo.hindsight_feature(heads, jax.tree.map(lambda a: a[:, 0], window))

    base = np.asarray(phi_of(obs))
    # x_4 is the next episode's first: cut from t <= 3's windows, and t >= 4's start at t + 1
    np.testing.assert_allclose(phi_of(obs.at[4].add(1.0)), base, rtol=1e-6)
    for changed, seen_by in ((3, (0, 1, 2)), (8, (5, 6, 7))):  # x_3 inside k = 3; x_8 at the unroll's end
        moved = np.asarray(phi_of(obs.at[changed].add(1.0)))
        differs = np.abs(moved - base).max(-1) > 1e-6
        assert tuple(np.flatnonzero(differs)) == seen_by, (changed, differs)


def test_himo_loss_is_its_terms_and_offers_v_m_only_as_critic():
    """The registered loss is alpha L_v+ + beta L_model (+ L_vm when v_m is not the host's critic)."""
    heads, x, xf, batch = _heads_and_batch(2)
    inputs = StateInputs(x, batch["value_target"])
    out = himo.himo_outputs(heads, x, xf)
    terms = {k: float(f(out, batch["value_target"])) for k, f in TERMS.items()}
    critic = make_himo(himo.HiMoConfig(hindsight_value_weight=0.3, model_weight=2.0))
    got, metrics = critic.apply(heads, inputs, xf)
    np.testing.assert_allclose(float(got), 0.3 * terms["himo_hindsight_value"] + 2.0 * terms["himo_model"], rtol=1e-5)
    np.testing.assert_allclose(critic.value(heads, x), out.v_m, rtol=1e-6)
    aux = make_himo(himo.HiMoConfig(as_critic=False))
    got, metrics = aux.apply(heads, inputs, xf)
    assert aux.value is None
    np.testing.assert_allclose(float(got), sum(terms.values()), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["model_value"]), terms["himo_model_value"], rtol=1e-5)


def test_model_free_control_is_the_same_value_network_without_hindsight_losses():
    """``model_free_control``: the same heads, no hindsight terms, no prepared future; the offered critic is
    v_m(x, g(x)) with the value loss's gradient reaching g (HiMo stops it there), and phi and v+ get none."""
    heads, x, future, batch = _heads_and_batch(3)
    target = batch["value_target"]
    himo_loss = make_himo(himo.HiMoConfig())
    control = make_himo(himo.HiMoConfig(model_free_control=True))
    assert control.prepare is None and control.apply(heads, StateInputs(x, target), None)[0] == 0.0
    np.testing.assert_allclose(control.value(heads, x), himo_loss.value(heads, x), rtol=1e-6)

    def grad_norms(loss):
        value_loss = lambda h: model_value_loss(loss.value(h, x), target)
        g = eqx.filter_jit(eqx.filter_grad(value_loss))(heads)
        return {p: float(sum(jnp.sum(l ** 2) for l in jax.tree.leaves(eqx.filter(getattr(g, p), eqx.is_array))))
                for p in ("phi", "model", "v_plus", "v_m")}

    assert grad_norms(himo_loss)["model"] == 0.0
    g = grad_norms(control)
    assert g["model"] > 0.0 and g["v_m"] > 0.0 and g["phi"] == 0.0 and g["v_plus"] == 0.0
    aux = make_himo(himo.HiMoConfig(model_free_control=True, as_critic=False))
    got, metrics = aux.apply(heads, StateInputs(x, target), None)
    np.testing.assert_allclose(float(got), float(model_value_loss(himo.model_value(heads, x), target)), rtol=1e-6)


@pytest.mark.parametrize("agent_name", ["ppo", "vtrace"])
def test_himo_loss_on_actor_critic_agents(agent_name):
    """``-o agent.loss_weights.himo=1`` on PPO and V-trace: a wrong option is a one-line error naming it,
    acting and bootstrapping read v_m, and one update moves the phi and model networks with finite losses."""
    from rlk.core.registry import default_registry

    reg = default_registry()
    plugin = reg.get("agent", agent_name)
    with pytest.raises(RlkError, match="losses.himo.phi_size"):
        agent_losses(agent_name, {"himo": 1.0}, {"himo": {"phi_size": 0}})
    env = reg.get("env", "catch").factory(None)
    extra = {"num_minibatches": 2, "num_epochs": 1} if agent_name == "ppo" else {}
    config = plugin.config(num_envs=4, unroll_length=6, hidden_sizes=(16,), **extra)
    weights = {**config.loss_weights, "himo": 1.0}
    losses = agent_losses(agent_name, weights, {"himo": {"phi_size": 2, "hidden_sizes": (16,)}})
    agent = plugin.factory(config, env.spec, None, losses)
    state = agent.init(jax.random.key(0))
    assert set(state.params.losses) == {"himo"}
    # a synthetic trajectory [T+1, B] of Catch-shaped observations with an episode end inside it
    T, B = config.unroll_length, config.num_envs
    k1, k2 = jax.random.split(jax.random.key(1))
    obs = jax.random.bernoulli(k1, 0.2, (T + 1, B) + tuple(env.spec.observation.shape)).astype(jnp.float32)
    last = jnp.zeros((T + 1, B), bool).at[3, 0].set(True)
    ts = TimeStep(observation=obs, reward=jnp.where(last, 1.0, 0.0), discount=jnp.ones((T + 1, B)),
                  last=last, legal_action_mask=None)

    @jax.jit
    def act_all(params, ts, key):
        flat = jax.tree.map(lambda a: a[:-1].reshape((T * B,) + a.shape[2:]), ts)
        action, _, extras = agent.act(params, (), flat, key)
        return jax.tree.map(lambda a: a.reshape((T, B) + a.shape[1:]), (action, extras))

    actions, extras = act_all(state.params, ts, k2)
    if agent_name == "ppo":
        np.testing.assert_allclose(extras["value"][0], himo.model_value(state.params.losses["himo"], obs[0]), rtol=1e-5, atol=1e-6)
    traj = Trajectory(timestep=ts, action=actions, extras=extras)
    new_state, metrics = jax.jit(agent.update)(state, traj, jax.random.key(3))
    for name in ("himo", "himo/hindsight_value", "himo/model", "ppo_value" if agent_name == "ppo" else "value"):
        assert np.isfinite(metrics[name]), name
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), eqx.filter(state.params, eqx.is_array),
                           eqx.filter(new_state.params, eqx.is_array))
    assert all(jax.tree.leaves(changed.losses["himo"].phi)) and all(jax.tree.leaves(changed.losses["himo"].model))
