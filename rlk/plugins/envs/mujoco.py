"""MuJoCo locomotion (gymnasium's ``*-v5``) as rlk ``HostEnvironment``s, through gymnasium vector envs.

A batch is a ``gymnasium.vector.SyncVectorEnv`` (or ``AsyncVectorEnv``, one process per
environment, by config) of ``gymnasium.make(env_id)``, whose ``TimeLimit`` truncates episodes at
1000 steps. Mapping to ``TimeStep`` (numpy, batched ``[num_envs]``):

- auto-reset: gymnasium 1.x vector envs default to ``AutoresetMode.NEXT_STEP`` (the step after an
  episode's end ignores its action and returns the reset observation). We build them with
  ``autoreset_mode=AutoresetMode.SAME_STEP``: the step that ends an episode returns the new
  episode's first observation (the old last one is in ``info['final_obs']``, unused here) with the
  ending transition's reward and flags; exactly rlk's convention, so no conversion is needed.
- ``observation``: float32 ``[num_envs, obs_dim]``; with ``normalize_observations`` (default) it is
  normalised by running statistics, ``clip((o - mean) / sqrt(var + 1e-8), -10, 10)``, the
  observation filter of PPO's MuJoCo experiments (Schulman et al. 2017, via OpenAI baselines'
  ``VecNormalize``: clip 10). The statistics are updated with every batch of raw observations the
  environments return (resets included) before it is normalised, held by this ``HostEnvironment``
  (one set per batch), and read/written with ``get_state()`` / ``set_state()`` (a dict of numpy
  arrays, for checkpoints; safe to call from another thread than the one stepping the batch);
  ``update_statistics = False`` freezes them (evaluation). ``MujocoFactory.initial_state()`` is a
  fresh batch's state and ``merge_states`` merges several: Sebulba checkpoints the actors' states
  with the learner and evaluates with them (``rlk.plugins.backends.sebulba``).
- ``reward``: float32, gymnasium's raw reward (not normalised). ``discount``: 0 where the episode
  terminated (Hopper/Walker2d/Ant/Humanoid fell: ``terminated``), 1 otherwise (the 1000-step
  truncation keeps 1). ``last``: terminated | truncated.
- ``info``: ``episode_return`` float32 / ``episode_length`` int32 of the episodes that ended on this
  step, 0 elsewhere. ``legal_action_mask``, ``current_player``: None.

Actions: ``BoxSpec`` from the action space (every ``-v5`` task has the same bounds in each
dimension: [-1, 1], Humanoid [-0.4, 0.4]); ``step`` clips actions to the bounds before stepping,
so a Gaussian policy's unbounded samples can be passed as they are.

Threads: a ``SyncVectorEnv`` steps its environments one after the other in the calling thread,
holding the GIL for most of the time (two batches in two threads run no faster than one after the
other); a batch may be stepped from a thread other than the one that built it (one at a time).
``vector='async'`` runs each environment in its own process (``spawn`` by default: forking a process
that already runs JAX threads can deadlock).

MuJoCo 4 logs warnings to ``MUJOCO_LOG.TXT`` in the working directory; building an environment here
routes MuJoCo's warnings to Python's ``warnings`` (once per place, instead of once per environment
on the console) and turns the default log file off, process-wide, unless a program has installed
its own MuJoCo warning callback or log file (``quiet_mujoco_log_file``).
"""

from __future__ import annotations

import functools
import threading
import warnings
from typing import Any, Optional

import numpy as np

from rlk.core.extras import require
from rlk.core.errors import RlkError
from rlk.core.interfaces import HostEnvironment, HostEnvironmentFactory
from rlk.core.types import ArraySpec, BoxSpec, EnvSpec, TimeStep
from rlk.plugins.envs.atari import per_env_seeds
from rlk.plugins.envs.config import MUJOCO_ENVS, OBS_CLIP, OBS_EPS, MujocoConfig  # noqa: F401 (re-exported)

def _mujoco_warning(message: str) -> None:
    warnings.warn(f"MuJoCo: {str(message).strip()}", RuntimeWarning, stacklevel=2)


def quiet_mujoco_log_file() -> None:
    """Keeps MuJoCo (>= 4) from writing ``MUJOCO_LOG.TXT`` into the working directory.

    Process-wide, and only where nobody has chosen otherwise: MuJoCo's warnings become Python
    ``RuntimeWarning``s (shown once per place, as Python does) if no warning callback is installed,
    and the default log handler stops writing its default file.
    """
    try:
        import mujoco

        if mujoco.get_mju_user_warning() is None:
            mujoco.set_mju_user_warning(_mujoco_warning)
        config = mujoco.MjLogConfig.get()
        if config.logto_file and config.logfile == "MUJOCO_LOG.TXT":
            config.logto_file = False
            config.set()
    except (ImportError, AttributeError):  # older MuJoCo: no log configuration (the file is gitignored)
        pass


def make_gymnasium_env(env_id: str, kwargs: dict[str, Any]):
    """One ``gymnasium.make(env_id, **kwargs)`` (module level, so it pickles into async workers)."""
    import gymnasium as gym

    quiet_mujoco_log_file()
    return gym.make(env_id, disable_env_checker=True, **kwargs)


class RunningMeanStd:
    """Running mean and variance of ``[D]`` vectors, merged batch by batch (Chan et al. 1979's
    parallel form of Welford's algorithm), in float64. Starts at mean 0, var 1, count 1e-4 (baselines)."""

    def __init__(self, shape: tuple[int, ...]):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, np.float64)
        n = batch.shape[0]
        if n == 0:
            return
        b_mean, b_var = batch.mean(axis=0), batch.var(axis=0)
        self.mean, self.var, self.count = merge_moments(self.mean, self.var, self.count, b_mean, b_var, n)

    def normalise(self, x: np.ndarray, clip: float) -> np.ndarray:
        return np.clip((x - self.mean) / np.sqrt(self.var + OBS_EPS), -clip, clip).astype(np.float32)


def merge_moments(mean_a, var_a, count_a, mean_b, var_b, count_b):
    """Mean, variance and count of the union of two sets given each one's (Chan et al. 1979)."""
    total = count_a + count_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (count_b / total)
    m2 = var_a * count_a + var_b * count_b + np.square(delta) * (count_a * count_b / total)
    return mean, m2 / total, total


def normaliser_state(rms: RunningMeanStd) -> dict[str, np.ndarray]:
    """``rms``'s statistics as a dict of float64 copies: ``mean [D]``, ``var [D]``, ``count []``."""
    return {"mean": rms.mean.copy(), "var": rms.var.copy(), "count": np.asarray(rms.count, np.float64)}


def merge_normaliser_states(states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One normaliser state from several (e.g. Sebulba's actor threads' batches) by ``merge_moments``."""
    mean, var, count = states[0]["mean"], states[0]["var"], float(states[0]["count"])
    for s in states[1:]:
        mean, var, count = merge_moments(mean, var, count, s["mean"], s["var"], float(s["count"]))
    return {"mean": np.asarray(mean, np.float64), "var": np.asarray(var, np.float64), "count": np.asarray(count, np.float64)}


class MujocoHostEnv(HostEnvironment):
    """``num_envs`` gymnasium MuJoCo environments (see the module docstring)."""

    def __init__(self, env_id: str, config: MujocoConfig, spec: EnvSpec, num_envs: int, seed: int = 0):
        import gymnasium as gym
        from gymnasium.vector import AutoresetMode

        self.env_id, self.config, self._spec = env_id, config, spec
        self.num_envs = num_envs
        self.seed = seed
        self.update_statistics = True
        quiet_mujoco_log_file()
        fns = [functools.partial(make_gymnasium_env, env_id, dict(config.kwargs)) for _ in range(num_envs)]
        if config.vector == "async":
            self._env = gym.vector.AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP, context=config.async_context)
        else:
            self._env = gym.vector.SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
        space = self._env.single_action_space
        self._low = np.asarray(space.low, np.float32)
        self._high = np.asarray(space.high, np.float32)
        self._action_shape = tuple(space.shape)
        self.obs_rms = RunningMeanStd(spec.observation.shape)
        self._lock = threading.Lock()  # get_state() from the learner thread vs updates in the actor's
        self._return = np.zeros(num_envs, np.float64)
        self._length = np.zeros(num_envs, np.int64)

    @property
    def spec(self) -> EnvSpec:
        return self._spec

    @property
    def vector_env(self):
        """The underlying gymnasium vector env (for inspection)."""
        return self._env

    # -- observation normaliser state (for checkpoints) --------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """The normaliser's statistics: ``mean [D]``, ``var [D]`` and ``count []`` (float64 copies)."""
        with self._lock:
            return normaliser_state(self.obs_rms)

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restores statistics from ``get_state()`` (or ``merge_normaliser_states``)."""
        r = self.obs_rms
        mean, var = np.asarray(state["mean"], np.float64), np.asarray(state["var"], np.float64)
        if mean.shape != r.mean.shape or var.shape != r.var.shape:
            raise RlkError(f"normaliser state of shape {mean.shape} does not fit observations of shape {r.mean.shape}")
        with self._lock:
            r.mean, r.var, r.count = mean.copy(), var.copy(), float(state["count"])

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        if not self.config.normalize_observations:
            return obs
        with self._lock:
            if self.update_statistics:
                self.obs_rms.update(obs)
            return self.obs_rms.normalise(obs, self.config.clip_observations)

    # -- HostEnvironment ----------------------------------------------------------------------
    def reset(self, seed: Optional[int] = None) -> TimeStep:
        """Starts every episode afresh; environment ``i`` is seeded from ``(seed, i)``."""
        seed = self.seed if seed is None else seed
        obs, _ = self._env.reset(seed=[int(s) for s in per_env_seeds(seed, self.num_envs)])
        self._return[:] = 0.0
        self._length[:] = 0
        n = self.num_envs
        return TimeStep(
            observation=self._observe(obs),
            reward=np.zeros(n, np.float32),
            discount=np.ones(n, np.float32),
            last=np.zeros(n, np.bool_),
            info={"episode_return": np.zeros(n, np.float32), "episode_length": np.zeros(n, np.int32)},
        )

    def step(self, action: np.ndarray) -> TimeStep:
        """One step of every environment with ``action [num_envs, *action_shape]``, clipped to the bounds."""
        action = np.asarray(action, np.float32).reshape((self.num_envs,) + self._action_shape)
        action = np.clip(action, self._low, self._high)
        obs, reward, terminated, truncated, _ = self._env.step(action)
        terminated = np.asarray(terminated, np.bool_)
        last = terminated | np.asarray(truncated, np.bool_)
        reward = np.asarray(reward, np.float32)
        self._return += reward
        self._length += 1
        episode_return = np.where(last, self._return, 0.0).astype(np.float32)
        episode_length = np.where(last, self._length, 0).astype(np.int32)
        self._return[last] = 0.0
        self._length[last] = 0
        return TimeStep(
            observation=self._observe(obs),
            reward=reward,
            discount=np.logical_not(terminated).astype(np.float32),
            last=last,
            info={"episode_return": episode_return, "episode_length": episode_length},
        )

    def close(self) -> None:
        self._env.close()


def box_spec(space: Any, env_id: str) -> BoxSpec:
    low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
    if not (np.all(low == low.flat[0]) and np.all(high == high.flat[0])):
        raise RlkError(f"env '{env_id}': BoxSpec needs the same bounds in every dimension, got {low} .. {high}")
    return BoxSpec(shape=tuple(space.shape), low=float(low.flat[0]), high=float(high.flat[0]))


class MujocoFactory(HostEnvironmentFactory):
    """``spec`` of one task (one environment built once and closed: a few ms), and batches of it."""

    def __init__(self, env_id: str, config: Optional[MujocoConfig] = None):
        self.env_id = env_id
        self.config = config or MujocoConfig()

    @functools.cached_property
    def spec(self) -> EnvSpec:
        env = make_gymnasium_env(self.env_id, dict(self.config.kwargs))
        try:
            obs_space, act_space = env.observation_space, env.action_space
            max_steps = env.spec.max_episode_steps if env.spec is not None else None
        finally:
            env.close()
        return EnvSpec(
            name=self.env_id,
            observation=ArraySpec(shape=tuple(obs_space.shape), dtype="float32"),
            action=box_spec(act_space, self.env_id),
            max_episode_steps=int(max_steps or 1000),
        )

    def make(self, num_envs: int, seed: int = 0) -> MujocoHostEnv:
        """A batch of ``num_envs`` environments; ``reset()`` without a seed uses ``seed``."""
        return MujocoHostEnv(self.env_id, self.config, self.spec, num_envs, seed)

    def initial_state(self) -> dict[str, np.ndarray]:
        """A fresh batch's normaliser state (the template of the states Sebulba checkpoints)."""
        return normaliser_state(RunningMeanStd(self.spec.observation.shape))

    @staticmethod
    def merge_states(states: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """One normaliser state from the actors' batches (what evaluation should use)."""
        return merge_normaliser_states(states)


def make_mujoco(env_id: str, config: Optional[MujocoConfig] = None) -> MujocoFactory:
    """The registry's factory for ``HalfCheetah-v5`` etc.: ``(config) -> HostEnvironmentFactory``."""
    require("mujoco", f"env '{env_id}'")
    require("imageio", f"env '{env_id}'")
    return MujocoFactory(env_id, config)
