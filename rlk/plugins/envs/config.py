"""The environment plugins' configs and names, light (pydantic only): the package registers from here,
and the environments (``catch``, ``atari``, ``mujoco``, the adapters) import jax or their library when a
run builds them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from rlk.core.config import PluginConfig


class CatchConfig(PluginConfig):
    rows: int = Field(10, ge=2, description="board height (bsuite: 10)")
    columns: int = Field(5, ge=1, description="board width (bsuite: 5)")


# The 57 games of the Atari-57 benchmark (Mnih et al. 2015; Badia et al. 2020), as ale-py ROM ids.
ATARI_57 = (
    "alien", "amidar", "assault", "asterix", "asteroids", "atlantis", "bank_heist", "battle_zone",
    "beam_rider", "berzerk", "bowling", "boxing", "breakout", "centipede", "chopper_command",
    "crazy_climber", "defender", "demon_attack", "double_dunk", "enduro", "fishing_derby", "freeway",
    "frostbite", "gopher", "gravitar", "hero", "ice_hockey", "jamesbond", "kangaroo", "krull",
    "kung_fu_master", "montezuma_revenge", "ms_pacman", "name_this_game", "phoenix", "pitfall", "pong",
    "private_eye", "qbert", "riverraid", "road_runner", "robotank", "seaquest", "skiing", "solaris",
    "space_invaders", "star_gunner", "surround", "tennis", "time_pilot", "tutankham", "up_n_down",
    "venture", "video_pinball", "wizard_of_wor", "yars_revenge", "zaxxon",
)

FULL_ACTION_SET_SIZE = 18
IMAGE_SIZE = 84


class AtariConfig(PluginConfig):
    """ale-py's preprocessing and protocol; defaults after Mnih et al. 2015 and Machado et al. 2018."""

    repeat_action_probability: float = Field(
        0.25, ge=0, le=1, description="sticky actions: chance a frame repeats the previous action (Machado et al. 2018: 0.25)")
    full_action_space: bool = Field(False, description="all 18 actions instead of the game's minimal set (Machado et al. 2018: minimal)")
    frameskip: int = Field(4, gt=0, description="frames per agent step, max-pooled over the last 2 (Mnih et al. 2015: 4)")
    frame_stack: int = Field(4, gt=0, description="frames stacked in an observation (Mnih et al. 2015: 4)")
    noop_max: int = Field(30, ge=0, description="up to this many no-op frames at the start of an episode (Mnih et al. 2015: 30)")
    use_fire_reset: bool = Field(True, description="press FIRE after reset in games that need it (ale-py's default)")
    episodic_life: bool = Field(
        False, description="a lost life ends the episode for learning (discount 0, last) without resetting the game "
                           "(Mnih et al. 2015 used it; Machado et al. 2018 advise against)")
    max_episode_frames: int = Field(
        108_000, gt=0, description="truncate an episode after this many frames (30 min; Hessel et al. 2018: 108K)")
    num_threads: int = Field(0, ge=0, description="C++ worker threads per batch of environments (0: ale-py chooses)")


MUJOCO_ENVS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5")
OBS_CLIP = 10.0
OBS_EPS = 1e-8


class MujocoConfig(PluginConfig):
    """Observation filter and vectorisation; defaults after PPO's MuJoCo setup (Schulman et al. 2017)."""

    normalize_observations: bool = Field(
        True, description="normalise observations by running mean/var, clipped at +-clip_observations (PPO/baselines)")
    clip_observations: float = Field(OBS_CLIP, gt=0, description="clip of normalised observations (baselines: 10)")
    vector: Literal["sync", "async"] = Field(
        "sync", description="gymnasium SyncVectorEnv (in-thread) or AsyncVectorEnv (a process per environment)")
    async_context: Literal["spawn", "forkserver", "fork"] = Field(
        "spawn", description="multiprocessing start method of the async vector env")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments for gymnasium.make (e.g. ctrl_cost_weight)")
