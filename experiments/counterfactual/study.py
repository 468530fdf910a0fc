"""Gradient estimators on the bandit, against the exact gradient (Mesnard et al. 2021, section 3).

A fixed softmax policy with a table of logits ``theta [C, A]`` on ``BanditFeedback``. The expected
reward ``J(theta) = sum_x p(x) sum_a pi(a|x) mu[x, a]`` is closed-form, so its exact gradient is
``dJ/dtheta[x, b] = p(x) pi(b|x) (mu[x, b] - sum_a pi(a|x) mu[x, a])``. Each estimator gives one
gradient per sample (nonzero in the sampled context's row):

- ``state``: ``grad log pi(A|X) (G - V(X))`` with the exact state value ``V(X)``;
- ``fc``:    ``grad log pi(A|X) (G - V(X, Phi))`` (FC-PG);
- ``cca``:   ``grad log pi(A|X) (G - Q(X, Phi, A)) + sum_a grad pi(a|X) Q(X, Phi, a)`` (CCA-PG);
- ``cca_h``: the same with the all-action term weighted by a classifier ``h(a|X, Phi) / pi(a|X)``
  (``losses.cca_surrogate`` with ``hindsight_probs``), unbiased for any ``Phi`` when ``h`` is the
  true posterior.

``learned_hindsight_study`` trains the plugin's own hindsight GRU, critics and classifier
(``networks``/``agent.forward``/``losses``, through the same named losses the agent uses) on
samples of the fixed policy, then measures the estimators' bias and variance on fresh samples, and
how much the statistic leaks the action: ``KL(pi || h)`` under the classifier trained alongside, and
under a probe classifier trained afresh, for longer, on the final statistic.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rlk.core.losses import agent_losses
from rlk.core.types import Trajectory
from rlk.nn.torsos import MLP
from rlk.plugins.counterfactual.agent import (forward, hindsight_inputs_of, least_squares_model, least_squares_stats,
                                             param_labels)
from rlk.plugins.counterfactual.envs import BanditFeedback, BanditFeedbackConfig, BanditState
from rlk.plugins.counterfactual.losses import CCAInputs, baseline_surrogate, categorical_kl, cca_surrogate
from rlk.plugins.counterfactual.networks import hindsight_statistic, make_network


def expected_reward(theta: jax.Array, mu: jax.Array) -> jax.Array:
    """``J(theta)`` with uniform contexts."""
    return jnp.mean(jnp.sum(jax.nn.softmax(theta) * mu, axis=-1))


def exact_gradient(theta: jax.Array, mu: jax.Array) -> jax.Array:
    """``dJ/dtheta [C, A]`` in closed form (uniform ``p(x) = 1/C``)."""
    pi = jax.nn.softmax(theta)
    return pi * (mu - jnp.sum(pi * mu, -1, keepdims=True)) / theta.shape[0]


class Samples(NamedTuple):
    """``n`` bandit episodes under ``theta``: context ``x [n]``, action ``a [n]``, reward ``r [n]``,
    noise ``eps [n, k]`` and the environment's trajectory (``T = 1``) for the networks."""

    x: jax.Array
    a: jax.Array
    r: jax.Array
    eps: jax.Array
    traj: Trajectory


@functools.partial(jax.jit, static_argnums=(0, 3))
def sample(env: BanditFeedback, theta: jax.Array, key: jax.Array, n: int) -> Samples:
    reset_key, act_key, step_key = jax.random.split(key, 3)
    _, ts0 = jax.vmap(env.reset)(jax.random.split(reset_key, n))
    x = jnp.argmax(ts0.observation[:, : env.config.num_contexts], -1)
    a = jax.random.categorical(act_key, theta[x])
    step_keys = jax.random.split(step_key, n)
    _, ts1 = jax.vmap(env.step)(BanditState(x), a, step_keys)
    # the noise the env drew (same keys as in env.step)
    eps = jax.vmap(lambda k: jax.random.normal(jax.random.split(k)[1], (env.config.noise_dim,)))(step_keys)
    traj = Trajectory(jax.tree.map(lambda u, v: jnp.stack([u, v]), ts0, ts1), a[None], {})
    return Samples(x, a, ts1.reward, eps, traj)


@jax.jit
def per_sample_gradients(theta: jax.Array, x: jax.Array, a: jax.Array, g: jax.Array, baseline=None, q=None,
                         hindsight_probs=None) -> jax.Array:
    """``[n, C, A]`` one gradient estimate per sample: CCA if ``q [n, A]`` is given (hindsight-weighted
    with ``hindsight_probs [n, A]`` = ``h(.|X, Phi)``), else REINFORCE with ``baseline [n]`` (0 if None)."""

    def one(x_i, a_i, g_i, b_i, q_i, h_i):
        def surrogate(th):
            logits = th[x_i]
            if q is not None:
                return cca_surrogate(logits, a_i, g_i, q_i, h_i)
            return baseline_surrogate(logits, a_i, g_i, b_i)

        return jax.grad(surrogate)(theta)

    b = jnp.zeros_like(g) if baseline is None else baseline
    qq = jnp.zeros(g.shape + (theta.shape[1],)) if q is None else q
    if hindsight_probs is None:
        return jax.vmap(lambda *args: one(*args, None))(x, a, g, b, qq)
    return jax.vmap(one)(x, a, g, b, qq, hindsight_probs)


class Moments(NamedTuple):
    """Mean, standard error of the mean and per-sample variance of a gradient estimator ``[C, A]``."""

    mean: np.ndarray
    stderr: np.ndarray
    var: np.ndarray

    @property
    def total_variance(self) -> float:
        """Trace of the per-sample covariance (sum of component variances)."""
        return float(self.var.sum())

    def max_z(self, exact) -> float:
        """Largest ``|mean - exact| / stderr`` over the components (``inf`` where a component has no
        spread but misses the exact value)."""
        diff = np.abs(self.mean - np.asarray(exact))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(self.stderr > 0, diff / self.stderr, np.where(diff > 1e-9, np.inf, 0.0))
        return float(np.max(z))

    def relative_bias(self, exact) -> float:
        """``||mean - exact|| / ||exact||``."""
        exact = np.asarray(exact)
        return float(np.linalg.norm(self.mean - exact) / np.linalg.norm(exact))


def moments(grads: jax.Array) -> Moments:
    g = np.asarray(grads, np.float64)
    var = g.var(axis=0, ddof=1)
    return Moments(g.mean(axis=0), np.sqrt(var / g.shape[0]), var)


# -- a learned hindsight statistic -------------------------------------------------------------------


def learned_hindsight_study(independence_weight: float, train_steps: int, probe_steps: int = 2000,
                            batch: int = 256, eval_samples: int = 20_000, seed: int = 0,
                            env_config: BanditFeedbackConfig | None = None, hindsight_size: int = 16,
                            learning_rate: float = 1e-3, classifier_steps: int = 5,
                            fc_value_weight: float = 0.0, hindsight_inputs: str = "all",
                            classifier_learning_rate: float = 1e-2,
                            hindsight_learning_rate: float | None = 3e-4, model_fit: str = "adam",
                            model_ridge: float = 1.0) -> dict:
    """Trains ``Phi``, ``V(X, Phi)``, ``Q(X, Phi, .)`` and ``h`` on a fixed policy for ``train_steps``
    joint Adam steps, then measures on ``eval_samples`` fresh samples.

    As in the agent: before each joint step, ``classifier_steps`` Adam steps (``classifier_learning_rate``)
    of the classifier alone (cross-entropy on ``sg(Phi)``, fresh samples); the joint step (losses
    ``cca_fc_critic + fc_value_weight * cca_fc_value + independence_weight * cca_independence``)
    moves the hindsight GRU at ``hindsight_learning_rate`` (None: ``learning_rate``) and the heads at
    ``learning_rate``, and leaves the classifier alone. ``model_fit='least_squares'``: the one-step model of
    the innovations is linear and set after each step to the ridge solution on every sample so far
    (``agent.least_squares_model``), as the agent's option of the same name does.

    Returns a dict of floats: ``bias_cca``/``bias_fc`` (relative bias ``||E g - grad J|| / ||grad J||``),
    ``z_cca``/``z_fc`` (largest component z-score of the bias), ``var_state``/``var_fc``/``var_cca``
    (total variance), the same (``bias_cca_h``, ``z_cca_h``, ``var_cca_h``; ``..._cca_h_probe``) for the
    hindsight-weighted CCA with the classifier trained alongside and with the probe, ``kl_train`` (``KL(pi || h)`` with the classifier trained alongside) and
    ``kl_probe`` (with a probe classifier trained ``probe_steps`` steps afresh on the final ``Phi``),
    ``acc_probe`` (the probe's accuracy) beside ``acc_policy`` (that of predicting ``argmax pi``).
    """
    env = BanditFeedback(env_config or BanditFeedbackConfig())
    c = env.config
    key = jax.random.PRNGKey(seed)
    theta_key, net_key, probe_key, train_key, probe_train_key, eval_key = jax.random.split(key, 6)
    theta = 1.5 * jax.random.normal(theta_key, (c.num_contexts, c.num_actions))
    spec = env.spec
    obs_size = spec.observation.shape[0]
    least_squares = model_fit == "least_squares"
    net = make_network(net_key, spec, obs_size, (64, 64), hindsight_size, () if least_squares else None)
    d = net.model.layers[0].weight.shape[0] + 1
    stats0 = (jnp.zeros((d, d)), jnp.zeros((d, net.model.layers[0].weight.shape[1])))
    if least_squares:
        net = least_squares_model(net, stats0, model_ridge)
    weights = {"cca_fc_critic": 1.0, "cca_fc_value": float(fc_value_weight),
               "cca_independence": float(independence_weight), "cca_hindsight_model": 1.0}
    total = agent_losses("cca", weights)

    def inputs_of(params, s: Samples) -> CCAInputs:
        return forward(params, s.traj, True, 1.0, hindsight_inputs)[CCAInputs]._replace(logits=theta[s.x])

    opt = optax.multi_transform({"main": optax.adam(learning_rate),
                                 "hindsight": optax.adam(hindsight_learning_rate or learning_rate),
                                 "classifier": optax.set_to_zero(), "model": optax.set_to_zero()},
                                functools.partial(param_labels, separate_model=least_squares))
    cls_opt = optax.adam(classifier_learning_rate)
    classifier_ce = agent_losses("cca", {"cca_hindsight_classifier": 1.0})

    def classifier_step(carry, k):
        params, cls_state = carry
        s = sample(env, theta, k, batch)
        with_cls = lambda cls: eqx.tree_at(lambda n: n.classifier, params, cls)
        grads = jax.grad(lambda cls: classifier_ce({}, {CCAInputs: inputs_of(with_cls(cls), s)}, {})[0])(params.classifier)
        updates, cls_state = cls_opt.update(grads, cls_state, params.classifier)
        return (with_cls(optax.apply_updates(params.classifier, updates)), cls_state), None

    def train_step(carry, k):
        params, opt_state, cls_state, stats = carry
        cls_key, k = jax.random.split(k)
        (params, cls_state), _ = jax.lax.scan(classifier_step, (params, cls_state),
                                              jax.random.split(cls_key, classifier_steps))
        s = sample(env, theta, k, batch)
        (loss, m), grads = jax.value_and_grad(lambda p: total({}, {CCAInputs: inputs_of(p, s)}, {}), has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if least_squares:
            stats = jax.tree.map(jnp.add, stats, least_squares_stats(params, s.traj.timestep, s.traj.action))
            params = least_squares_model(params, stats, model_ridge)
        return (params, opt_state, cls_state, stats), loss

    @jax.jit
    def train(params, k):
        carry = (params, opt.init(params), cls_opt.init(params.classifier), stats0)
        (params, _, _, _), losses = jax.lax.scan(train_step, carry, jax.random.split(k, train_steps))
        return params, losses

    net, _ = train(net, train_key)

    # a probe classifier trained afresh on the final (frozen) statistic
    probe = MLP(probe_key, obs_size + hindsight_size, (64, 64), c.num_actions, out_scale=0.01)

    def phi_inputs(net, s: Samples):
        ts = s.traj.timestep
        feats, reward = hindsight_inputs_of(net, ts, s.traj.action, hindsight_inputs)
        phi = hindsight_statistic(net.hindsight, feats, reward, ts.last[1:])[0]
        return jnp.concatenate([ts.observation[0], phi], -1)

    probe_opt = optax.adam(1e-3)

    def probe_step(carry, k, net):
        p, o = carry
        s = sample(env, theta, k, batch)
        inp = phi_inputs(net, s)
        ce = lambda p: -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(p.batch(inp)), s.a[:, None], -1))
        loss, grads = jax.value_and_grad(ce)(p)
        updates, o = probe_opt.update(grads, o, p)
        return (optax.apply_updates(p, updates), o), loss

    @jax.jit
    def train_probe(net, p, k):
        step = lambda carry, kk: probe_step(carry, kk, net)
        (p, _), _ = jax.lax.scan(step, (p, probe_opt.init(p)), jax.random.split(k, probe_steps))
        return p

    probe = train_probe(net, probe, probe_train_key)

    @jax.jit
    def evaluate(net, probe, theta, k):
        s = sample(env, theta, k, eval_samples)
        out = inputs_of(net, s)
        v_state = jnp.sum(jax.nn.softmax(theta) * env.mu, -1)[s.x]
        grads = {
            "state": per_sample_gradients(theta, s.x, s.a, s.r, baseline=v_state),
            "fc": per_sample_gradients(theta, s.x, s.a, s.r, baseline=out.fc_value),
            "cca": per_sample_gradients(theta, s.x, s.a, s.r, q=out.fc_q),
        }
        probe_logits = probe.batch(phi_inputs(net, s))
        # hindsight-weighted CCA with the classifier trained alongside, and with the probe
        grads["cca_h"] = per_sample_gradients(theta, s.x, s.a, s.r, q=out.fc_q,
                                              hindsight_probs=jax.nn.softmax(out.hindsight_logits))
        grads["cca_h_probe"] = per_sample_gradients(theta, s.x, s.a, s.r, q=out.fc_q,
                                                    hindsight_probs=jax.nn.softmax(probe_logits))
        stats = {
            "kl_train": jnp.mean(categorical_kl(theta[s.x], out.hindsight_logits)),
            "kl_probe": jnp.mean(categorical_kl(theta[s.x], probe_logits)),
            "acc_probe": jnp.mean((jnp.argmax(probe_logits, -1) == s.a).astype(jnp.float32)),
            "acc_policy": jnp.mean((jnp.argmax(theta[s.x], -1) == s.a).astype(jnp.float32)),
        }
        return grads, stats

    grads, stats = evaluate(net, probe, theta, eval_key)
    exact = exact_gradient(theta, env.mu)
    m = {k: moments(v) for k, v in grads.items()}
    result = {k: float(v) for k, v in stats.items()}
    result.update({
        "independence_weight": float(independence_weight), "train_steps": int(train_steps),
        "classifier_steps": int(classifier_steps), "fc_value_weight": float(fc_value_weight),
        "classifier_learning_rate": float(classifier_learning_rate),
        "hindsight_learning_rate": float(hindsight_learning_rate or learning_rate),
        "hindsight_inputs": hindsight_inputs,
        "bias_cca": m["cca"].relative_bias(exact), "bias_fc": m["fc"].relative_bias(exact),
        "bias_state": m["state"].relative_bias(exact),
        "z_cca": m["cca"].max_z(exact), "z_fc": m["fc"].max_z(exact), "z_state": m["state"].max_z(exact),
        "var_state": m["state"].total_variance, "var_fc": m["fc"].total_variance, "var_cca": m["cca"].total_variance,
        **{f"{k}_{e}": f(m[e]) for e in ("cca_h", "cca_h_probe") for k, f in
           (("bias", lambda mm: mm.relative_bias(exact)), ("z", lambda mm: mm.max_z(exact)),
            ("var", lambda mm: mm.total_variance))},
    })
    return result


# -- a statistic with a known, controlled leak ---------------------------------------------------------
def controlled_leak_study(leaks: tuple[float, ...] = (0.0, 0.03, 0.1, 0.3), n: int = 20_000, seed: int = 0,
                          env_config: BanditFeedbackConfig | None = None) -> list[dict]:
    """How much bias a *small* leak causes: ``Phi = eps_0 + c u[A]`` (``u`` a fixed standardised code
    of the action) with the Bayes-optimal critic ``Q(X, Phi, a) = mu[X, a] + sigma (Phi - c u[a])`` and
    the Bayes-optimal classifier ``h(a|X, Phi) ∝ pi(a|X) N(Phi; c u[a], 1)``, both in closed form.

    Returns per ``c``: ``kl`` (``E KL(pi || h)``, what a perfect classifier reports), ``relative_bias``
    and ``max_z`` of the CCA estimator against the exact gradient, and ``predicted_bias``: the
    closed-form mean error ``-sigma c sum_a grad pi(a|X) u[a]`` relative to ``||grad J||``. The bias
    grows like ``c`` while the divergence grows like ``c^2``. ``relative_bias_h``, ``max_z_h``,
    ``total_variance_h``: the hindsight-weighted CCA with the Bayes classifier (unbiased at every ``c``).
    """
    env = BanditFeedback(env_config or BanditFeedbackConfig())
    cfg = env.config
    theta = 1.5 * jax.random.normal(jax.random.PRNGKey(seed), (cfg.num_contexts, cfg.num_actions))
    s = sample(env, theta, jax.random.PRNGKey(seed + 1), n)
    exact = exact_gradient(theta, env.mu)
    u = jnp.arange(cfg.num_actions, dtype=jnp.float32)
    u = (u - u.mean()) / u.std()
    pi = jax.nn.softmax(theta)
    rows = []
    for c in leaks:
        phi = s.eps[:, 0] + c * u[s.a]
        q = env.mu[s.x] + cfg.reward_noise * (phi[:, None] - c * u[None])
        m = moments(per_sample_gradients(theta, s.x, s.a, s.r, q=q))
        h_logits = jnp.log(pi[s.x]) - 0.5 * jnp.square(phi[:, None] - c * u[None])
        kl = float(jnp.mean(categorical_kl(theta[s.x], h_logits)))
        mh = moments(per_sample_gradients(theta, s.x, s.a, s.r, q=q, hindsight_probs=jax.nn.softmax(h_logits)))
        # the mean error in closed form: -sigma c sum_a grad_theta pi(a|x) u[a], averaged over x
        dpi_u = pi * (u[None] - jnp.sum(pi * u[None], -1, keepdims=True)) / cfg.num_contexts
        predicted = float(jnp.linalg.norm(cfg.reward_noise * c * dpi_u) / jnp.linalg.norm(exact))
        rows.append({"leak": float(c), "kl": kl, "relative_bias": m.relative_bias(exact), "max_z": m.max_z(exact),
                     "predicted_bias": predicted, "total_variance": m.total_variance,
                     "relative_bias_h": mh.relative_bias(exact), "max_z_h": mh.max_z(exact),
                     "total_variance_h": mh.total_variance})
    return rows
