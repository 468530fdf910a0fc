"""MuZero on mctx, with the planning study's interventions (Hamrick et al. 2021) as config fields."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.muzero.agent import MuZeroConfig, make_muzero
from rlk.plugins.muzero.losses import LOSSES


@hookimpl
def rlk_register_agents(register):
    register("muzero", make_muzero, config=MuZeroConfig,
             description="MuZero with mctx search; planning-study knobs (Schrittwieser 2020; Hamrick 2021)")


@hookimpl
def rlk_register_losses(register):
    for name, fn in LOSSES.items():
        register(name, fn)


@hookimpl
def rlk_register_commands(app):
    from rlk.plugins.muzero.play import register_play_command

    register_play_command(app)
