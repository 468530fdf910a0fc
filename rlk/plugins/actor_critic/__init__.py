"""Baseline actor-critic agents (PPO, V-trace/IMPALA) and their losses, registered by name."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.actor_critic import ppo, vtrace
from rlk.plugins.actor_critic.losses import LOSSES


@hookimpl
def rlk_register_agents(register):
    register("ppo", ppo.make_ppo, config=ppo.PPOConfig, inputs=ppo.INPUTS,
             description="PPO: clipped surrogate, GAE (Schulman et al. 2017)")
    register("vtrace", vtrace.make_vtrace, config=vtrace.VTraceConfig, inputs=vtrace.INPUTS,
             description="IMPALA V-trace actor-critic (Espeholt et al. 2018)")


@hookimpl
def rlk_register_losses(register):
    for name, (make, config, description) in LOSSES.items():
        register(name, make, config=config, description=description)
