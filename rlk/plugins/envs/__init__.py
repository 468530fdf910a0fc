"""Environment plugins: Catch in JAX, pgx games (Go 9x9, MinAtar) and gymnax classics; and host
environments (for Sebulba): Atari through ale-py (``atari-<game>``), MuJoCo through gymnasium
(``HalfCheetah-v5`` ...).

Adapters import their library only when an environment is built, so listing plugins stays fast.
"""

from __future__ import annotations

import functools

from rlk.core.hookspecs import hookimpl
from rlk.plugins.envs.atari import ATARI_57, AtariConfig, make_atari
from rlk.plugins.envs.catch import Catch, CatchConfig
from rlk.plugins.envs.mujoco import MUJOCO_ENVS, MujocoConfig, make_mujoco

PGX_ENVS = {
    "go_9x9": "go_9x9",
    "minatar-breakout": "minatar-breakout",
    "minatar-asterix": "minatar-asterix",
    "minatar-freeway": "minatar-freeway",
    "minatar-seaquest": "minatar-seaquest",
    "minatar-space_invaders": "minatar-space_invaders",
}
GYMNAX_ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1")


def _make_pgx(env_id: str, config=None):
    from rlk.plugins.envs.pgx_adapter import make_pgx

    return make_pgx(env_id, config)


def _pgx_config(env_id: str):
    if env_id.startswith("go_"):
        from rlk.plugins.envs.pgx_adapter import GoConfig

        return GoConfig
    return None


def _make_gymnax(env_id: str, config=None):
    from rlk.plugins.envs.gymnax_adapter import make_gymnax

    return make_gymnax(env_id, config)


@hookimpl
def rlk_register_envs(register):
    register("catch", Catch, config=CatchConfig, description="bsuite Catch (10x5), pure JAX")
    for name, env_id in PGX_ENVS.items():
        register(name, functools.partial(_make_pgx, env_id), config=_pgx_config(env_id), description=f"pgx '{env_id}' (JAX)")
    for env_id in GYMNAX_ENVS:
        register(env_id, functools.partial(_make_gymnax, env_id), description=f"gymnax '{env_id}' (JAX)")
    for game in ATARI_57:
        register(f"atari-{game}", functools.partial(make_atari, game), config=AtariConfig,
                 description=f"Atari '{game}' via ale-py's AtariVectorEnv (host env; DQN preprocessing, sticky actions)")
    for env_id in MUJOCO_ENVS:
        register(env_id, functools.partial(make_mujoco, env_id), config=MujocoConfig,
                 description=f"MuJoCo '{env_id}' via gymnasium vector envs (host env; observation normalisation)")
