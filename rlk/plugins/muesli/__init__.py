"""Muesli (Hessel et al. 2021): CMPO-regularised policy optimisation with a learned model as auxiliary loss."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.muesli.agent import MuesliConfig, make_muesli
from rlk.plugins.muesli.losses import LOSSES


@hookimpl
def rlk_register_agents(register):
    register("muesli", make_muesli, config=MuesliConfig,
             description="Muesli: CMPO + model loss, no search at acting time (Hessel et al. 2021)")


@hookimpl
def rlk_register_losses(register):
    for name, fn in LOSSES.items():
        register(name, fn)
