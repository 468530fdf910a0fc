"""FuzzyBear's config, light (no jax): the package registers from here; ``env`` imports when a run builds
the environment."""

from __future__ import annotations

from pydantic import Field

from rlk.core.config import PluginConfig


class FuzzyBearConfig(PluginConfig):
    # Rezende et al. 2020, Section 3 (FuzzyBear): stay home 0.6; hug a teddy +1, hug a grizzly -0.5,
    # run away 0; teddy or grizzly with equal probability. The paper's text could not be read here: these
    # are recalled and agree with an independent re-implementation (the README says which, and what it checks).
    stay_reward: float = Field(0.6, description="reward for staying home")
    hug_teddy_reward: float = Field(1.0, description="reward for hugging a teddy bear")
    hug_grizzly_reward: float = Field(-0.5, description="reward for hugging a grizzly bear")
    run_reward: float = Field(0.0, description="reward for running away from either bear")
    p_grizzly: float = Field(0.5, ge=0.0, le=1.0, description="probability that the hidden bear is a grizzly")
