"""Baseline actor-critic agents (PPO, V-trace/IMPALA) and their losses, registered by name.

Registration reads only ``config.py``; the agents and losses (jax, rlax) import when a run builds them.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.actor_critic.config import LOSSES, PPO_INPUTS, VTRACE_INPUTS, PPOConfig, VTraceConfig


@hookimpl
def rlk_register_agents(register):
    register("ppo", lazy("rlk.plugins.actor_critic.ppo:make_ppo"), config=PPOConfig, inputs=PPO_INPUTS,
             description="PPO: clipped surrogate, GAE (Schulman et al. 2017)")
    register("vtrace", lazy("rlk.plugins.actor_critic.vtrace:make_vtrace"), config=VTraceConfig, inputs=VTRACE_INPUTS,
             description="IMPALA V-trace actor-critic (Espeholt et al. 2018)")


@hookimpl
def rlk_register_losses(register):
    for name, (make, config, description) in LOSSES.items():
        register(name, make, config=config, description=description)
