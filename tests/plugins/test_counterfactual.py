"""Counterfactual credit assignment (Mesnard et al. 2021): losses against numpy, the hindsight GRU's
episode boundaries, the environments, and the agents through the CLI. The estimators against the exact
bandit gradient (``experiments/counterfactual/study.py``) are tested in tests/experiments/."""

import csv
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk import bench
from rlk.core.losses import agent_losses
from rlk.core.types import Trajectory
from rlk.plugins.counterfactual import losses as L
from rlk.plugins.counterfactual.envs import BanditFeedback, BanditFeedbackConfig, KeyToDoor, KeyToDoorConfig
from rlk.plugins.counterfactual.networks import hindsight_statistic

SMALL = BanditFeedbackConfig(num_contexts=3, num_actions=4, noise_dim=2, feedback_dim=16, reward_noise=2.0)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# -- losses ----------------------------------------------------------------------------------------
def _cca_inputs(n: int, a_dim: int, **fields) -> L.CCAInputs:
    """``CCAInputs`` on ``n`` steps with ``a_dim`` actions: the given fields, zeros (unread by the loss under test) elsewhere."""
    vec, mat = np.zeros(n, np.float32), np.zeros((n, a_dim), np.float32)
    zeros = dict(logits=mat, action=np.zeros(n, np.int32), returns=vec, fc_value=vec, fc_q=mat, hindsight_logits=mat,
                 independence_logits=mat)
    return L.CCAInputs(**{**zeros, **fields})


def test_independence_loss_is_zero_exactly_when_h_equals_pi():
    rng = np.random.default_rng(0)
    pi_logits = rng.normal(size=(64, 5)).astype(np.float32)
    loss = lambda h: float(L.make_independence().apply(None, _cca_inputs(64, 5, logits=pi_logits, independence_logits=h), None)[0])
    assert loss(pi_logits) == pytest.approx(0.0, abs=1e-6)
    assert loss(pi_logits + 3.0) == pytest.approx(0.0, abs=1e-5)  # same distribution, shifted logits
    h = rng.normal(size=(64, 5)).astype(np.float32)
    p, q = np_softmax(pi_logits.astype(np.float64)), np_softmax(h.astype(np.float64))
    expected = np.mean(np.sum(p * (np.log(p) - np.log(q)), -1))
    assert expected > 0.05
    assert loss(h) == pytest.approx(expected, rel=1e-4)
    # it trains the statistic (through h's input), not the policy
    g = jax.grad(lambda lg: L.independence_loss(lg, h))(pi_logits)
    assert np.all(np.asarray(g) == 0.0)


def _surrogate_inputs(rng, n: int = 16, a_dim: int = 4):
    """Random policy logits, actions, returns and critics for the surrogate-gradient tests."""
    logits = rng.normal(size=(n, a_dim)).astype(np.float32)
    action = rng.integers(0, a_dim, n)
    g = rng.normal(size=n).astype(np.float32)
    q = rng.normal(size=(n, a_dim)).astype(np.float32)
    return n, a_dim, logits, action, g, q


def test_cca_surrogate_gradient_matches_closed_form():
    rng = np.random.default_rng(1)
    n, a_dim, logits, action, g, q = _surrogate_inputs(rng)
    grad = np.asarray(jax.grad(lambda lg: jnp.sum(L.cca_surrogate(lg, action, g, q)))(logits))
    pi = np_softmax(logits.astype(np.float64))
    onehot = np.eye(a_dim)[action]
    q_a = q[np.arange(n), action]
    # grad_logits log pi(a) (G - Q_a) + grad_logits sum_b pi(b) Q_b
    expected = (onehot - pi) * (g - q_a)[:, None] + pi * (q - np.sum(pi * q, -1, keepdims=True))
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)
    # critics get no gradient from the policy loss
    gq = jax.grad(lambda qq: jnp.sum(L.cca_surrogate(logits, action, g, qq)))(q)
    assert np.all(np.asarray(gq) == 0.0)


def test_hindsight_weighted_cca_surrogate_matches_numpy():
    """The all-action term weighted by h(a|X, Phi): sum_a h(a) grad log pi(a) Q(a) = sum_a grad pi(a) (h / pi)(a) Q(a)."""
    rng = np.random.default_rng(5)
    n, a_dim, logits, action, g, q = _surrogate_inputs(rng)
    h = np_softmax(rng.normal(size=(n, a_dim))).astype(np.float32)
    grad = np.asarray(jax.grad(lambda lg: jnp.sum(L.cca_surrogate(lg, action, g, q, h)))(logits))
    pi = np_softmax(logits.astype(np.float64))
    onehot = np.eye(a_dim)[action]
    q_a = q[np.arange(n), action]
    # d pi(b) / d logits = pi(b) (e_b - pi); weighted by h(b) / pi(b) Q(b) and summed over b
    dpi = pi[:, :, None] * (np.eye(a_dim)[None] - pi[:, None, :])  # [n, b, logits]
    all_action = np.einsum("nb,nbk->nk", h / pi * q, dpi)
    expected = (onehot - pi) * (g - q_a)[:, None] + all_action
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)
    # h = pi gives back the plain CCA-PG surrogate; h, Q get no gradient
    plain = jax.grad(lambda lg: jnp.sum(L.cca_surrogate(lg, action, g, q)))(logits)
    same = jax.grad(lambda lg: jnp.sum(L.cca_surrogate(lg, action, g, q, jax.nn.softmax(lg))))(logits)
    np.testing.assert_allclose(np.asarray(same), np.asarray(plain), rtol=1e-4, atol=1e-6)
    gh = jax.grad(lambda hh: jnp.sum(L.cca_surrogate(logits, action, g, q, hh)))(h)
    assert np.all(np.asarray(gh) == 0.0)
    # the policy loss reads the weights from the inputs
    inputs = _cca_inputs(n, a_dim, logits=logits, action=action, returns=g, fc_q=q, hindsight_probs=h)
    loss = float(L.make_cca_policy().apply(None, inputs, None)[0])
    assert loss == pytest.approx(-float(jnp.mean(L.cca_surrogate(logits, action, g, q, h))), rel=1e-6)


def test_hindsight_model_loss_and_innovations_match_numpy():
    from rlk.core.types import TimeStep
    from rlk.plugins.counterfactual.agent import hindsight_innovations
    from rlk.plugins.counterfactual.networks import make_network

    env = BanditFeedback(SMALL)
    spec = env.spec
    obs_size, feat = spec.observation.shape[0], SMALL.num_contexts + SMALL.feedback_dim
    net = make_network(jax.random.PRNGKey(1), spec, feat, (8,), 4)
    T, B = 1, 5
    rng = np.random.default_rng(6)
    obs = rng.normal(size=(T + 1, B, obs_size)).astype(np.float32)
    info = rng.normal(size=(T + 1, B, feat)).astype(np.float32)
    reward = rng.normal(size=(T + 1, B)).astype(np.float32)
    action = rng.integers(0, SMALL.num_actions, (T, B))
    tsb = TimeStep(jnp.asarray(obs), jnp.asarray(reward), jnp.ones((T + 1, B)), jnp.zeros((T + 1, B), bool),
                   info={"hindsight": jnp.asarray(info)})
    f, r, pred = hindsight_innovations(net, tsb, jnp.asarray(action))
    # the model in numpy: tanh MLP on [X_t; onehot(A_t)]
    x = np.concatenate([obs[0], np.eye(SMALL.num_actions)[action[0]]], -1)
    for layer in net.model.layers[:-1]:
        x = np.tanh(x @ np.asarray(layer.weight) + np.asarray(layer.bias))
    m = x @ np.asarray(net.model.layers[-1].weight) + np.asarray(net.model.layers[-1].bias)
    np.testing.assert_allclose(np.asarray(pred[0]), m, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(f[0]), info[1] - m[:, :-1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(r[0]), reward[1] - m[:, -1], rtol=1e-4, atol=1e-5)
    y = np.concatenate([info[1], reward[1][:, None]], -1)
    model_loss = L.make_hindsight_model()
    inputs = _cca_inputs(B, SMALL.num_actions, model_pred=pred[0], model_target=y)
    assert float(model_loss.apply(None, inputs, None)[0]) == pytest.approx(0.5 * np.mean(np.sum((m - y) ** 2, -1)), rel=1e-4)
    assert float(model_loss.apply(None, inputs._replace(model_pred=None, model_target=None), None)[0]) == 0.0
    # what the GRU reads under each innovations option: one part zeroed, the other the innovation itself
    from rlk.plugins.counterfactual.agent import hindsight_inputs_of

    for option, keep_f, keep_r in (("innovations", True, True), ("reward_innovations", False, True),
                                   ("feature_innovations", True, False)):
        fi, ri = hindsight_inputs_of(net, tsb, jnp.asarray(action), option)
        np.testing.assert_array_equal(np.asarray(fi), np.asarray(f) if keep_f else 0.0)
        np.testing.assert_array_equal(np.asarray(ri), np.asarray(r) if keep_r else 0.0)


def test_critic_and_classifier_losses_match_numpy():
    rng = np.random.default_rng(2)
    n, a_dim = 32, 3
    x = _cca_inputs(n, a_dim, fc_q=rng.normal(size=(n, a_dim)), fc_value=rng.normal(size=n), hindsight_logits=rng.normal(size=(n, a_dim)),
                    action=rng.integers(0, a_dim, n), returns=rng.normal(size=n), logits=rng.normal(size=(n, a_dim)))
    idx = np.arange(n), x.action
    apply = lambda make: make().apply(None, x, None)
    assert float(apply(L.make_fc_critic)[0]) == pytest.approx(0.5 * np.mean((x.fc_q[idx] - x.returns) ** 2), rel=1e-5)
    assert float(apply(L.make_fc_value)[0]) == pytest.approx(0.5 * np.mean((x.fc_value - x.returns) ** 2), rel=1e-5)
    ce, m = apply(L.make_hindsight_classifier)
    assert float(ce) == pytest.approx(-np.mean(np.log(np_softmax(x.hindsight_logits)[idx])), rel=1e-5)
    assert float(m["accuracy"]) == pytest.approx(np.mean(x.hindsight_logits.argmax(-1) == x.action))
    # FC-PG: -mean log pi(A) (G - V(X, Phi))
    log_pi = np.log(np_softmax(x.logits))[idx]
    assert float(apply(L.make_fc_policy)[0]) == pytest.approx(-np.mean(log_pi * (x.returns - x.fc_value)), rel=1e-5)


def test_cca_and_pg_baseline_feed_policy_value_and_cca_inputs():
    """Both agents produce ``PolicyInputs``, ``ValueInputs`` and ``CCAInputs``: actor_critic's losses and CCA's
    compose on either; a loss they cannot feed, or one with parameters of its own, is a one-line error."""
    from rlk.core.errors import RlkError
    from rlk.core.losses import Loss, LossSet
    from rlk.plugins.counterfactual.agent import make_cca
    from rlk.plugins.counterfactual.config import PGBaselineConfig

    env = BanditFeedback(SMALL)
    cfg = PGBaselineConfig(num_envs=4, hidden_sizes=(8,), hindsight_size=4, classifier_steps=1)
    weights = {"ppo_policy": 1.0, "value": 0.5, "cca_fc_critic": 0.5, "cca_hindsight_classifier": 1.0}
    agent = make_cca(cfg, env.spec, None, agent_losses("pg_baseline", weights))
    state = agent.init(jax.random.PRNGKey(0))
    traj = _bandit_batches(env, 1, 4, seed=0)[0]
    new, metrics = jax.jit(agent.update)(state, traj, jax.random.PRNGKey(1))
    assert set(weights) | {"loss", "terminal_reward", "cca_hindsight_classifier/accuracy"} <= set(metrics)
    assert float(metrics["ppo_policy/clip_frac"]) == 0.0  # on-policy: the behaviour policy is the current one
    # the classifier was trained by its own steps (the weight names it), the critic by the joint step
    for f in ("classifier", "fc_q"):
        assert not np.allclose(np.asarray(new.params.__getattribute__(f).layers[0].weight),
                               np.asarray(state.params.__getattribute__(f).layers[0].weight)), f
    with pytest.raises(RlkError, match="loss 'ppo_value' needs ClippedValueInputs, which agent 'cca' does not produce"):
        agent_losses("cca", {"ppo_value": 1.0})
    owner = Loss(L.CCAInputs, lambda params, x, prepared: (jnp.zeros(()), {}), init=lambda key, spec: {})
    with pytest.raises(RlkError, match="parameters of their own: mine"):
        make_cca(cfg, env.spec, None, LossSet((("mine", 1.0, owner),)))


# -- hindsight network ------------------------------------------------------------------------------
def test_hindsight_statistic_summarises_only_the_rest_of_its_episode():
    cell = eqx.nn.GRUCell(9, 8, key=jax.random.PRNGKey(0))
    T, B = 6, 2
    rng = np.random.default_rng(4)
    feats = rng.normal(size=(T, B, 8)).astype(np.float32)
    reward = rng.normal(size=(T, B)).astype(np.float32)
    last = np.zeros((T, B), bool)
    last[2, 0] = True  # env 0: an episode ends after step 2
    feats2 = feats.copy()
    feats2[4] += 1.0  # change what happens at step 4
    both = jax.jit(jax.vmap(hindsight_statistic, in_axes=(None, 0, None, None)))(cell, np.stack([feats, feats2]), reward, last)
    phi, phi2 = np.asarray(both[0]), np.asarray(both[1])
    # env 0: steps 0..2 belong to the finished episode and do not see step 4; steps 3, 4 do
    np.testing.assert_allclose(phi[:3, 0], phi2[:3, 0], atol=1e-6)
    assert np.all(np.abs(np.asarray(phi[3:5, 0] - phi2[3:5, 0])).max(-1) > 1e-4)
    # env 1: one episode; every step up to 4 sees it, step 5 does not
    assert np.all(np.abs(np.asarray(phi[:5, 1] - phi2[:5, 1])).max(-1) > 1e-4)
    np.testing.assert_allclose(phi[5, 1], phi2[5, 1], atol=1e-6)


# -- environments ------------------------------------------------------------------------------------
def run_key_to_door(config, policy, n=512, seed=0):
    """Returns (key picked, door reward, apple rewards) per episode for ``policy(obs, key) -> action``."""
    env = KeyToDoor(config)

    def episode(key):
        reset_key, run_key = jax.random.split(key)
        s, ts = env.reset(reset_key)

        def step(carry, k):
            s, ts = carry
            ak, sk = jax.random.split(k)
            s2, ts2 = env.step(s, policy(ts.observation, ak, env), sk)
            return (s2, ts2), (ts2.reward, ts2.last, s.t)

        (s, _), (r, last, t) = jax.lax.scan(step, (s, ts), jax.random.split(run_key, env.length))
        return s.has_key, r[-1], jnp.sum(r[:-1]), last

    return jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(seed), n))


def greedy_to_key(obs, key, env):
    """Moves toward the key in phase 1 (row first), randomly afterwards."""
    r = env.config.room_size
    n = r * r
    pos, key_cell = jnp.argmax(obs[:n]), jnp.argmax(obs[n:2 * n])
    dr, dc = key_cell // r - pos // r, key_cell % r - pos % r
    toward = jnp.where(dr < 0, 0, jnp.where(dr > 0, 1, jnp.where(dc < 0, 2, 3)))
    return jnp.where(obs[2 * n] > 0, toward, jax.random.randint(key, (), 0, 4))


def test_key_to_door_door_rewards_the_key_and_apples_are_distractors():
    random_policy = lambda obs, key, env: jax.random.randint(key, (), 0, 4)
    has_key, door, low, last = run_key_to_door(KeyToDoorConfig(apples="low"), greedy_to_key)
    assert np.all(np.asarray(has_key))
    np.testing.assert_allclose(door, KeyToDoorConfig().door_reward)
    assert np.all(np.asarray(last[:, -1])) and not np.any(np.asarray(last[:, :-1]))
    has_key_r, door_r, high, _ = run_key_to_door(KeyToDoorConfig(apples="high"), random_policy)
    np.testing.assert_allclose(door_r, KeyToDoorConfig().door_reward * np.asarray(has_key_r, np.float32))
    assert 0.2 < float(np.mean(has_key_r)) < 0.95
    assert float(np.var(high)) > 5 * float(np.var(low)) > 0
    assert abs(float(np.mean(high)) - float(np.mean(low))) < 1.0


def test_bandit_noise_hindsight_is_the_rewards_luck_whatever_the_action():
    cfg = SMALL.model_copy(update={"hindsight": "noise"})
    env = BanditFeedback(cfg)
    state, _ = env.reset(jax.random.PRNGKey(1))
    key = jax.random.PRNGKey(2)
    seen = [env.step(state, jnp.int32(a), key)[1] for a in range(cfg.num_actions)]
    for ts in seen:  # same key, any action: the same luck; the reward's noise is sigma * eps_0
        np.testing.assert_array_equal(ts.info["hindsight"], seen[0].info["hindsight"])
    eps0 = float(seen[0].info["hindsight"][cfg.num_contexts])
    rewards = np.array([float(ts.reward) for ts in seen])
    np.testing.assert_allclose(rewards - cfg.reward_noise * eps0, np.asarray(env.mu[state.context]), atol=1e-5)
    h = np.asarray(seen[0].info["hindsight"])
    assert np.all(h[cfg.num_contexts + cfg.noise_dim:] == 0) and h.shape == seen[0].observation.shape


def test_bandit_mixed_noise_hindsight_is_the_feedback_minus_its_mean_given_context_and_action():
    """``hindsight='mixed_noise'``: ``W_eps eps``, i.e. the feedback of the same step minus ``W [x; a; 0]``,
    the same for every action (the innovation a perfect one-step model leaves)."""
    cfg = SMALL.model_copy(update={"hindsight": "mixed_noise"})
    mixed, plain = BanditFeedback(cfg), BanditFeedback(SMALL)
    state, _ = mixed.reset(jax.random.PRNGKey(1))
    key = jax.random.PRNGKey(2)
    c, A = cfg.num_contexts, cfg.num_actions
    w = np.asarray(plain.w)
    for a in range(A):
        seen = np.asarray(mixed.step(state, jnp.int32(a), key)[1].info["hindsight"])
        feedback = np.asarray(plain.step(state, jnp.int32(a), key)[1].info["hindsight"])
        mean = w[:, :c + A] @ np.concatenate([np.eye(c)[int(state.context)], np.eye(A)[a]])
        np.testing.assert_allclose(seen[c:], feedback[c:] - mean, atol=1e-5)
        np.testing.assert_array_equal(seen[:c], np.eye(c)[int(state.context)])
        if a:
            np.testing.assert_allclose(seen, first, atol=1e-6)
        else:
            first = seen


# -- agents through the CLI ---------------------------------------------------------------------------
def test_bad_env_option_is_one_clear_line(cli):
    proc = cli("train", "--agent", "cca", "--env", "key-to-door", "-o", "env.apples=medium", "--steps", "100",
               check=False)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "env.apples" in err[0], proc.stderr


def test_eval_on_a_changed_env_takes_env_options_only(cli, tmp_path):
    """``rlk eval RUN -o env.field=value``: the saved policy on a changed environment (here the bandit
    without its reward noise: returns are then mean rewards mu[x, a], in [0, 1]); other fields: one line."""
    run = tmp_path / "run"
    cli("train", "--agent", "pg_baseline", "--env", "bandit-feedback", "--steps", "2000", "-q", "--run-dir", str(run),
        "-o", "agent.num_envs=8", "-o", "agent.hidden_sizes=[8]", "-o", "eval_episodes=4", "-o", "env.reward_noise=5")
    noisy = json.loads(cli("eval", str(run), "--episodes", "400", "--json").stdout)
    clean = json.loads(cli("eval", str(run), "--episodes", "400", "--json", "-o", "env.reward_noise=0").stdout)
    assert noisy["std_return"] > 3.0  # the run's own env: sigma 5
    assert clean["std_return"] < 0.5 and 0.0 <= clean["mean_return"] <= 1.0
    proc = cli("eval", str(run), "-o", "agent.learning_rate=1", check=False)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(err) == 1 and "agent.learning_rate" in err[0], proc.stderr


def test_cca_trains_under_anakin_through_the_cli(cli, tmp_path):
    cli("train", "--agent", "cca", "--env", "key-to-door", "--steps", "1000", "-q", "--run-dir", str(tmp_path / "run"),
        "-o", "agent.num_envs=8", "-o", "agent.hidden_sizes=[16]", "-o", "env.apple_steps=4",
        "-o", "log_every_steps=500", "-o", "eval_episodes=4")
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert rows and all(np.isfinite(float(r[k])) for r in rows for k in
                        ("cca_policy", "cca_fc_critic", "cca_hindsight_classifier", "cca_independence"))
    assert all(float(r["cca_independence"]) >= 0.0 for r in rows)
    assert all(0.0 <= float(r["terminal_reward"]) <= KeyToDoorConfig().door_reward for r in rows)


def test_cca_update_with_innovations_and_hindsight_weights():
    """One jitted update of the agent with both round-3 options on a Key-to-Door episode (no CLI: the
    CLI path is test_cca_trains_under_anakin_through_the_cli)."""
    from rlk.plugins.counterfactual.agent import CCAConfig, make_cca

    env = KeyToDoor(KeyToDoorConfig(apple_steps=4))
    cfg = CCAConfig(num_envs=2, hidden_sizes=(8,), hindsight_size=4, hindsight_inputs="innovations",
                    critic_weighting="hindsight", classifier_steps=1)
    agent = make_cca(cfg, env.spec, None, agent_losses("cca", cfg.loss_weights))
    state = agent.init(jax.random.PRNGKey(0))

    def episode(key):
        s, ts = env.reset(key)

        def step(carry, k):
            s, ts = carry
            a = jax.random.randint(k, (), 0, 4)
            s2, ts2 = env.step(s, a, k)
            return (s2, ts2), (ts2, a)

        _, (tss, actions) = jax.lax.scan(step, (s, ts), jax.random.split(key, env.length))
        return jax.tree.map(lambda x0, xs: jnp.concatenate([x0[None], xs]), ts, tss), actions

    ts, actions = jax.vmap(episode, out_axes=1)(jax.random.split(jax.random.PRNGKey(1), 2))
    new_state, metrics = jax.jit(agent.update)(state, Trajectory(ts, actions, {}), jax.random.PRNGKey(2))
    assert all(np.isfinite(float(v)) for v in jax.tree.leaves(metrics))
    assert float(metrics["cca_hindsight_model"]) > 0.0
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), new_state.params.model, state.params.model)
    assert max(jax.tree.leaves(moved)) > 0.0


def test_cca_optimiser_groups():
    from rlk.plugins.counterfactual.agent import param_labels
    from rlk.plugins.counterfactual.networks import make_network

    net = make_network(jax.random.PRNGKey(0), KeyToDoor().spec, 23, (8,), 4)
    labels = param_labels(net)
    assert set(jax.tree.leaves(labels.hindsight)) == {"hindsight"}
    assert set(jax.tree.leaves(labels.classifier)) == {"classifier"}
    for f in ("policy", "value", "fc_value", "fc_q"):
        assert set(jax.tree.leaves(getattr(labels, f))) == {"main"}
    assert set(jax.tree.leaves(labels.model)) == {"main"}
    assert set(jax.tree.leaves(param_labels(net, separate_model=True).model)) == {"model"}


def test_model_learning_rate_steps_the_one_step_model_alone():
    """``model_learning_rate``: Adam's first step moves each parameter by about its group's step size, so
    after one update m's largest change is near the model's rate and every other group's within its own."""
    from rlk.plugins.counterfactual.agent import CCAConfig, make_cca

    env = BanditFeedback(SMALL)
    cfg = CCAConfig(num_envs=8, hidden_sizes=(8,), hindsight_size=4, hindsight_inputs="feature_innovations",
                    learning_rate=1e-4, hindsight_learning_rate=1e-4, model_learning_rate=0.05, classifier_steps=1,
                    max_grad_norm=1e6)
    agent = make_cca(cfg, env.spec, None, agent_losses("cca", cfg.loss_weights))
    state = agent.init(jax.random.PRNGKey(0))
    s, ts0 = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), 8))
    actions = jnp.arange(8) % SMALL.num_actions
    _, ts1 = jax.vmap(env.step)(s, actions, jax.random.split(jax.random.PRNGKey(2), 8))
    ts = jax.tree.map(lambda a, b: jnp.stack([a, b]), ts0, ts1)
    new, _ = jax.jit(agent.update)(state, Trajectory(ts, actions[None], {}), jax.random.PRNGKey(3))
    moved = lambda f: max(jax.tree.leaves(jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                                                       getattr(new.params, f), getattr(state.params, f))))
    assert 0.03 < moved("model") < 0.06
    for f in ("policy", "value", "fc_q", "hindsight"):
        assert moved(f) < 2e-4, f


def _bandit_batches(env, n_batches: int, batch: int, seed: int):
    """``n_batches`` one-step trajectories of ``batch`` bandit episodes under the uniform policy."""
    out = []
    for i in range(n_batches):
        k = jax.random.split(jax.random.PRNGKey(seed * 1000 + i), 3)
        s, ts0 = jax.vmap(env.reset)(jax.random.split(k[0], batch))
        actions = jax.random.randint(k[1], (batch,), 0, env.config.num_actions)
        _, ts1 = jax.vmap(env.step)(s, actions, jax.random.split(k[2], batch))
        out.append(Trajectory(jax.tree.map(lambda a, b: jnp.stack([a, b]), ts0, ts1), actions[None], {}))
    return out


def test_least_squares_model_is_the_ridge_solution_on_every_transition_seen():
    """``model_fit='least_squares'``: after each update m is ``(Z^T Z + ridge I)^-1 Z^T Y`` over all the
    transitions so far (``Z = [X; onehot(A); 1]``, ``Y = [f; r]``), computed here in float64 numpy, and it
    converges to the feedback's true mean ``W [x; a; 0]``; the optimiser never moves it."""
    from rlk.plugins.counterfactual.agent import CCAConfig, make_cca

    env = BanditFeedback(SMALL)
    cfg = CCAConfig(num_envs=64, hidden_sizes=(8,), hindsight_size=4, hindsight_inputs="feature_innovations",
                    model_fit="least_squares", classifier_steps=1)
    agent = make_cca(cfg, env.spec, None, agent_losses("cca", cfg.loss_weights))
    state = agent.init(jax.random.PRNGKey(0))
    assert len(state.params.model.layers) == 1  # linear
    update = jax.jit(agent.update)
    c, A = SMALL.num_contexts, SMALL.num_actions
    grid = np.array([np.concatenate([np.eye(c)[x], np.zeros(SMALL.feedback_dim), np.eye(A)[a]])
                     for x in range(c) for a in range(A)], np.float64)
    w = np.asarray(env.w, np.float64)
    true_mean = np.array([w[:, :c + A] @ np.concatenate([np.eye(c)[x], np.eye(A)[a]])
                          for x in range(c) for a in range(A)])
    zs, ys, errors = [], [], []
    for traj in _bandit_batches(env, 12, 64, seed=1):
        state, _ = update(state, traj, jax.random.PRNGKey(0))
        ts = traj.timestep
        zs.append(np.concatenate([np.asarray(ts.observation[0], np.float64), np.eye(A)[np.asarray(traj.action[0])]], -1))
        ys.append(np.concatenate([np.asarray(ts.info["hindsight"][1], np.float64), np.asarray(ts.reward[1])[:, None]], -1))
        z = np.concatenate(zs)
        z1 = np.concatenate([z, np.ones((len(z), 1))], -1)
        theta = np.linalg.solve(z1.T @ z1 + cfg.model_ridge * np.eye(z1.shape[1]), z1.T @ np.concatenate(ys))
        layer = state.params.model.layers[0]
        m = grid @ np.asarray(layer.weight, np.float64) + np.asarray(layer.bias, np.float64)
        np.testing.assert_allclose(m, np.concatenate([grid, np.ones((len(grid), 1))], -1) @ theta, atol=2e-3)
        errors.append(np.mean(np.linalg.norm(m[:, c:-1] - true_mean, axis=-1)))  # info = [onehot(x); f]
    noise_size = np.linalg.norm(w[:, c + A:])
    assert errors[-1] < 0.2 * noise_size and errors[-1] < 0.6 * errors[0], (errors, noise_size)


def test_least_squares_model_rejects_a_hidden_layer(cli):
    proc = cli("train", "--agent", "cca", "--env", "bandit-feedback", "--steps", "100", "-o",
               "agent.model_fit=least_squares", "-o", "agent.model_hidden_sizes=[16]", check=False)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "agent.model_hidden_sizes" in err[0], proc.stderr


def test_key_to_door_noise_hindsight_is_the_apple_noise_whatever_the_actions():
    cfg = KeyToDoorConfig(apples="high", hindsight="noise")
    env = KeyToDoor(cfg)

    def noise_seq(policy_seed):
        s, ts = env.reset(jax.random.PRNGKey(0))

        def step(carry, k):
            s, pk = carry
            pk, ak = jax.random.split(pk)
            s2, ts2 = env.step(s, jax.random.randint(ak, (), 0, 4), k)
            eaten = ts2.reward != 0.0
            return (s2, pk), (ts2.info["hindsight"], ts2.reward, eaten, s.t)

        _, out = jax.lax.scan(step, (s, jax.random.PRNGKey(policy_seed)), jax.random.split(jax.random.PRNGKey(1), env.length))
        return [np.asarray(x) for x in out]

    h1, r1, eaten1, t = noise_seq(10)
    h2, r2, _, _ = noise_seq(11)
    assert np.all(h1[:, 1:] == 0.0)
    apple_phase = (t >= cfg.key_steps) & (t < cfg.key_steps + cfg.apple_steps)
    assert np.all(h1[~apple_phase, 0] == 0.0) and np.all(np.abs(h1[apple_phase, 0]) > 0.0)
    np.testing.assert_array_equal(h1, h2)  # the same noise under different actions
    assert not np.array_equal(r1, r2)
    # an eaten apple's reward is 1 + the noise the hindsight shows
    e = eaten1 & apple_phase
    assert e.any()
    np.testing.assert_allclose(r1[e], cfg.apple_reward + h1[e, 0], rtol=1e-5)


def test_task_interleaving_pays_each_answer_after_the_delay():
    from rlk.plugins.counterfactual.envs import TaskInterleaving, TaskInterleavingConfig

    cfg = TaskInterleavingConfig(num_queries=5, delay=2, reward_scales=[1.0, 10.0])
    env = TaskInterleaving(cfg)
    s, ts = env.reset(jax.random.PRNGKey(0))
    earned, paid, last = [], [], []
    for t in range(env.length):
        a = t % cfg.num_actions
        obs = np.asarray(ts.observation)
        if t < cfg.num_queries:  # the query shown is the one answered
            task, ctx = int(np.argmax(obs[:cfg.num_tasks])), int(np.argmax(obs[cfg.num_tasks:-1]))
            assert (task, ctx) == (int(s.task), int(s.context))
            earned.append(float(env.mu[task, ctx, a]))
        else:  # no query: zero but the time
            assert np.all(obs[:-1] == 0)
        s, ts = env.step(s, jnp.int32(a), jax.random.PRNGKey(t + 1))
        paid.append(float(ts.reward))
        last.append(bool(ts.last))
    np.testing.assert_allclose(paid, [0.0] * cfg.delay + earned, rtol=1e-6)
    assert last == [False] * (env.length - 1) + [True]
    assert float(env.mu[1].max()) > 1.0 >= float(env.mu[0].max())  # the second task's scale


def test_task_interleaving_scales_one_per_task_is_one_clear_line(cli):
    proc = cli("train", "--agent", "cca", "--env", "task-interleaving", "-o", "env.num_tasks=3", "--steps", "100",
               check=False)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "reward_scales" in err[0], proc.stderr
