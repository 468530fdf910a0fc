"""CCA losses (Mesnard et al. 2021, arXiv 2011.09464, section 3) as factories ``make(config) -> Loss``
over ``CCAInputs``, the maths as pure functions with explicit array arguments.

Notation: ``X_t`` the agent's state, ``A_t`` its action, ``G_t`` the return, ``Phi_t`` the hindsight
statistic (a function of the trajectory from ``t`` on), ``pi(.|X_t)`` the policy,
``h(.|X_t, Phi_t)`` the hindsight classifier, ``V(X_t, Phi_t)`` the future-conditional baseline and
``Q(X_t, Phi_t, .)`` the future-conditional critic. None of these losses has options (config None).
"""

from __future__ import annotations

from typing import Optional

import chex
import jax
import jax.numpy as jnp

from rlk.core.config import PluginConfig
from rlk.core.losses import Loss, stateless
from rlk.plugins.counterfactual.config import CCAInputs

sg = jax.lax.stop_gradient


# -- the maths -------------------------------------------------------------------------------------
def categorical_kl(p_logits: jax.Array, q_logits: jax.Array) -> jax.Array:
    """``KL(p || q) = sum_a p(a) (log p(a) - log q(a))`` over the last axis (``[...]``)."""
    log_p, log_q = jax.nn.log_softmax(p_logits), jax.nn.log_softmax(q_logits)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def log_prob(logits: jax.Array, action: jax.Array) -> jax.Array:
    """``log softmax(logits)[action]`` ``[...]``."""
    return jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None].astype(jnp.int32), -1)[..., 0]


def entropy(logits: jax.Array) -> jax.Array:
    """``H(softmax(logits)) = -sum_a p(a) log p(a)`` over the last axis (``[...]``)."""
    log_p = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


def cca_surrogate(logits: jax.Array, action: jax.Array, g: jax.Array, q: jax.Array,
                  hindsight_probs: jax.Array | None = None) -> jax.Array:
    """Per-step CCA-PG surrogate ``[N]``, whose gradient w.r.t. the policy is the CCA estimator

        grad log pi(A_t|X_t) (G_t - Q(X_t, Phi_t, A_t)) + sum_a w(a) grad log pi(a|X_t) Q(X_t, Phi_t, a)

    with ``w(a) = pi(a|X_t)`` (``hindsight_probs`` None): the paper's CCA-PG (Mesnard et al. 2021,
    section 3: the all-action future-conditional critic, here with the single-action residual that
    keeps it unbiased for *any* critic), unbiased when ``Phi_t`` is independent of ``A_t`` given ``X_t``.

    With ``hindsight_probs [N, A]`` = ``h(.|X_t, Phi_t)``, ``w(a) = h(a|X_t, Phi_t)``: the all-action
    term is ``sum_a grad pi(a|X_t) (h(a|X_t, Phi_t) / pi(a|X_t)) Q(X_t, Phi_t, a)``, the hindsight-ratio
    form of the future-conditional critic, unbiased for *any* ``Phi_t`` and any critic when ``h`` is
    the true posterior ``P(A_t = a | X_t, Phi_t)``: the residual's control variate then has mean
    ``E_Phi sum_a P(a|X, Phi) grad log pi(a|X) Q(X, Phi, a) = E[grad log pi(A|X) Q(X, Phi, A)]``, the
    term it must cancel. Its bias is ``E_Phi sum_a (h - P)(a|X, Phi) grad log pi(a|X) Q(X, Phi, a)``:
    first order in the classifier's error, not in the leak (with ``h = pi`` it is the plain CCA-PG
    bias). Written with ``grad log pi`` it needs no division by ``pi``: bounded for softmax logits.
    The paper's text could not be read from here; this is derived, and checked against numpy and the
    closed-form bandit in the tests.

    Shapes: ``logits``, ``q``, ``hindsight_probs`` ``[..., A]``; ``action``, ``g`` ``[...]`` (one step or ``N``).
    ``Q``, ``G`` and ``h`` receive no gradient.
    """
    chex.assert_equal_shape([logits, q] + ([] if hindsight_probs is None else [hindsight_probs]))
    chex.assert_equal_shape([action, g])
    chex.assert_equal_shape_prefix([logits, action], action.ndim)
    log_pi = jax.nn.log_softmax(logits)
    log_pi_a = jnp.take_along_axis(log_pi, action[..., None].astype(jnp.int32), -1)[..., 0]
    q, g = sg(q), sg(g)
    q_a = jnp.take_along_axis(q, action[..., None].astype(jnp.int32), -1)[..., 0]
    if hindsight_probs is None:
        all_action = jnp.sum(jnp.exp(log_pi) * q, axis=-1)
    else:
        all_action = jnp.sum(sg(hindsight_probs) * log_pi * q, axis=-1)
    return log_pi_a * (g - q_a) + all_action


def baseline_surrogate(logits: jax.Array, action: jax.Array, g: jax.Array, baseline: jax.Array) -> jax.Array:
    """Per-step surrogate ``log pi(A_t|X_t) sg(G_t - b_t)`` ``[N]``: REINFORCE with baseline ``b_t``
    (state baseline ``V(X_t)``, or the future-conditional ``V(X_t, Phi_t)`` of FC-PG, section 3).
    Shapes: ``logits`` ``[..., A]``; ``action``, ``g``, ``baseline`` ``[...]``."""
    chex.assert_equal_shape([action, g, baseline])
    chex.assert_equal_shape_prefix([logits, action], action.ndim)
    return log_prob(logits, action) * sg(g - baseline)


def cca_policy_loss(logits: jax.Array, action: jax.Array, g: jax.Array, q: jax.Array,
                    hindsight_probs: jax.Array | None = None) -> jax.Array:
    """CCA-PG policy loss: the negated mean of ``cca_surrogate`` (minimise to ascend the return) on ``N`` steps."""
    chex.assert_rank([logits, action], [2, 1])
    return -jnp.mean(cca_surrogate(logits, action, g, q, hindsight_probs))


def fc_policy_loss(logits: jax.Array, action: jax.Array, g: jax.Array, fc_value: jax.Array) -> jax.Array:
    """FC-PG policy loss: ``-log pi(A_t|X_t) sg(G_t - V(X_t, Phi_t))``, averaged (FC-PG, section 3)."""
    chex.assert_rank([logits, action], [2, 1])
    return -jnp.mean(baseline_surrogate(logits, action, g, fc_value))


def fc_value_loss(fc_value: jax.Array, g: jax.Array) -> jax.Array:
    """Future-conditional baseline regression ``0.5 (G_t - V(X_t, Phi_t))^2``, averaged."""
    chex.assert_rank([fc_value, g], 1)
    chex.assert_equal_shape([fc_value, g])
    return 0.5 * jnp.mean(jnp.square(fc_value - g))


def fc_critic_loss(fc_q: jax.Array, action: jax.Array, g: jax.Array) -> jax.Array:
    """Future-conditional critic regression ``0.5 (G_t - Q(X_t, Phi_t, A_t))^2``, averaged."""
    chex.assert_rank([fc_q, action, g], [2, 1, 1])
    chex.assert_equal_shape([action, g])
    q_a = jnp.take_along_axis(fc_q, action[..., None].astype(jnp.int32), -1)[..., 0]
    return 0.5 * jnp.mean(jnp.square(q_a - g))


def hindsight_classifier_loss(hindsight_logits: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Cross-entropy ``-log h(A_t | X_t, Phi_t)`` of the hindsight classifier, averaged (section 3), and the
    accuracy of ``argmax h`` against ``A_t``. The agent feeds ``sg(Phi_t)``: it trains the classifier only."""
    chex.assert_rank([hindsight_logits, action], [2, 1])
    acc = jnp.mean((jnp.argmax(hindsight_logits, -1) == action).astype(jnp.float32))
    return -jnp.mean(log_prob(hindsight_logits, action)), acc


def independence_loss(pi_logits: jax.Array, h_logits: jax.Array) -> jax.Array:
    """Independence maximisation ``KL(pi(.|X_t) || h(.|X_t, Phi_t))``, averaged (section 3).

    With ``h`` the hindsight classifier (the Bayes posterior ``P(A_t | X_t, Phi_t)`` once trained),
    this is an estimate of the conditional mutual information ``I(A_t; Phi_t | X_t)``; it is zero
    exactly when ``h(.|X_t, Phi_t) = pi(.|X_t)``. The policy is stopped here and the classifier's
    parameters in ``h_logits`` (the agent builds them so), so it trains ``Phi`` only.
    """
    chex.assert_rank([pi_logits, h_logits], 2)
    chex.assert_equal_shape([pi_logits, h_logits])
    return jnp.mean(categorical_kl(sg(pi_logits), h_logits))


def hindsight_model_loss(pred: jax.Array, target: jax.Array) -> jax.Array:
    """One-step model regression ``0.5 ||m(X_t, A_t) - [f_{t+1}; r_{t+1}]||^2``, averaged over steps
    (trains ``m`` only: the GRU reads its stopped prediction errors). Not in the paper."""
    chex.assert_rank([pred, target], 2)
    chex.assert_equal_shape([pred, target])
    return 0.5 * jnp.mean(jnp.sum(jnp.square(pred - sg(target)), -1))


# -- the losses over CCAInputs (no options: config None) --------------------------------------------
def make_cca_policy(config: Optional[PluginConfig] = None) -> Loss:
    """``cca_policy_loss``, hindsight-weighted where the inputs hold ``hindsight_probs``."""
    return stateless(CCAInputs, lambda x: (cca_policy_loss(x.logits, x.action, x.returns, x.fc_q, x.hindsight_probs), {}))


def make_fc_policy(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(CCAInputs, lambda x: (fc_policy_loss(x.logits, x.action, x.returns, x.fc_value), {}))


def make_fc_value(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(CCAInputs, lambda x: (fc_value_loss(x.fc_value, x.returns), {}))


def make_fc_critic(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(CCAInputs, lambda x: (fc_critic_loss(x.fc_q, x.action, x.returns), {}))


def make_hindsight_classifier(config: Optional[PluginConfig] = None) -> Loss:
    """Metrics: ``accuracy``."""

    def apply(x: CCAInputs) -> tuple[jax.Array, dict]:
        loss, acc = hindsight_classifier_loss(x.hindsight_logits, x.action)
        return loss, {"accuracy": acc}

    return stateless(CCAInputs, apply)


def make_independence(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(CCAInputs, lambda x: (independence_loss(x.logits, x.independence_logits), {}))


def make_hindsight_model(config: Optional[PluginConfig] = None) -> Loss:
    """Zero where the agent builds no innovations (``model_pred`` None)."""

    def apply(x: CCAInputs) -> tuple[jax.Array, dict]:
        if x.model_pred is None:
            return jnp.zeros(()), {}
        return hindsight_model_loss(x.model_pred, x.model_target), {}

    return stateless(CCAInputs, apply)
