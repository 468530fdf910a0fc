"""Environment plugins: Catch in JAX, every pgx game and every gymnax environment (``catalogue``); and host
environments (for Sebulba): Atari through ale-py (``atari-<game>``), MuJoCo through gymnasium
(``HalfCheetah-v5`` ...).

Adapters import their library only when an environment is built, so listing plugins stays fast.
"""

from __future__ import annotations

import functools

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.envs.catalogue import GYMNAX_PARAMS, MINATAR_GAMES, PGX_GAMES, gymnax_config, minatar_installed
from rlk.plugins.envs.config import ATARI_57, MUJOCO_ENVS, AtariConfig, CatchConfig, MujocoConfig


def _make_pgx(env_id: str, config=None):
    from rlk.plugins.envs.pgx_adapter import make_pgx

    return make_pgx(env_id, config)


def _make_gymnax(env_id: str, config=None):
    from rlk.plugins.envs.gymnax_adapter import make_gymnax

    return make_gymnax(env_id, config)


@hookimpl
def rlk_register_envs(register):
    register("catch", lazy("rlk.plugins.envs.catch:Catch"), config=CatchConfig, description="bsuite Catch (10x5), pure JAX")
    minatar = minatar_installed()
    for env_id, config in PGX_GAMES.items():
        if minatar or env_id not in MINATAR_GAMES:
            register(env_id, functools.partial(_make_pgx, env_id), config=config, description=f"pgx '{env_id}' (JAX)")
    for env_id in GYMNAX_PARAMS:
        register(env_id, functools.partial(_make_gymnax, env_id), config=gymnax_config(env_id),
                 description=f"gymnax '{env_id}' (JAX); its EnvParams as options")
    for game in ATARI_57:
        register(f"atari-{game}", functools.partial(lazy("rlk.plugins.envs.atari:make_atari"), game), config=AtariConfig,
                 description=f"Atari '{game}' via ale-py's AtariVectorEnv (host env; DQN preprocessing, sticky actions)")
    for env_id in MUJOCO_ENVS:
        register(env_id, functools.partial(lazy("rlk.plugins.envs.mujoco:make_mujoco"), env_id), config=MujocoConfig,
                 description=f"MuJoCo '{env_id}' via gymnasium vector envs (host env; observation normalisation)")
