"""Muesli (Hessel et al. 2021): CMPO-regularised policy optimisation with a learned model as auxiliary loss."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.muesli.agent import INPUTS, make_muesli
from rlk.plugins.muesli.config import MuesliConfig
from rlk.plugins.muesli.losses import LOSSES


@hookimpl
def rlk_register_agents(register):
    register("muesli", make_muesli, two_player=True, config=MuesliConfig, inputs=INPUTS,
             description="Muesli: CMPO + model loss, no search at acting time (Hessel et al. 2021)")


@hookimpl
def rlk_register_losses(register):
    for name, (make, config, description) in LOSSES.items():
        register(name, make, config=config, description=description)
