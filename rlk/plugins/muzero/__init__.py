"""MuZero on mctx, with the planning study's interventions (Hamrick et al. 2021) as config fields.

Registration reads only ``config.py`` and ``command.py``; the agent, losses and match (jax, mctx) import
when a run or ``rlk play`` uses them.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.muzero.command import register_play_command
from rlk.plugins.muzero.config import INPUTS, LOSSES, MuZeroConfig


@hookimpl
def rlk_register_agents(register):
    register("muzero", lazy("rlk.plugins.muzero.agent:make_muzero"), two_player=True, config=MuZeroConfig, inputs=INPUTS,
             description="MuZero with mctx search; planning-study knobs (Schrittwieser 2020; Hamrick 2021)")


@hookimpl
def rlk_register_losses(register):
    for name, (make, config, description) in LOSSES.items():
        register(name, make, config=config, description=description)


@hookimpl
def rlk_register_commands(app):
    register_play_command(app)
