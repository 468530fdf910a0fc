"""Muesli (Hessel et al. 2021): CMPO-regularised policy optimisation with a learned model as auxiliary loss.

Registration reads only ``config.py``; the agent and losses (jax, rlax) import when a run builds them.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.muesli.config import INPUTS, LOSSES, MuesliConfig


@hookimpl
def rlk_register_agents(register):
    register("muesli", lazy("rlk.plugins.muesli.agent:make_muesli"), two_player=True, config=MuesliConfig, inputs=INPUTS,
             description="Muesli: CMPO + model loss, no search at acting time (Hessel et al. 2021)")


@hookimpl
def rlk_register_losses(register):
    for name, (make, config, description) in LOSSES.items():
        register(name, make, config=config, description=description)
