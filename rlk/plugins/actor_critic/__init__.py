"""Baseline actor-critic agents (PPO, V-trace/IMPALA) and their losses, registered by name."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.actor_critic.losses import LOSSES
from rlk.plugins.actor_critic.ppo import PPOConfig, make_ppo
from rlk.plugins.actor_critic.vtrace import VTraceConfig, make_vtrace


@hookimpl
def rlk_register_agents(register):
    register("ppo", make_ppo, config=PPOConfig, description="PPO: clipped surrogate, GAE (Schulman et al. 2017)")
    register("vtrace", make_vtrace, config=VTraceConfig, description="IMPALA V-trace actor-critic (Espeholt et al. 2018)")


@hookimpl
def rlk_register_losses(register):
    for name, fn in LOSSES.items():
        register(name, fn)
