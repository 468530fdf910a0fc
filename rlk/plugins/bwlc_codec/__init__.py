"""BWLC codec: learning coding with the bandwidth-limited channel (Ullrich, Viola & Rezende 2020)."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.bwlc_codec.config import BWLCConfig


@hookimpl
def rlk_register_models(register):
    register("bwlc_codec", lazy("rlk.plugins.bwlc_codec.model:make_bwlc_codec"), config=BWLCConfig,
             description="joint/separate coding over the bandwidth-limited channel (Ullrich et al. 2020)")
