"""MuZero on mctx, with the planning study's interventions (Hamrick et al. 2021) as config fields."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.muzero.agent import INPUTS, MuZeroConfig, make_muzero
from rlk.plugins.muzero.losses import LOSSES


@hookimpl
def rlk_register_agents(register):
    register("muzero", make_muzero, two_player=True, config=MuZeroConfig, inputs=INPUTS,
             description="MuZero with mctx search; planning-study knobs (Schrittwieser 2020; Hamrick 2021)")


@hookimpl
def rlk_register_losses(register):
    for name, (make, config, description) in LOSSES.items():
        register(name, make, config=config, description=description)


@hookimpl
def rlk_register_commands(app):
    from rlk.plugins.muzero.play import register_play_command

    register_play_command(app)
