"""CCA losses (Mesnard et al. 2021, arXiv 2011.09464, section 3), each a named pure function
``(outputs, batch, config) -> (scalar, metrics)`` over a batch of ``N`` steps.

Notation: ``X_t`` the agent's state, ``A_t`` its action, ``G_t`` the return, ``Phi_t`` the hindsight
statistic (a function of the trajectory from ``t`` on), ``pi(.|X_t)`` the policy,
``h(.|X_t, Phi_t)`` the hindsight classifier, ``V(X_t, Phi_t)`` the future-conditional baseline and
``Q(X_t, Phi_t, .)`` the future-conditional critic.

``outputs`` (from the agent, with the stop-gradients that route each loss to its parameters):

- ``logits [N, A]``: the policy's logits.
- ``fc_value [N]``: ``V(X_t, Phi_t)``; ``fc_q [N, A]``: ``Q(X_t, Phi_t, .)``.
- ``hindsight_logits [N, A]``: ``h(.|X_t, sg(Phi_t))`` (trains the classifier only).
- ``independence_logits [N, A]``: ``h_sg(.|X_t, Phi_t)``, the classifier's parameters stopped
  (trains the hindsight network only).
- ``hindsight_probs [N, A]`` (only with ``critic_weighting='hindsight'``): ``sg h(.|X_t, sg Phi_t)``
  from the classifier as it was before this update (so independent of this unroll's actions),
  the weights of the all-action term of ``cca_policy``.

- ``model_pred [N, F + 1]`` (only with ``hindsight_inputs='innovations'``): the one-step model's
  ``m(X_t, A_t)``, regressed on ``batch['model_target']`` = ``[f_{t+1}; r_{t+1}]``.

``batch``: ``action [N]``, ``return [N]`` (``G_t``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

sg = jax.lax.stop_gradient


def categorical_kl(p_logits: jax.Array, q_logits: jax.Array) -> jax.Array:
    """``KL(p || q) = sum_a p(a) (log p(a) - log q(a))`` over the last axis (``[...]``)."""
    log_p, log_q = jax.nn.log_softmax(p_logits), jax.nn.log_softmax(q_logits)
    return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


def _log_prob(logits: jax.Array, action: jax.Array) -> jax.Array:
    return jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None].astype(jnp.int32), -1)[..., 0]


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

    ``Q``, ``G`` and ``h`` receive no gradient.
    """
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
    (state baseline ``V(X_t)``, or the future-conditional ``V(X_t, Phi_t)`` of FC-PG, section 3)."""
    return _log_prob(logits, action) * sg(g - baseline)


def cca_policy_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """CCA-PG policy loss: the negated mean of ``cca_surrogate`` (minimise to ascend the return);
    hindsight-weighted when ``outputs`` holds ``hindsight_probs`` (agent option ``critic_weighting``)."""
    del config
    surrogate = cca_surrogate(outputs["logits"], batch["action"], batch["return"], outputs["fc_q"],
                              outputs.get("hindsight_probs"))
    return -jnp.mean(surrogate), {}


def fc_policy_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """FC-PG policy loss: ``-log pi(A_t|X_t) sg(G_t - V(X_t, Phi_t))``, averaged (FC-PG, section 3)."""
    del config
    return -jnp.mean(baseline_surrogate(outputs["logits"], batch["action"], batch["return"], outputs["fc_value"])), {}


def fc_value_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Future-conditional baseline regression ``0.5 (G_t - V(X_t, Phi_t))^2``, averaged."""
    del config
    return 0.5 * jnp.mean(jnp.square(outputs["fc_value"] - batch["return"])), {}


def fc_critic_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Future-conditional critic regression ``0.5 (G_t - Q(X_t, Phi_t, A_t))^2``, averaged."""
    del config
    q_a = jnp.take_along_axis(outputs["fc_q"], batch["action"][..., None].astype(jnp.int32), -1)[..., 0]
    return 0.5 * jnp.mean(jnp.square(q_a - batch["return"])), {}


def hindsight_classifier_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Cross-entropy ``-log h(A_t | X_t, Phi_t)`` of the hindsight classifier, averaged (section 3).

    The agent feeds ``sg(Phi_t)``: this loss trains the classifier, not the statistic.
    Metrics: ``accuracy`` of ``argmax h`` against ``A_t``.
    """
    del config
    logits = outputs["hindsight_logits"]
    acc = jnp.mean((jnp.argmax(logits, -1) == batch["action"]).astype(jnp.float32))
    return -jnp.mean(_log_prob(logits, batch["action"])), {"accuracy": acc}


def independence_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Independence maximisation ``KL(pi(.|X_t) || h(.|X_t, Phi_t))``, averaged (section 3)..

    With ``h`` the hindsight classifier (the Bayes posterior ``P(A_t | X_t, Phi_t)`` once trained),
    this is an estimate of the conditional mutual information ``I(A_t; Phi_t | X_t)``; it is zero
    exactly when ``h(.|X_t, Phi_t) = pi(.|X_t)``. The policy and the classifier's parameters are
    stopped (``outputs['independence_logits']`` is built so), so it trains ``Phi`` only.
    """
    del batch, config
    return jnp.mean(categorical_kl(sg(outputs["logits"]), outputs["independence_logits"])), {}


def hindsight_model_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """One-step model regression ``0.5 ||m(X_t, A_t) - [f_{t+1}; r_{t+1}]||^2``, averaged over steps
    (trains ``m`` only: the GRU reads its stopped prediction errors); zero when the agent does not
    build the innovations (``hindsight_inputs`` other than 'innovations'). Not in the paper."""
    del config
    if "model_pred" not in outputs:
        return jnp.zeros(()), {}
    return 0.5 * jnp.mean(jnp.sum(jnp.square(outputs["model_pred"] - sg(batch["model_target"])), -1)), {}


LOSSES = {
    "cca_policy": cca_policy_loss,
    "cca_fc_policy": fc_policy_loss,
    "cca_fc_value": fc_value_loss,
    "cca_fc_critic": fc_critic_loss,
    "cca_hindsight_classifier": hindsight_classifier_loss,
    "cca_independence": independence_loss,
    "cca_hindsight_model": hindsight_model_loss,
}
HINDSIGHT_LOSSES = frozenset(LOSSES)  # losses that need the hindsight statistic
