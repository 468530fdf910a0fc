"""The counterfactual experiments (``experiments/counterfactual/``): the estimators of ``study.py``
against the exact bandit gradient, the leak studies, and the sweeps' tables on fake run folders."""

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.counterfactual import study
from rlk.plugins.counterfactual.envs import BanditFeedback, BanditFeedbackConfig


# -- estimators against the exact gradient ---------------------------------------------------------------
SMALL = BanditFeedbackConfig(num_contexts=3, num_actions=4, noise_dim=2, feedback_dim=16, reward_noise=2.0)
N = 4000


@pytest.fixture(scope="module")
def bandit_samples():
    env = BanditFeedback(SMALL)
    theta = jnp.asarray(np.random.default_rng(3).normal(size=(3, 4)), jnp.float32)
    s = study.sample(env, theta, jax.random.PRNGKey(0), N)
    # the sampler recovers the noise the environment drew
    np.testing.assert_allclose(s.r, env.mu[s.x, s.a] + SMALL.reward_noise * s.eps[:, 0], atol=1e-5)
    exact = study.exact_gradient(theta, env.mu)
    np.testing.assert_allclose(exact, jax.grad(study.expected_reward)(theta, env.mu), atol=1e-6)
    return env, theta, s, np.asarray(exact)


def oracle_estimates(env, theta, s):
    """Per-sample gradients with the hindsight statistic Phi = eps (independent of the action)."""
    pi = jax.nn.softmax(theta)
    v_state = jnp.sum(pi * env.mu, -1)[s.x]
    noise = SMALL.reward_noise * s.eps[:, 0]
    # a deliberately imperfect critic: the estimator is unbiased for any Q when Phi is independent of A
    q = env.mu[s.x] + noise[:, None] + 0.3 * jnp.sin(jnp.arange(4.0))[None]
    return {
        "state": study.moments(study.per_sample_gradients(theta, s.x, s.a, s.r, baseline=v_state)),
        "fc": study.moments(study.per_sample_gradients(theta, s.x, s.a, s.r, baseline=v_state + noise)),
        "cca": study.moments(study.per_sample_gradients(theta, s.x, s.a, s.r, q=q)),
    }


def test_estimators_are_unbiased_with_an_independent_statistic(bandit_samples):
    env, theta, s, exact = bandit_samples
    m = oracle_estimates(env, theta, s)
    for name in ("state", "fc", "cca"):
        # 12 components; each within 4.5 standard errors of the exact gradient
        assert m[name].max_z(exact) < 4.5, (name, m[name].mean, exact)


def test_cca_has_lower_variance_than_the_state_baseline(bandit_samples):
    env, theta, s, exact = bandit_samples
    m = oracle_estimates(env, theta, s)
    assert m["cca"].total_variance < 0.2 * m["state"].total_variance
    assert m["fc"].total_variance < 0.5 * m["state"].total_variance


def test_a_statistic_that_leaks_the_action_biases_the_fc_baseline(bandit_samples):
    """Phi = (eps, A): V(X, Phi) = Q(X, A) + noise cancels the whole signal; the test sees the bias."""
    env, theta, s, exact = bandit_samples
    leaky = env.mu[s.x, s.a] + SMALL.reward_noise * s.eps[:, 0]
    m = study.moments(study.per_sample_gradients(theta, s.x, s.a, s.r, baseline=leaky))
    assert m.max_z(exact) > 10.0
    assert m.relative_bias(exact) > 0.9
def test_bandit_feedback_mixes_context_action_and_noise(bandit_samples):
    env, _, s, _ = bandit_samples
    ts1 = jax.tree.map(lambda x: x[1], s.traj.timestep)
    z = np.concatenate([np.eye(3)[s.x], np.eye(4)[s.a], s.eps], -1)
    np.testing.assert_allclose(ts1.info["hindsight"][:, 3:], z @ np.asarray(env.w).T, atol=1e-5)
    assert np.all(np.asarray(ts1.last)) and np.all(np.asarray(ts1.observation[:, 3:]) == 0)
# -- why a learned statistic biases CCA: the bias is first order in the leak, the divergence second order --
def test_a_leak_a_perfect_classifier_barely_sees_still_biases_cca():
    rows = {r["leak"]: r for r in study.controlled_leak_study((0.0, 0.03, 0.1), n=8000, env_config=SMALL)}
    # no leak: unbiased (against the exact gradient)
    assert rows[0.0]["max_z"] < 4.5
    # c = 0.1: the Bayes-optimal classifier's KL(pi || h) is below 0.01 nats, yet the bias is clear
    assert rows[0.1]["kl"] < 0.01
    assert rows[0.1]["max_z"] > 10.0
    # the measured bias follows the closed form, linear in c, while the KL grows like c^2
    for c in (0.03, 0.1):
        assert rows[c]["relative_bias"] == pytest.approx(rows[c]["predicted_bias"], rel=0.35)
    assert rows[0.1]["predicted_bias"] == pytest.approx(rows[0.03]["predicted_bias"] * 0.1 / 0.03, rel=1e-3)
    assert rows[0.1]["kl"] > 5 * rows[0.03]["kl"]


def test_hindsight_weighted_cca_is_unbiased_under_the_same_leak_with_the_bayes_classifier():
    """The leak of the test above: weighting the all-action term by the Bayes posterior h(a|X, Phi)
    (losses.cca_surrogate with hindsight_probs) removes the bias at every c."""
    rows = study.controlled_leak_study((0.1, 0.3), n=8000, env_config=SMALL)
    for r in rows:
        assert r["max_z"] > 10.0
        assert r["max_z_h"] < 4.5, r
        assert r["relative_bias_h"] < 0.2 * r["relative_bias"], r
@pytest.mark.slow
def test_independence_loss_removes_the_leak_a_fresh_probe_sees():
    """The learned statistic on the bandit: without the independence loss a probe classifier trained
    afresh reads the action from Phi; with it (classifier on its own faster optimiser) it cannot."""
    kw = dict(train_steps=400, probe_steps=600, batch=128, eval_samples=4000, env_config=SMALL, hindsight_size=8)
    free = study.learned_hindsight_study(0.0, **kw)
    constrained = study.learned_hindsight_study(10.0, **kw)
    assert free["acc_probe"] > free["acc_policy"] + 0.1
    assert constrained["kl_probe"] < 0.2 * free["kl_probe"]
    assert constrained["acc_probe"] < free["acc_probe"] - 0.05
# -- the apple-variance sweep's table (sweep_variance) on fake run folders ---------------------------------------
def _fake_run(path, agent, std, seed_set, finals, hindsight="observation", inputs="all"):
    from experiments.counterfactual.sweep_variance import AGENT_DEFAULTS

    path.mkdir(parents=True)
    agent_cfg = {**AGENT_DEFAULTS, "name": agent, "hindsight_inputs": inputs, "loss_weights": {}}
    (path / "config.json").write_text(json.dumps({"agent": agent_cfg, "seed": seed_set, "env": {
        "name": "key-to-door", "apple_std": std, "hindsight": hindsight}}))
    seeds = [seed_set + i for i in range(len(finals))]
    (path / "summary.json").write_text(json.dumps({"seeds": seeds, "final_return_per_seed": [7.0] * len(finals)}))
    with (path / "metrics.csv").open("w") as f:
        f.write("step,env_steps,seed,episode_return,terminal_reward\n")
        for steps, frac in ((0, 0.0), (400_000, 0.5), (1_000_000, 1.0)):  # door reward: 0, final / 2, final
            for s, final in zip(seeds, finals):
                f.write(f"1,{steps},{s},0.0,{frac * final}\n")


def test_sweep_variance_table_pools_seed_sets_and_differences_against_pg(tmp_path):
    from experiments.counterfactual import sweep_variance as sv

    _fake_run(tmp_path / "pg-s5-seed0", "pg_baseline", 5.0, 0, [4.0, 4.0, 4.0])
    _fake_run(tmp_path / "pg-s5-seed10", "pg_baseline", 5.0, 10, [3.0, 3.0, 3.0])
    _fake_run(tmp_path / "a" / "cca_ri-s5-seed0", "cca", 5.0, 0, [5.0, 4.0, 3.0], inputs="reward_innovations")
    _fake_run(tmp_path / "cca_ri-s5-seed10", "cca", 5.0, 10, [3.0, 3.0, 3.0], inputs="reward_innovations")
    _fake_run(tmp_path / "cca_apples-s20-seed0", "cca", 20.0, 0, [5.0, 5.0], hindsight="apples", inputs="features")
    table = sv.build_table(sv.find_runs(tmp_path))
    rows = {(r["setting"], r["apple_std"]): r for r in table["rows"]}
    assert set(rows) == {("pg_baseline", 5.0), ("cca [hindsight_inputs=reward_innovations]", 5.0),
                         ("cca [env.hindsight=apples, hindsight_inputs=features]", 20.0)}
    pg, cca = rows[("pg_baseline", 5.0)], rows[("cca [hindsight_inputs=reward_innovations]", 5.0)]
    assert pg["n_seeds"] == 6 and pg["seed_sets"] == [0, 10]
    assert pg["door_end_mean"] == pytest.approx(3.5) and pg["door_end_per_set"] == {0: 4.0, 10: 3.0}
    assert pg["door_end_sem"] == pytest.approx(np.std([4, 4, 4, 3, 3, 3], ddof=1) / np.sqrt(6))
    assert cca["door_500k_mean"] == pytest.approx((0.5 + 0.5 / 6) * 3.5)  # interpolated between 400k and 1M
    assert cca["greedy_mean"] == pytest.approx(7.0)
    (d,) = table["diffs"]  # the oracle at std 20 has no PG to compare with
    assert d["setting"] == cca["setting"] and d["apple_std"] == 5.0
    assert d["diff"] == pytest.approx(0.0) and d["per_set"] == {0: pytest.approx(0.0), 10: pytest.approx(0.0)}
    assert d["se"] == pytest.approx(np.hypot(pg["door_end_sem"], cca["door_end_sem"]))
    md = sv.markdown(table)
    assert "| pg_baseline | 5 | 6 (0, 10) | 3.50 +- " in md and "(4.00, 3.00)" in md
    sv.write_csv(table, tmp_path / "t.csv")
    out = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert len(out) == 3 and float(out[0]["door_end_mean"]) == pytest.approx(3.5)


def _fake_bandit_run(run_dir, greedy, reward_at):
    """A run folder as ``bandit_sweep`` reads it: ``eval_noise_free.json`` and a ``metrics.csv`` whose
    terminal reward of seed ``s`` is ``reward_at(s, env_steps)``."""
    run_dir.mkdir(parents=True)
    (run_dir / "eval_noise_free.json").write_text(json.dumps({"per_seed_mean_return": greedy}))
    with (run_dir / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["env_steps", "seed", "terminal_reward"])
        for s in range(len(greedy)):
            for steps in (10_000, 30_000, 90_000):
                w.writerow([steps, s, reward_at(s, steps)])


def test_bandit_sweep_table_pairs_seeds_against_pg(tmp_path):
    from experiments.counterfactual import bandit_sweep as bs

    _fake_bandit_run(tmp_path / "pg-ent0.01-seed0", [0.7, 0.8], lambda s, t: t / 100_000)
    _fake_bandit_run(tmp_path / "pg-ent0.01-seed10", [0.6, 0.8], lambda s, t: t / 100_000)
    _fake_bandit_run(tmp_path / "cca_ls-ent0.01-seed0", [0.8, 0.8], lambda s, t: s)
    _fake_bandit_run(tmp_path / "cca_ls-ent0.01-seed10", [0.8, 0.9], lambda s, t: s)
    found = bs.collect(tmp_path, ["pg", "cca_ls"], [0.01], [0, 10])
    assert set(found[("pg", 0.01)]) == {0, 10}
    md = bs.markdown(found, ["pg", "cca_ls"], [0.01], [0, 10])
    pg_row, cca_row = (line for line in md.splitlines() if line.startswith("| pg_") or line.startswith("| cca,"))
    # greedy 0.725 +- s.e.; per seed set 0.750, 0.700; reward at 20k/40k/80k interpolated: 0.2, 0.4, 0.8
    assert f"| 4 | 0.725 +- {np.std([0.7, 0.8, 0.6, 0.8], ddof=1) / 2:.3f} | 0.750, 0.700 | 0.200 | 0.400 | 0.800 |" in pg_row
    d = np.array([0.1, 0.0, 0.2, 0.1])  # cca minus pg, seed by seed
    assert f"| {d.mean():+.3f} +- {d.std(ddof=1) / 2:.3f} (" in cca_row and "| 0.500 | 0.500 | 0.500 |" in cca_row
    bs.plot(found, ["pg", "cca_ls"], [0.01], tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0


@pytest.mark.slow
def test_least_squares_innovations_cut_the_learned_statistics_bias():
    """At a fixed policy (``study.learned_hindsight_study``, reward noise 2): a statistic over the raw
    feedback biases CCA-PG by most of the gradient; over the innovations of the least-squares model the
    relative bias against the exact gradient is a few percent, at a variance far below the state baseline's."""
    kw = dict(train_steps=1000, probe_steps=200, eval_samples=20_000)
    raw = study.learned_hindsight_study(1.0, **kw)
    ls = study.learned_hindsight_study(1.0, hindsight_inputs="feature_innovations", model_fit="least_squares", **kw)
    assert raw["bias_cca"] > 0.5
    assert ls["bias_cca"] < 0.1 and ls["bias_cca"] < 0.2 * raw["bias_cca"], (ls["bias_cca"], raw["bias_cca"])
    assert ls["var_cca"] < 0.05 * ls["var_state"]


def test_sweep_variance_keeps_the_lambda_zero_control_apart():
    from experiments.counterfactual.sweep_variance import AGENT_DEFAULTS, setting_label

    def label(weights):
        agent = {**AGENT_DEFAULTS, "name": "cca", "hindsight_inputs": "reward_innovations", "loss_weights": weights}
        return setting_label({"agent": agent, "env": {"name": "key-to-door", "hindsight": "observation"}})

    assert label({"cca_independence": 1.0}) == "cca [hindsight_inputs=reward_innovations]"
    assert label({"cca_independence": 0.0}) == "cca [hindsight_inputs=reward_innovations, lambda=0]"


# -- the controls' table on fake run folders ------------------------------------------------------------
def test_controls_interleaving_table_reads_the_curves_area(tmp_path):
    """``controls.py``'s task-interleaving rows: each seed's training return averaged over its rows (read from
    ``metrics.csv``), the seeds paired against ``pg``; a setting without runs is left out."""
    from experiments.counterfactual import controls

    rng = np.random.default_rng(0)
    curves = {"pg": rng.normal(30, 1, (3, 4)), "cca_ri": rng.normal(32, 1, (3, 4))}  # [seeds, rows]
    for name, curve in curves.items():
        run = tmp_path / f"interleave-{name}"
        run.mkdir()
        with (run / "metrics.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "env_steps", "seed", "episode_return"])
            for row in range(curve.shape[1]):
                for seed in range(curve.shape[0]):
                    w.writerow([row, 1000 * (row + 1), seed, curve[seed, row]])
        (run / "score.json").write_text(json.dumps({"greedy": [40.0, 41.0, 42.0]}))
    np.testing.assert_allclose(controls.mean_training_return(tmp_path / "interleave-cca_ri"), curves["cca_ri"].mean(1))
    table = controls.markdown(tmp_path, ["interleave"])
    rows = {line.split("`")[1]: line for line in table.splitlines() if line.startswith("| ") and "`" in line}
    assert set(rows) == {"pg", "cca_ri"}
    diff = (curves["cca_ri"].mean(1) - curves["pg"].mean(1)).mean()
    assert f"{diff:+.3f} [" in rows["cca_ri"] and f"{curves['pg'].mean():.3f} [" in rows["pg"]
