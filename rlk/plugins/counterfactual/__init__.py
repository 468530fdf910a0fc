"""Counterfactual credit assignment (Mesnard et al. 2021): future-conditional baselines and critics."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.counterfactual.agent import INPUTS, CCAConfig, PGBaselineConfig, make_cca
from rlk.plugins.counterfactual.envs import BanditFeedback, BanditFeedbackConfig, KeyToDoor, KeyToDoorConfig
from rlk.plugins.counterfactual.losses import LOSSES


@hookimpl
def rlk_register_agents(register):
    register("cca", make_cca, config=CCAConfig, inputs=INPUTS,
             description="CCA-PG: future-conditional critic + independence loss (Mesnard et al. 2021)")
    register("pg_baseline", make_cca, config=PGBaselineConfig, inputs=INPUTS,
             description="policy gradient with a state baseline (the control of CCA)")


@hookimpl
def rlk_register_envs(register):
    register("bandit-feedback", BanditFeedback, config=BanditFeedbackConfig,
             description="contextual bandit with noisy reward and a feedback vector (Mesnard et al. 2021)")
    register("key-to-door", KeyToDoor, config=KeyToDoorConfig,
             description="Key-to-Door with distractor apples, apples=low|high variance (Mesnard et al. 2021)")


@hookimpl
def rlk_register_losses(register):
    for name, (make, config, description) in LOSSES.items():
        register(name, make, config=config, description=description)
