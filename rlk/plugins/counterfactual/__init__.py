"""Counterfactual credit assignment (Mesnard et al. 2021): future-conditional baselines and critics.

Registration reads only ``config.py``; the agent, environments and losses (jax) import when a run builds them.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.counterfactual.config import (INPUTS, LOSSES, BanditFeedbackConfig, CCAConfig, KeyToDoorConfig, PGBaselineConfig,
                                              TaskInterleavingConfig)


@hookimpl
def rlk_register_agents(register):
    make_cca = lazy("rlk.plugins.counterfactual.agent:make_cca")
    register("cca", make_cca, config=CCAConfig, inputs=INPUTS,
             description="CCA-PG: future-conditional critic + independence loss (Mesnard et al. 2021)")
    register("pg_baseline", make_cca, config=PGBaselineConfig, inputs=INPUTS,
             description="policy gradient with a state baseline (the control of CCA)")


@hookimpl
def rlk_register_envs(register):
    register("bandit-feedback", lazy("rlk.plugins.counterfactual.envs:BanditFeedback"), config=BanditFeedbackConfig,
             description="contextual bandit with noisy reward and a feedback vector (Mesnard et al. 2021)")
    register("key-to-door", lazy("rlk.plugins.counterfactual.envs:KeyToDoor"), config=KeyToDoorConfig,
             description="Key-to-Door with distractor apples, apples=low|high variance (Mesnard et al. 2021)")
    register("task-interleaving", lazy("rlk.plugins.counterfactual.envs:TaskInterleaving"), config=TaskInterleavingConfig,
             description="interleaved contextual-bandit tasks with delayed rewards (assumed definition; Mesnard et al. 2021)")


@hookimpl
def rlk_register_losses(register):
    for name, (make, config, description) in LOSSES.items():
        register(name, make, config=config, description=description)
