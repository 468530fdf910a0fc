"""Muesli's building blocks against independent computations, and its learning."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk import bench
from rlk.core.types import TimeStep
from rlk.nn.value_transforms import Support, scalar_to_two_hot, two_hot_to_scalar
from rlk.nn.unroll_targets import model_targets
from rlk.nn.muzero_model import MuZeroModel
from rlk.plugins.muesli.agent import model_outputs, retrace_returns, target_stats
from rlk.core.errors import RlkError
from rlk.core.losses import PolicyInputs, agent_losses
from rlk.core.types import ArraySpec, BoxSpec, DiscreteSpec, EnvSpec, Trajectory
from rlk.plugins.muesli.agent import make_muesli
from rlk.plugins.muesli.config import MuesliConfig
from rlk.plugins.muesli.losses import (MuesliInputs, ValueWeightConfig, cmpo_policy, make_cmpo, make_model, make_pg,
                                       make_value, sampled_cmpo_cross_entropy, sampled_cmpo_weights,
                                       weighted_sample_cross_entropy)

rng = np.random.default_rng(0)


def test_cmpo_policy_matches_numpy():
    prior = rng.normal(size=(5, 4))
    adv = 3 * rng.normal(size=(5, 4))
    w = np.exp(prior - prior.max(-1, keepdims=True)) / np.exp(prior - prior.max(-1, keepdims=True)).sum(-1, keepdims=True)
    w = w * np.exp(np.clip(adv, -1, 1))
    expected = w / w.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(cmpo_policy(jnp.asarray(prior), jnp.asarray(adv), 1.0)), expected, rtol=1e-5)


def test_sampled_cmpo_converges_to_exact():
    prior, adv, logits = (jnp.asarray(rng.normal(size=6), jnp.float32) for _ in range(3))
    exact = float(-jnp.sum(cmpo_policy(prior, adv, 1.0) * jax.nn.log_softmax(logits)))
    errors = []
    for n in (4, 64, 1024):
        keys = jax.random.split(jax.random.PRNGKey(n), 200)
        est = jax.vmap(lambda k: sampled_cmpo_cross_entropy(k, prior, adv, logits, 1.0, n, 1.0))(keys)
        errors.append(abs(float(est.mean()) - exact) + float(est.std()))
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < 0.05 * abs(exact) + 0.05


def np_log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def np_ce(logits, target):
    return -(target * np_log_softmax(logits)).sum(-1)


def random_muesli_inputs(T=5, N=3, K=2, atoms=7):
    """MuesliInputs with random logits, two-hot-like targets and 0/1 masks (float64 for NumPy, float32 for JAX)."""
    probs = lambda *shape: (lambda p: p / p.sum(-1, keepdims=True))(rng.uniform(size=shape))
    mask = lambda *shape: (rng.uniform(size=shape) > 0.3).astype(np.float64)
    return MuesliInputs(
        cmpo_ce=rng.uniform(0.5, 2.0, size=(T - 1, N)), value_logits=rng.normal(size=(T - 1, N, atoms)),
        value_target=probs(T - 1, N, atoms), model_policy_ce=rng.uniform(0.5, 2.0, size=(K, T, N)),
        model_policy_mask=mask(K, T, N), model_reward_logits=rng.normal(size=(K, T, N, atoms)),
        model_reward_target=probs(K, T, N, atoms), model_reward_mask=mask(K, T, N),
        model_value_logits=rng.normal(size=(K, T, N, atoms)), model_value_target=probs(K, T, N, atoms),
        model_value_mask=mask(K, T, N))


def as_jax(tree):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


def test_muesli_losses_match_numpy():
    """Each registered Muesli loss against NumPy: clipped-importance policy gradient (eq. 10), the CMPO
    regulariser, the value cross-entropy and the model loss (masked means), with the losses' own value weight."""
    n = 12
    log_prob, behaviour, adv = rng.normal(size=n) - 1.0, rng.normal(size=n) - 1.0, rng.normal(size=n)
    loss, metrics = make_pg().apply(None, as_jax(PolicyInputs(log_prob, np.zeros(n), behaviour, adv)), None)
    rho = np.minimum(np.exp(log_prob - behaviour), 1.0)
    np.testing.assert_allclose(float(loss), -np.mean(rho * adv * log_prob), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["rho"]), rho.mean(), rtol=1e-5)

    x = random_muesli_inputs()
    config = ValueWeightConfig(value_loss_weight=0.3)
    np.testing.assert_allclose(float(make_cmpo().apply(None, as_jax(x), None)[0]), x.cmpo_ce.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(make_value(config).apply(None, as_jax(x), None)[0]),
                               0.3 * np_ce(x.value_logits, x.value_target).mean(), rtol=1e-5)
    masked = lambda v, m: (v * m).sum() / m.sum()
    pol = masked(x.model_policy_ce, x.model_policy_mask)
    rew = masked(np_ce(x.model_reward_logits, x.model_reward_target), x.model_reward_mask)
    val = masked(np_ce(x.model_value_logits, x.model_value_target), x.model_value_mask)
    loss, metrics = make_model(config).apply(None, as_jax(x), None)
    np.testing.assert_allclose(float(loss), pol + rew + 0.3 * val, rtol=1e-5)
    for k, want in (("policy", pol), ("reward", rew), ("value", val)):
        np.testing.assert_allclose(float(metrics[k]), want, rtol=1e-5)


def test_sampled_cmpo_weights_and_cross_entropy_match_numpy():
    """The Gaussian agent's sampled CMPO cross-entropy: w_i = exp(clip(adv_i)), z_i = (z_init + sum_{l != i} w_l) / S,
    -mean_i (w_i / z_i) log pi(a_i|s) (section 4.3)."""
    adv, log_prob = 2 * rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    w = np.exp(np.clip(adv, -1.0, 1.0))
    z = (0.5 + w.sum(-1, keepdims=True) - w) / 6
    weights = sampled_cmpo_weights(jnp.asarray(adv), 1.0, 0.5)
    np.testing.assert_allclose(np.asarray(weights), w / z, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(weighted_sample_cross_entropy(weights, jnp.asarray(log_prob))),
                               -np.mean(w / z * log_prob, -1), rtol=1e-5)


TINY = dict(num_envs=2, unroll_length=4, replay_capacity=8, hidden_sizes=(8,), latent_size=4, num_atoms=5,
            model_unroll=2, cmpo_samples=3)


def one_update(spec: EnvSpec, weights: dict) -> dict:
    """Metrics of one update of a tiny Muesli on random data shaped by ``spec``."""
    config = MuesliConfig(**TINY, loss_weights=weights)
    agent = make_muesli(config, spec, None, agent_losses("muesli", weights))
    T, B = config.unroll_length, config.num_envs
    state = agent.init(jax.random.PRNGKey(0))
    ts = TimeStep(jax.random.normal(jax.random.PRNGKey(1), (T + 1, B, 3)), jnp.ones((T + 1, B)), jnp.ones((T + 1, B)),
                  jnp.zeros((T + 1, B), bool))
    action, _, extras = jax.vmap(lambda t, k: agent.act(state.params, (), t, k))(
        jax.tree.map(lambda x: x[:T], ts), jax.random.split(jax.random.PRNGKey(2), T))
    return jax.jit(agent.update)(state, Trajectory(ts, action, extras), jax.random.PRNGKey(3))[1]


def test_entropy_loss_composes_onto_both_variants():
    """Muesli produces PolicyInputs: actor-critic's ``entropy`` loss adds by name to the categorical and the Gaussian
    agent (its term is the negative mean entropy); a loss reading inputs Muesli does not produce is a one-line error."""
    weights = {"muesli_pg": 1.0, "muesli_cmpo": 1.0, "muesli_model": 1.0, "muesli_value": 1.0, "entropy": 0.01}
    discrete = EnvSpec(name="toy", observation=ArraySpec(shape=(3,)), action=DiscreteSpec(num_values=3))
    metrics = one_update(discrete, weights)
    assert -np.log(3) - 1e-5 <= float(metrics["entropy"]) < 0  # near-uniform policy at init: about -log 3
    assert float(metrics["entropy"]) < -0.9 * np.log(3)
    box = EnvSpec(name="toy", observation=ArraySpec(shape=(3,)), action=BoxSpec(shape=(2,), low=-1.0, high=1.0))
    metrics = one_update(box, {**weights, "muesli_cmpo": 0.0})
    # log-std near 0 at init: entropy near 2 * 0.5 log(2 pi e)
    np.testing.assert_allclose(float(metrics["entropy"]), -np.log(2 * np.pi * np.e), atol=0.1)
    assert "muesli_cmpo" not in metrics and np.isfinite(float(metrics["loss"]))
    with pytest.raises(RlkError, match="loss 'ppo_value' needs ClippedValueInputs, which agent 'muesli' does not produce"):
        agent_losses("muesli", {"ppo_value": 1.0})


def np_retrace(q, action, reward, discount, pi, mu, lam):
    """Retrace targets by the backward recursion of Munos et al. 2016, eq. (3), in NumPy."""
    T = action.shape[0]
    G = np.zeros(T - 1)
    nxt = None
    for j in reversed(range(T - 1)):
        exp_q = (pi[j + 1] * q[j + 1]).sum()
        if j == T - 2:
            G[j] = reward[j + 1] + discount[j + 1] * exp_q
        else:
            a = action[j + 1]
            c = lam * min(1.0, pi[j + 1][a] / mu[j + 1])
            G[j] = reward[j + 1] + discount[j + 1] * (exp_q + c * (nxt - q[j + 1][a]))
        nxt = G[j]
    return G


def random_retrace_inputs(T: int, N: int, A: int):
    """Random q [T+1, N, A], actions [T, N], rewards and discounts [T+1, N] (some episode ends),
    target policy pi [T+1, N, A] and behaviour probabilities mu [T, N] of the taken actions."""
    q = rng.normal(size=(T + 1, N, A)).astype(np.float32)
    action = rng.integers(0, A, size=(T, N))
    reward = rng.normal(size=(T + 1, N)).astype(np.float32)
    discount = (0.9 * (rng.uniform(size=(T + 1, N)) > 0.2)).astype(np.float32)
    logits = rng.normal(size=(T + 1, N, A))
    pi = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    mu = rng.uniform(0.1, 1.0, size=(T, N)).astype(np.float32)
    return q, action, reward, discount, pi, mu


def test_retrace_returns_match_numpy_recursion():
    T, N, A = 7, 3, 4
    q, action, reward, discount, pi, mu = random_retrace_inputs(T, N, A)
    got = retrace_returns(*(jnp.asarray(x) for x in (q, action, reward, discount, pi, mu)), 0.9)
    for n in range(N):
        expected = np_retrace(q[:, n], action[:, n], reward[:, n], discount[:, n], pi[:, n], mu[:, n], 0.9)
        np.testing.assert_allclose(np.asarray(got[:, n]), expected, rtol=1e-4, atol=1e-5)


def test_continuous_retrace_matches_numpy_recursion():
    """Retrace from q(s_j, a_j) and E_pi q(s_j, .) (the continuous-action form) against the same recursion."""
    from rlk.plugins.muesli.continuous import retrace_from_expectations

    T, N, A, lam = 7, 3, 4, 0.9
    q, action, reward, discount, pi, mu = random_retrace_inputs(T, N, A)
    q_taken = np.take_along_axis(q[:T], action[..., None], -1)[..., 0]
    pi_taken = np.take_along_axis(pi[:T], action[..., None], -1)[..., 0]
    got = retrace_from_expectations(jnp.asarray(q_taken), jnp.asarray((pi * q).sum(-1)), jnp.asarray(reward),
                                    jnp.asarray(discount), jnp.asarray(lam * np.minimum(1.0, pi_taken / mu)))
    for n in range(N):
        expected = np_retrace(q[:, n], action[:, n], reward[:, n], discount[:, n], pi[:, n], mu[:, n], lam)
        np.testing.assert_allclose(np.asarray(got[:, n]), expected, rtol=1e-4, atol=1e-5)


def test_two_hot_round_trip():
    support = Support(-20.0, 20.0, 81)
    x = jnp.asarray([-300.0, -3.2, -0.01, 0.0, 0.5, 1.0, 47.0, 300.0])
    probs = scalar_to_two_hot(x, support)
    assert probs.shape == (8, 81)
    np.testing.assert_allclose(np.asarray(probs.sum(-1)), 1.0, rtol=1e-6)
    assert int(jnp.max(jnp.sum(probs > 0, -1))) <= 2
    np.testing.assert_allclose(np.asarray(two_hot_to_scalar(probs, support)), np.asarray(x), rtol=1e-3, atol=1e-3)


def test_model_targets_line_up_with_the_trajectory():
    """Hand-made sequence of T = 6 steps; an episode ends at step 3 (transition a_2 -> ts[3])."""
    T, K, N = 6, 2, 1
    reward = jnp.asarray([0, 10, 20, 30, 40, 50, 60], jnp.float32)[:, None]  # ts[j].reward: reward of a_{j-1}
    last = jnp.asarray([0, 0, 0, 1, 0, 0, 0], bool)[:, None]
    ts = TimeStep(jnp.zeros((T + 1, N, 1)), reward, 1.0 - last.astype(jnp.float32), last)
    cmpo = jnp.eye(T + 1)[:, None, :]  # cmpo[j] is one-hot at j: shows which step a target comes from
    G = jnp.asarray([100, 101, 102, 103, 104], jnp.float32)[:, None]  # G[j] for j < T - 1
    support = Support(-20.0, 20.0, 81)
    out = model_targets(ts, cmpo, G, support, K)
    src = np.argmax(np.asarray(out["model_policy"])[..., 0, :], -1)  # [K, T]: which step each target is
    np.testing.assert_array_equal(src[0], [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(src[1, :5], [2, 3, 4, 5, 6])
    rew = np.asarray(two_hot_to_scalar(out["model_reward"], support))[..., 0]
    np.testing.assert_allclose(rew[0], [10, 20, 30, 40, 50, 60], rtol=1e-3)  # k=1 from s_j: reward of a_j
    np.testing.assert_allclose(rew[1, :5], [20, 30, 40, 50, 60], rtol=1e-3)
    pm, rm, vm = (np.asarray(out[k])[..., 0] for k in ("model_policy_mask", "model_reward_mask", "model_value_mask"))
    # k=1: s_2 -> ts[3] ends the episode: its reward is valid, its policy/value target (a reset state) is not.
    np.testing.assert_array_equal(pm[0], [1, 1, 0, 1, 1, 1])
    np.testing.assert_array_equal(rm[0], [1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(vm[0], [1, 1, 0, 1, 0, 0])  # G defined up to index T - 2 = 4
    # k=2 from s_1: a_1 then a_2 -> ts[3] ended: reward valid, policy not; from s_2 (crosses the end): nothing.
    np.testing.assert_array_equal(pm[1], [1, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(rm[1], [1, 1, 0, 1, 1, 0])
    val = np.asarray(two_hot_to_scalar(out["model_value"], support))[..., 0]
    np.testing.assert_allclose(val[0, :2], [101, 102], rtol=1e-3)


def test_batched_model_passes_match_per_example_model():
    """The agent's flat, batched passes compute what the model's per-example methods compute."""
    T, N, K, A = 4, 3, 3, 3
    net = eqx.filter_jit(lambda k: MuZeroModel(k, (2, 5), A, 8, (16,), 11))(jax.random.PRNGKey(0))  # eager init: 9 s
    support = Support(-5.0, 5.0, 11)
    # non-trivial heads: scale up the small initial output layers
    net = jax.tree.map(lambda x: x * 30 if x.ndim == 2 and x.shape[1] == 16 else x, net)
    obs = jax.random.normal(jax.random.PRNGKey(1), (T + 1, N, 2, 5))
    action = jax.random.randint(jax.random.PRNGKey(2), (T, N), 0, A)
    from rlk.nn.value_transforms import logits_to_scalar

    def one(o):  # one-step look-ahead, per example
        s = net.initial(o)
        prior, v_logits = net.predict(s)
        qs = []
        for a in range(A):
            nxt, r = net.step(s, jnp.int32(a))
            qs.append(logits_to_scalar(r, support) + 0.9 * logits_to_scalar(net.predict(nxt)[1], support))
        return prior, logits_to_scalar(v_logits, support), jnp.stack(qs)

    flat = obs.reshape((-1, 2, 5))
    for got, want in zip(jax.jit(target_stats, static_argnums=(2, 3))(net, flat, 0.9, support), jax.jit(jax.vmap(one))(flat)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)

    out = jax.jit(model_outputs, static_argnums=3)(net, obs, action, K)

    @jax.jit
    @jax.vmap  # over sequences n; per start j and model step k with the per-example methods
    def reference(o, a):
        ref = {"logits": [], "value_logits": [], "model_reward_logits": [], "model_logits": [], "model_value_logits": []}
        for j in range(T):
            s = net.initial(o[j])
            ref["logits"].append(net.predict(s)[0])
            ref["value_logits"].append(net.predict(s)[1])
            for k in range(K):
                if j + k < T:
                    s, r = net.step(s, a[j + k])
                    rows = (r, *net.predict(s))
                else:  # no target left in the sequence: not unrolled, zeros (masked)
                    rows = (jnp.zeros(11), jnp.zeros(A), jnp.zeros(11))
                for key, row in zip(("model_reward_logits", "model_logits", "model_value_logits"), rows):
                    ref[key].append(row)
        return {k: jnp.stack(v).reshape((T,) + ((K,) if k.startswith("model") else ()) + v[0].shape) for k, v in ref.items()}

    want = reference(jnp.swapaxes(obs, 0, 1), action.T)  # leaves [N, T, X] and [N, T, K, X]
    for key, got in out.items():  # got: [T, N, X] and [K, T, N, X]
        w = jnp.transpose(want[key], (2, 1, 0, 3) if key.startswith("model") else (1, 0, 2))
        np.testing.assert_allclose(np.asarray(got), np.asarray(w), rtol=1e-4, atol=1e-5, err_msg=key)


def summary(path):
    return json.loads((path / "summary.json").read_text())


def random_policy_return(env_name: str, steps: int = 2000) -> float:
    """Mean return of the episodes a uniform random policy ends (64 envs, ``steps`` steps each)."""
    return bench.random_policy_return(env_name, num_envs=64, length=steps)


# A CI-sized setting for CartPole and MinAtar (the paper's defaults are for Atari at 200M frames).
# Measured on the 2-core CPU (rlk train ... --steps N, greedy final_return over 100 episodes):
# - the default net (128 hidden, 64 latent, 81 atoms) with 64 envs and 3e-3: CartPole 392 at 300k steps
#   (2.8k steps/s); the same net with 16 envs: 467 at 200k (4k steps/s);
# - 64 hidden, 32 latent, 41 atoms, 64 envs: 401 (3e-3) and 164 (1e-3) at 300k (4.5k steps/s): one
#   update per 1024 steps is too few; 16 envs (4x the updates per env step, the same compute per step):
#   481, 159 and 198 at 200k for seeds 0-2 at 3e-3 (seed 1 reached 500, then collapsed);
# - with 1e-3 and a replay fraction of 0.5 (paper: 0.75; half the compute, fresher data): seeds 0-2
#   at 350k: 500, 500 (train return 500 from 180k) and 498 (at 250k); 16-18k steps/s.
# - minatar-breakout at 300k with this setting: 5.3 (1e-3; 3e-3 gave 2.7); random about 0.5.
TOY = ["-o", "agent.hidden_sizes=[64]", "-o", "agent.latent_size=32", "-o", "agent.num_atoms=41",
       "-o", "agent.num_envs=16", "-o", "agent.learning_rate=1e-3", "-o", "agent.replay_fraction=0.5"]


@pytest.mark.slow
def test_muesli_solves_cartpole(cli, tmp_path):
    # Five seeds in one program: the best must solve CartPole (>= 475), the median come close and every seed
    # learn. With this CI setting the greedy return at 350k steps is a coin per seed, and which way it falls
    # moves with float-level differences (vmapped vs single-seed programs, and the CPU: the same code and
    # lock file gave 365/500/500 for seeds 0-2 on one 2-core machine and 499/274/455 on another). Measured
    # on the second, 5 seeds per program: seeds 0-4 500/473/407/497/500, 5-9 479/377/462/217/460,
    # 10-14 500/488/460/500/500 (8 of 15 reach 475; median of each program 497, 460, 500). On an AMD EPYC
    # 2-core VM (stop 37), seeds 0-4 gave 400/369/500/457/381 (median 400): the median's bar is 350 (7x random),
    # which every measured program clears; "solved on 9 of 10 seeds" is issue 29's open goal, not this test's.
    cli("train", "--agent", "muesli", "--env", "CartPole-v1", "--steps", "350000", "-q", "--num-seeds", "5",
        "--run-dir", str(tmp_path / "run"), *TOY)
    random = random_policy_return("CartPole-v1")
    assert random < 50
    per_seed = summary(tmp_path / "run")["final_return_per_seed"]
    assert len(per_seed) == 5
    assert max(per_seed) >= 475, per_seed
    assert float(np.median(per_seed)) >= 350, per_seed
    assert min(per_seed) > 4 * random, (per_seed, random)


@pytest.mark.slow
def test_muesli_beats_random_on_minatar_breakout(cli, tmp_path):
    cli("train", "--agent", "muesli", "--env", "minatar-breakout", "--steps", "250000", "-q",
        "--run-dir", str(tmp_path / "run"), *TOY)
    random = random_policy_return("minatar-breakout")
    final = summary(tmp_path / "run")["final_return"]
    assert final > 3 * max(random, 0.5), (final, random)


@pytest.mark.slow
def test_muesli_solves_catch(cli, tmp_path):
    cli("show-config", "--agent", "muesli")
    cli("train", "--agent", "muesli", "-q", "--run-dir", str(tmp_path / "run"))
    assert summary(tmp_path / "run")["final_return"] >= 0.9


ABLATIONS = {
    "no_cmpo": ["-o", "agent.loss_weights.muesli_cmpo=0"],
    "no_model": ["-o", "agent.loss_weights.muesli_model=0"],
    "no_replay": ["-o", "agent.replay_fraction=0"],
    "sampled_kl": ["-o", "agent.cmpo_exact=false"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_paper_ablations_run(cli, tmp_path, name):
    """Each ablation of the paper is one config change; a short run trains and logs the right terms."""
    run = tmp_path / name
    cli("train", "--agent", "muesli", "--steps", "9000", "-q", "--run-dir", str(run), *ABLATIONS[name])
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert ("muesli_cmpo" in header) == (name != "no_cmpo")
    assert ("muesli_model" in header) == (name != "no_model")
    cfg = json.loads((run / "config.json").read_text())["agent"]
    assert cfg["replay_fraction"] == (0.0 if name == "no_replay" else 0.75)
    assert cfg["cmpo_exact"] == (name != "sampled_kl")
    assert np.isfinite(summary(run)["final_return"])


def random_pendulum_return(num_envs: int = 64, steps: int = 1000) -> float:
    """Mean return of completed Pendulum episodes under uniform random torques in [-2, 2]."""
    return bench.random_policy_return("Pendulum-v1", num_envs=num_envs, length=steps)


@pytest.mark.slow
def test_gaussian_muesli_learns_pendulum(cli, tmp_path):
    """Continuous actions: Gaussian policy, sampled CMPO (N = 16, z_init = 1) on gymnax Pendulum-v1.

    TOY with gamma 0.9 (Pendulum's short horizon, as the PPO Pendulum test) and Adam 3e-3, 300k steps.
    Measured (seed 0): greedy final_return -181 (training return about -200 from 180k steps on); with
    1e-3: -267; with gamma 0.99 (support 40) and 1e-3: -1238 at 150k (no learning). Random: about -1200.
    """
    cli("train", "--agent", "muesli", "--env", "Pendulum-v1", "--steps", "300000", "-q",
        "--run-dir", str(tmp_path / "run"), *TOY, "-o", "agent.gamma=0.9", "-o", "agent.learning_rate=3e-3")
    random = random_pendulum_return()
    final = summary(tmp_path / "run")["final_return"]
    assert random < -900
    assert final > -500, (final, random)
