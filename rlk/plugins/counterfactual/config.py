"""Counterfactual credit assignment's registration data, light (no jax): the agents' and environments'
configs, ``CCAInputs`` (the loss input type CCA produces) and the losses by name. The package registers
from here; ``agent``, ``envs`` and ``losses`` import when a run builds them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple, Optional

from pydantic import Field, model_validator

from rlk.core.config import HiddenSizes, PluginConfig
from rlk.core.hookspecs import lazy
from rlk.core.losses import PolicyInputs, ValueInputs
from rlk.learn.optim import OptimConfig

if TYPE_CHECKING:
    import jax


class CCAInputs(NamedTuple):
    """What CCA's losses read, on ``N`` steps, with the stop-gradients that route each loss to its parameters.

    ``A`` actions; ``F + 1`` the size of the one-step model's target ``[f_{t+1}; r_{t+1}]``.

    Attributes:
      logits: ``[N, A]`` the policy's logits of ``pi(.|X_t)``.
      action: ``[N]`` int, the action ``A_t`` taken.
      returns: ``[N]`` the return ``G_t`` (no gradient).
      fc_value: ``[N]`` ``V(X_t, Phi_t)``.
      fc_q: ``[N, A]`` ``Q(X_t, Phi_t, .)``.
      hindsight_logits: ``[N, A]`` ``h(.|X_t, sg(Phi_t))`` (trains the classifier only).
      independence_logits: ``[N, A]`` ``h_sg(.|X_t, Phi_t)``, the classifier's parameters stopped (trains
        the hindsight network only).
      hindsight_probs: ``[N, A]`` or None: ``sg h(.|X_t, sg Phi_t)`` from the classifier as it was before this
        update (so independent of this unroll's actions), the weights of ``cca_policy``'s all-action term
        (agent option ``critic_weighting='hindsight'``).
      model_pred: ``[N, F + 1]`` or None: the one-step model's ``m(X_t, A_t)`` (agent option
        ``hindsight_inputs='*innovations'``).
      model_target: ``[N, F + 1]`` or None: what it regresses on, ``[f_{t+1}; r_{t+1}]``.
    """

    logits: jax.Array
    action: jax.Array
    returns: jax.Array
    fc_value: jax.Array
    fc_q: jax.Array
    hindsight_logits: jax.Array
    independence_logits: jax.Array
    hindsight_probs: Optional[jax.Array] = None
    model_pred: Optional[jax.Array] = None
    model_target: Optional[jax.Array] = None


INPUTS = (PolicyInputs, ValueInputs, CCAInputs)

CCA_WEIGHTS = {"cca_policy": 1.0, "cca_fc_critic": 0.5, "cca_hindsight_classifier": 1.0,
               "cca_independence": 1.0, "value": 0.5, "entropy": 0.01,
               "cca_hindsight_model": 1.0}  # zero unless hindsight_inputs is '(reward_)innovations'


PG_WEIGHTS = {"policy_gradient": 1.0, "value": 0.5, "entropy": 0.01}


class CCAConfig(OptimConfig):
    """CCA's options; the optimiser's (``rlk.learn.OptimConfig``, Adam by default) applies to every parameter
    group, each at its own step size, under one global-norm clip."""

    num_envs: int = Field(64, gt=0, description="parallel environments (global batch, split over devices)")
    unroll_length: Optional[int] = Field(None, gt=0, description="steps per unroll; default: the env's episode "
                                                                "length (whole episodes for the hindsight GRU)")
    learning_rate: float = Field(1e-3, gt=0, description="step size of the policy, values and critics")
    hindsight_learning_rate: Optional[float] = Field(
        3e-4, gt=0, description="step size of the hindsight GRU (Phi); None: learning_rate. Slower than the "
                                "classifier's (two time scales), so the classifier keeps up with Phi")
    classifier_learning_rate: float = Field(1e-2, gt=0, description="step size of the hindsight classifier h")
    model_learning_rate: Optional[float] = Field(
        None, gt=0, description="step size of the one-step model m of the innovations (hindsight_inputs "
                                "'*innovations'); None: learning_rate. A faster m shortens the early phase in which "
                                "its errors carry the action into Phi")
    model_hidden_sizes: Optional[HiddenSizes] = Field(
        None, description="hidden sizes of the one-step model m of the innovations; None: hidden_sizes; []: linear "
                          "in [X_t; onehot(A_t)], i.e. additive in context and action, so every action's effect is "
                          "learned from all contexts (fewer samples per parameter for the rarely taken actions)")
    model_fit: Literal["adam", "least_squares"] = Field(
        "adam", description="how the one-step model m of the innovations is fit: 'adam' (the cca_hindsight_model "
                            "regression, a step per unroll) or 'least_squares' (not in the paper: m linear in "
                            "[X_t; onehot(A_t); 1], set after every update to the ridge solution on all transitions "
                            "seen so far, from running sums; no constant-step-size noise floor, so its error keeps "
                            "falling as 1/sqrt(n); needs model_hidden_sizes unset or [])")
    model_ridge: float = Field(1.0, gt=0, description="ridge added to the least-squares normal equations (model_fit); small against the counts, large enough for float32 with collinear one-hot inputs")
    classifier_steps: int = Field(
        5, ge=1, description="classifier-only optimiser steps (cross-entropy on sg(Phi)) on each unroll before the "
                             "joint step; the joint step leaves the classifier alone")
    max_grad_norm: Optional[float] = Field(1.0, gt=0, description="global gradient-norm clip (of the joint step, and "
                                                                  "of each classifier step)")
    gamma: float = Field(1.0, ge=0, le=1, description="discount (the illustrative tasks are short and episodic)")
    hidden_sizes: HiddenSizes = Field((64, 64), description="MLP hidden sizes of every head")
    hindsight_size: int = Field(32, gt=0, description="size of the hindsight statistic Phi (GRU state)")
    hindsight_inputs: Literal["all", "reward", "features", "innovations", "reward_innovations",
                              "feature_innovations"] = Field(
        "all", description="what the hindsight GRU reads after each action: 'all' (info['hindsight'] or the next "
                           "observation, and the reward), 'reward' (the rewards only), 'features' (no rewards) or "
                           "'innovations' (not in the paper: 'all' minus its prediction sg m(X_t, A_t) by a one-step "
                           "model trained by the cca_hindsight_model loss; each step's innovation has conditional mean "
                           "zero given the past and A_t, so Phi is mean-independent of A_t to first order; "
                           "agent.hindsight_innovations); 'reward_innovations': the same with the feature innovations "
                           "zeroed (the GRU reads r_{t+1} - m_r(X_t, A_t) only); 'feature_innovations': the reward innovations "
                           "zeroed instead (f_{t+1} - m_f(X_t, A_t) only)")
    critic_weighting: Literal["policy", "hindsight"] = Field(
        "policy", description="weights w(a) of the all-action term sum_a w(a) grad log pi(a|X) Q(X, Phi, a) of "
                              "cca_policy: 'policy' (w = pi, the paper's CCA-PG, unbiased only if Phi is independent "
                              "of A given X) or 'hindsight' (w = h(a|X, Phi) from the classifier as it was before this "
                              "update: the hindsight-ratio form, unbiased for any Phi when h is the true posterior; "
                              "losses.cca_surrogate)")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: dict(CCA_WEIGHTS),
        description="named losses and weights; cca_independence is the independence weight lambda",
    )


class PGBaselineConfig(CCAConfig):
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: dict(PG_WEIGHTS), description="named losses and weights (state-baseline PG)")


class BanditFeedbackConfig(PluginConfig):
    num_contexts: int = Field(10, gt=0, description="number of contexts C")
    num_actions: int = Field(4, ge=2, description="number of actions A")
    noise_dim: int = Field(4, gt=0, description="dimension k of the noise eps (eps_0 drives the reward)")
    feedback_dim: int = Field(32, gt=0, description="dimension of the feedback vector f = W [x; a; eps]")
    reward_noise: float = Field(2.0, ge=0, description="sigma, scale of the reward noise sigma * eps_0")
    task_seed: int = Field(0, ge=0, description="seed of the fixed mean rewards mu and mixing matrix W")
    hindsight: Literal["feedback", "noise", "mixed_noise"] = Field(
        "feedback", description="info['hindsight'] after the step: [onehot(x); f] (the feedback vector, which mixes "
                                "in the action), or 'noise': [onehot(x); eps; 0] (the reward's luck only, independent "
                                "of the action by construction: an oracle statistic), or 'mixed_noise': "
                                "[onehot(x); W_eps eps] (the feedback minus its mean given x and a: what a perfect "
                                "one-step model leaves as the innovation; an oracle as mixed as the feedback)")


class KeyToDoorConfig(PluginConfig):
    room_size: int = Field(3, ge=2, description="side R of the square room")
    key_steps: int = Field(6, gt=0, description="steps of phase 1 (key room)")
    apple_steps: int = Field(15, gt=0, description="steps of phase 2 (apple room, distractor rewards)")
    apple_prob: float = Field(0.5, ge=0, le=1, description="probability that a cell holds an apple in phase 2")
    apples: Literal["low", "high"] = Field("high", description="apple reward variance: 'low' (fixed) or 'high' (Gaussian)")
    apple_reward: float = Field(1.0, description="reward of an apple (its mean under apples='high')")
    apple_std: float = Field(5.0, ge=0, description="std of an apple's reward under apples='high'")
    door_reward: float = Field(5.0, description="reward of opening the door with the key (phase 3)")
    hindsight: Literal["observation", "noise", "apples"] = Field(
        "observation", description="info['hindsight']: the next observation; 'noise': only the apple noise "
                                   "apple_std * z drawn at that step (eaten or not; independent of the actions); "
                                   "'apples': only the apple reward of that step (not the door's); zero-padded")


class TaskInterleavingConfig(PluginConfig):
    num_tasks: int = Field(2, ge=1, description="number of interleaved tasks K")
    num_contexts: int = Field(4, gt=0, description="contexts per task")
    num_actions: int = Field(4, ge=2, description="number of actions")
    num_queries: int = Field(10, gt=0, description="queries per episode (one per step), each from a uniform task")
    delay: int = Field(3, ge=0, description="steps between an answer and its reward")
    reward_scales: list[float] = Field([1.0, 10.0], description="per task: scale of its mean rewards mu_k ~ scale_k U(0, 1)")
    reward_noise: float = Field(0.0, ge=0, description="std of the Gaussian noise added to every reward")
    task_seed: int = Field(0, ge=0, description="seed of the fixed mean-reward tables")

    @model_validator(mode="after")
    def _one_scale_per_task(self) -> "TaskInterleavingConfig":
        if len(self.reward_scales) != self.num_tasks:
            raise ValueError(f"reward_scales has {len(self.reward_scales)} entries, one per task is needed "
                             f"(num_tasks {self.num_tasks})")
        return self


# name -> (factory, config class or None, description)
LOSSES = {
    "cca_policy": (lazy("rlk.plugins.counterfactual.losses:make_cca_policy"), None, "CCA-PG policy loss, Mesnard et al. 2021 section 3 (CCAInputs)"),
    "cca_fc_policy": (lazy("rlk.plugins.counterfactual.losses:make_fc_policy"), None, "FC-PG policy loss, baseline V(X, Phi), section 3 (CCAInputs)"),
    "cca_fc_value": (lazy("rlk.plugins.counterfactual.losses:make_fc_value"), None, "future-conditional baseline regression 0.5 (G - V(X, Phi))^2 (CCAInputs)"),
    "cca_fc_critic": (lazy("rlk.plugins.counterfactual.losses:make_fc_critic"), None, "future-conditional critic regression 0.5 (G - Q(X, Phi, A))^2 (CCAInputs)"),
    "cca_hindsight_classifier": (lazy("rlk.plugins.counterfactual.losses:make_hindsight_classifier"), None,
                                 "hindsight classifier cross-entropy -log h(A|X, Phi) (CCAInputs)"),
    "cca_independence": (lazy("rlk.plugins.counterfactual.losses:make_independence"), None, "independence KL(pi(.|X) || h(.|X, Phi)), trains Phi (CCAInputs)"),
    "cca_hindsight_model": (lazy("rlk.plugins.counterfactual.losses:make_hindsight_model"), None,
                            "one-step model regression of the innovations, not in the paper (CCAInputs)"),
}
