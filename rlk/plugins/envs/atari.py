"""Atari 2600 games as rlk ``HostEnvironment``s, through ale-py's native batched ``AtariVectorEnv``.

ale-py (>= 0.10) steps a batch of emulators in C++ threads and does the DQN preprocessing there
(Mnih et al. 2015, "Human-level control through deep RL", Methods): an action repeated for 4
frames, the max over the last 2 of them, grey 84x84, the last 4 such frames stacked. On top of
that this module follows Machado et al. 2018 ("Revisiting the ALE"): sticky actions (the previous
action is repeated with probability 0.25 at every frame), no loss-of-life episodes, the minimal
action set by default; and caps an episode at 108,000 frames (30 minutes of play, 27,000 agent
steps; the cap of Rainbow, Hessel et al. 2018, and IMPALA, Espeholt et al. 2018) as a truncation.

Mapping to ``TimeStep`` (numpy, batched ``[num_envs]``):

- ``observation``: uint8 ``[num_envs, 4, 84, 84]``, frames first (stack, height, width), oldest
  frame first, values 0..255 (the agent's torso casts to float and scales by 1/255).
- auto-reset: ale-py's ``AtariVectorEnv`` defaults to ``autoreset_mode=NEXT_STEP`` (after an
  episode ends, the *next* ``step`` ignores its action and returns the reset observation). We
  build it with ``autoreset_mode=SAME_STEP`` instead, which its C++ core supports: the step that
  ends an episode returns the new episode's first observation (the old last one is in
  ``info['final_obs']``, unused here) with the reward and termination of the ending transition;
  exactly rlk's convention, so no conversion is needed.
- ``reward``: float32, the raw game score change (ale-py's ``reward_clipping`` is turned off;
  clipping is the agent's business).
- ``discount``: 0 where the game terminated (game over, or a life lost under ``episodic_life``),
  1 otherwise (the 108K-frame truncation keeps 1). ``last``: terminated | truncated.
- ``info``: ``episode_return`` float32 / ``episode_length`` int32 (agent steps) of the *games* that
  ended on this step, 0 elsewhere. With ``episodic_life`` a lost life sets ``last`` (and discount
  0) without resetting the game, and the statistics still cover whole games.
- ``legal_action_mask``, ``current_player``: None.

Threads: each ``AtariVectorEnv`` owns a pool of ``num_threads`` C++ worker threads, and its ``step``
releases the GIL, so several batches in several Python threads run in parallel; a batch may be
stepped from a thread other than the one that built it (one thread at a time per batch).
"""

from __future__ import annotations

import functools
from typing import Optional

import numpy as np

from rlk.core.extras import require
from rlk.core.interfaces import HostEnvironment, HostEnvironmentFactory
from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, TimeStep
from rlk.plugins.envs.config import ATARI_57, FULL_ACTION_SET_SIZE, IMAGE_SIZE, AtariConfig  # noqa: F401 (ATARI_57 re-exported)

@functools.lru_cache(maxsize=None)
def minimal_action_set_size(game: str) -> int:
    """Size of ``game``'s minimal action set (loads the ROM once, about 0.1 s; cached)."""
    import ale_py
    from ale_py import roms

    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    ale = ale_py.ALEInterface()
    ale.loadROM(roms.get_rom_path(game))
    return len(ale.getMinimalActionSet())


def _check_game(game: str) -> None:
    from ale_py import roms

    from rlk.core.errors import RlkError

    if roms.get_rom_path(game) is None:
        raise RlkError(f"ale-py has no ROM '{game}' (ids are snake_case, e.g. 'ms_pacman')")


def per_env_seeds(seed: int, num_envs: int) -> np.ndarray:
    """Independent int32 seeds for ``num_envs`` environments from one seed (``numpy.SeedSequence``),
    so batches made with seeds ``s`` and ``s + 1`` share no environment seed."""
    state = np.random.SeedSequence(seed).generate_state(num_envs, np.uint32)
    return (state % np.uint32(2**31 - 1)).astype(np.int32)


class AtariHostEnv(HostEnvironment):
    """``num_envs`` games of one ROM in an ``ale_py.vector_env.AtariVectorEnv`` (see the module docstring)."""

    def __init__(self, game: str, config: AtariConfig, spec: EnvSpec, num_envs: int, seed: int = 0):
        from ale_py.vector_env import AtariVectorEnv

        c = config
        self.game, self.config, self._spec = game, config, spec
        self.num_envs = num_envs
        self.seed = seed
        self._env = AtariVectorEnv(
            game,
            num_envs,
            num_threads=c.num_threads,
            max_num_frames_per_episode=c.max_episode_frames,
            repeat_action_probability=c.repeat_action_probability,
            full_action_space=c.full_action_space,
            autoreset_mode="SameStep",
            img_height=IMAGE_SIZE,
            img_width=IMAGE_SIZE,
            grayscale=True,
            stack_num=c.frame_stack,
            frameskip=c.frameskip,
            maxpool=True,
            noop_max=c.noop_max,
            # ale-py's own episodic_life resets the whole game at each lost life; life_loss_info
            # signals termination on a lost life and resets only at game over (DQN's EpisodicLife).
            episodic_life=False,
            life_loss_info=c.episodic_life,
            reward_clipping=False,
            use_fire_reset=c.use_fire_reset,
        )
        self._return = np.zeros(num_envs, np.float64)
        self._length = np.zeros(num_envs, np.int64)
        self._lives = np.zeros(num_envs, np.int64)

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    @property
    def vector_env(self):
        """The underlying ``AtariVectorEnv`` (for inspection)."""
        return self._env

    def reset(self, seed: Optional[int] = None) -> TimeStep:
        """Starts every game afresh; environment ``i`` is seeded from ``(seed, i)``."""
        seed = self.seed if seed is None else seed
        obs, info = self._env.reset(seed=per_env_seeds(seed, self.num_envs))
        self._return[:] = 0.0
        self._length[:] = 0
        self._lives[:] = info["lives"]
        n = self.num_envs
        return TimeStep(
            observation=obs,
            reward=np.zeros(n, np.float32),
            discount=np.ones(n, np.float32),
            last=np.zeros(n, np.bool_),
            info={"episode_return": np.zeros(n, np.float32), "episode_length": np.zeros(n, np.int32)},
        )

    def step(self, action: np.ndarray) -> TimeStep:
        """One agent step of every game with ``action [num_envs]`` (ints in ``[0, num_actions)``)."""
        action = np.asarray(action).astype(np.int32, copy=False).reshape(self.num_envs)
        obs, reward, terminated, truncated, info = self._env.step(action)
        last = np.logical_or(terminated, truncated)
        reward = reward.astype(np.float32)
        self._return += reward
        self._length += 1
        lives = info["lives"].astype(np.int64)
        if self.config.episodic_life:
            # A lost life (no reset: fewer lives than before) ends a learning episode, not a game.
            game_over = last & ~(lives < self._lives)
        else:
            game_over = last
        self._lives[:] = lives
        episode_return = np.where(game_over, self._return, 0.0).astype(np.float32)
        episode_length = np.where(game_over, self._length, 0).astype(np.int32)
        self._return[game_over] = 0.0
        self._length[game_over] = 0
        return TimeStep(
            observation=obs,
            reward=reward,
            discount=np.logical_not(terminated).astype(np.float32),
            last=last,
            info={"episode_return": episode_return, "episode_length": episode_length},
        )

    def close(self) -> None:
        self._env.close()


class AtariFactory(HostEnvironmentFactory):
    """``spec`` of one game under ``config`` (cheap: no emulator is started), and batches of it."""

    def __init__(self, game: str, config: Optional[AtariConfig] = None):
        self.game = game
        self.config = config or AtariConfig()

    @functools.cached_property
    def spec(self) -> EnvSpec:
        c = self.config
        _check_game(self.game)
        num_actions = FULL_ACTION_SET_SIZE if c.full_action_space else minimal_action_set_size(self.game)
        return EnvSpec(
            name=f"atari-{self.game}",
            observation=ArraySpec(shape=(c.frame_stack, IMAGE_SIZE, IMAGE_SIZE), dtype="uint8"),
            action=DiscreteSpec(num_values=num_actions),
            max_episode_steps=-(-c.max_episode_frames // c.frameskip),
        )

    def make(self, num_envs: int, seed: int = 0) -> AtariHostEnv:
        """A batch of ``num_envs`` games; ``reset()`` without a seed uses ``seed``."""
        return AtariHostEnv(self.game, self.config, self.spec, num_envs, seed)


def make_atari(game: str, config: Optional[AtariConfig] = None) -> AtariFactory:
    """The registry's factory for ``atari-<game>``: ``(config) -> HostEnvironmentFactory``."""
    require("ale_py", f"env 'atari-{game}'")
    require("cv2", f"env 'atari-{game}'")
    return AtariFactory(game, config)
