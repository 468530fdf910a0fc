"""FuzzyBear's config, light (no jax): the package registers from here; ``env`` imports when a run builds
the environment."""

from __future__ import annotations

from pydantic import Field

from rlk.core.config import PluginConfig


class FuzzyBearConfig(PluginConfig):
    # Rewards of the paper's Fig. 1 (stay 0.6; hug teddy 1, hug grizzly 0, run 0.5; bears 50/50).
    stay_reward: float = Field(0.6, description="reward for staying home")
    hug_teddy_reward: float = Field(1.0, description="reward for hugging a teddy bear")
    hug_grizzly_reward: float = Field(0.0, description="reward for hugging a grizzly bear")
    run_reward: float = Field(0.5, description="reward for running away from either bear")
    p_grizzly: float = Field(0.5, ge=0.0, le=1.0, description="probability that the hidden bear is a grizzly")
