"""Causally correct partial models (Rezende et al. 2020): the FuzzyBear environment (``fuzzy-bear``),
naive and backdoor-conditioned partial models, and a planner. The experiment over seeds is
``python -m experiments.partial_models.experiment`` (the repository's ``experiments/``, not installed)."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.partial_models.config import FuzzyBearConfig


@hookimpl
def rlk_register_envs(register):
    register("fuzzy-bear", lazy("rlk.plugins.partial_models.env:FuzzyBear"), config=FuzzyBearConfig,
             description="FuzzyBear (Rezende 2020): stay home or meet a hidden teddy/grizzly; pure JAX")
