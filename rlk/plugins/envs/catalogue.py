"""The gymnax environments and pgx games rlk registers, and their parameters as pydantic configs.

Light on purpose (pydantic only): registration builds no environment and imports neither gymnax
(seconds: it pulls matplotlib, seaborn and scipy) nor pgx. The tables below are what
``gymnax.registered_envs`` with each env's ``default_params``, and ``pgx.available_envs()`` with each
game's constructor options, give for the pinned versions (gymnax 1.0.1, pgx 2.6.0 with pgx-minatar);
``tests/plugins/envs/test_all_envs.py`` compares them with the libraries, so an upgrade that adds an
env or changes a default fails there.

gymnax: every ``EnvParams`` field is a config field (``-o env.max_steps_in_episode=200``); the adapter
replaces those fields of ``default_params``. Derived fields are not recomputed (CartPole's
``total_mass`` stays ``masscart + masspole`` of the defaults unless set too). Left out:
``MNISTBandit-bsuite``, which downloads MNIST when it is built (no network at run time here).

pgx: a game's constructor options are its config fields (Go's ``komi``, ``history_length``,
``max_terminal_steps``; Hex's ``size``; MinAtar's ``use_minimal_action_set``, ``sticky_action_prob``);
Go's board size is fixed by its name. Go also has rlk's training variants (``GoConfig``).
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, create_model

from rlk.core.config import PluginConfig

# gymnax.registered_envs, each with its default_params (arrays as tuples).
GYMNAX_PARAMS: dict[str, dict[str, Any]] = {
    "CartPole-v1": dict(max_steps_in_episode=500, gravity=9.8, masscart=1.0, masspole=0.1, total_mass=1.1, length=0.5, polemass_length=0.05, force_mag=10.0, tau=0.02, theta_threshold_radians=0.20943951023931953, x_threshold=2.4),
    "Pendulum-v1": dict(max_steps_in_episode=200, max_speed=8.0, max_torque=2.0, dt=0.05, g=10.0, m=1.0, l=1.0),
    "Acrobot-v1": dict(max_steps_in_episode=500, available_torque=(-1.0, 0.0, 1.0), dt=0.2, link_length_1=1.0, link_length_2=1.0, link_mass_1=1.0, link_mass_2=1.0, link_com_pos_1=0.5, link_com_pos_2=0.5, link_moi=1.0, max_vel_1=12.566370614359172, max_vel_2=28.274333882308138, torque_noise_max=0.0),
    "MountainCar-v0": dict(max_steps_in_episode=200, min_position=-1.2, max_position=0.6, max_speed=0.07, goal_position=0.5, goal_velocity=0.0, force=0.001, gravity=0.0025),
    "MountainCarContinuous-v0": dict(max_steps_in_episode=999, min_action=-1.0, max_action=1.0, min_position=-1.2, max_position=0.6, max_speed=0.07, goal_position=0.45, goal_velocity=0.0, power=0.0015, gravity=0.0025),
    "Asterix-MinAtar": dict(max_steps_in_episode=1000, ramping=True, ramp_interval=100, init_spawn_speed=10, init_move_interval=5, shot_cool_down=5),
    "Breakout-MinAtar": dict(max_steps_in_episode=1000),
    "Freeway-MinAtar": dict(max_steps_in_episode=2500, player_speed=3),
    "Seaquest-MinAtar": dict(max_steps_in_episode=1000, ramping=True, ramp_interval=100, init_spawn_speed=20, init_move_interval=5, max_oxygen=200, diver_spawn_speed=30, shot_cool_down=5, enemy_shot_interval=10, enemy_move_interval=5, diver_move_interval=5),
    "SpaceInvaders-MinAtar": dict(max_steps_in_episode=1000, shot_cool_down=5, enemy_move_interval=12, enemy_shot_interval=10),
    "Catch-bsuite": dict(max_steps_in_episode=1000),
    "DeepSea-bsuite": dict(max_steps_in_episode=8, deterministic=True, sample_action_map=False, unscaled_move_cost=0.01, randomize_actions=True),
    "MemoryChain-bsuite": dict(max_steps_in_episode=1000, memory_length=5),
    "UmbrellaChain-bsuite": dict(max_steps_in_episode=100, chain_length=10),
    "DiscountingChain-bsuite": dict(max_steps_in_episode=100, reward_timestep=(1, 3, 10, 30, 100), optimal_return=1.1),
    "SimpleBandit-bsuite": dict(max_steps_in_episode=100, optimal_return=1.0),
    "FourRooms-misc": dict(max_steps_in_episode=500, fail_prob=0.3333333333333333, resample_init_pos=False, resample_goal_pos=False),
    "MetaMaze-misc": dict(max_steps_in_episode=200, reward=10.0, punishment=0.0, normalize_time=False),
    "PointRobot-misc": dict(max_steps_in_episode=100, max_force=0.1, circle_radius=1.0, dense_reward=False, goal_radius=0.2, center_init=False, normalize_time=True),
    "BernoulliBandit-misc": dict(max_steps_in_episode=100.0, reward_prob=0.1, normalize_time=True, min_lim=-1.0, max_lim=1.0, t_max=100),
    "GaussianBandit-misc": dict(max_steps_in_episode=100, mean_mu=-1.0, sigma_p=1.0, sigma_l=0.1, normalize_time=True),
    "Reacher-misc": dict(max_steps_in_episode=100, torque_scale=1.0, dt=0.05),
    "Swimmer-misc": dict(max_steps_in_episode=500, dt=0.05),
    "Pong-misc": dict(max_steps_in_episode=1000, ball_max_y_speed=3, paddle_y_speed=1, ball_x_speed=1, use_ai_policy=True),
    "FrozenLake-misc": dict(max_steps_in_episode=100),
}
# gymnax.registered_envs that are not registered, and why.
GYMNAX_LEFT_OUT = {"MNISTBandit-bsuite": "downloads MNIST when built (no network at run time)"}


def _field_type(default: Any) -> Any:
    """A config field's type from a gymnax default: bool, int, float, or a fixed-length tuple."""
    if isinstance(default, tuple):
        return tuple[tuple(_field_type(v) for v in default)]
    return type(default)


def gymnax_config(env_id: str) -> type[PluginConfig]:
    """The config of gymnax's ``env_id``: one field per ``EnvParams`` field, with gymnax's default."""
    fields = {
        name: (_field_type(default), Field(default, description=f"gymnax {env_id} EnvParams.{name}"))
        for name, default in GYMNAX_PARAMS[env_id].items()
    }
    model_name = "Gymnax" + "".join(c for c in env_id if c.isalnum()) + "Config"
    return create_model(model_name, __base__=PluginConfig, __doc__=f"gymnax '{env_id}' parameters.", **fields)


class MinAtarConfig(PluginConfig):
    """pgx MinAtar constructor options."""

    use_minimal_action_set: bool = Field(True, description="only the game's own actions (False: all 6 MinAtar actions)")
    sticky_action_prob: float = Field(0.1, ge=0, le=1, description="probability that the previous action repeats")


class HexConfig(PluginConfig):
    """pgx Hex constructor options."""

    size: int = Field(11, ge=2, description="board size")


class GoConfig(PluginConfig):
    """pgx Go constructor options (the board size is in the name) and rlk's training variants."""

    komi: float = Field(7.5, description="points added to white's score")
    history_length: int = Field(8, ge=1, description="past boards in the observation (planes: 2 * history_length + 1)")
    max_terminal_steps: Optional[int] = Field(
        None, gt=0, description="moves after which the game ends with its score (None: pgx's 2 * size**2)")
    pass_after_moves: int = Field(
        0, ge=0,
        description="a rule variant for training: the pass move is masked out of the legal actions of "
                    "both players before this many moves of the game, unless it is the only legal move "
                    "(0: pgx's standard rules)")
    score_reward: float = Field(
        0.0, ge=0,
        description="a reward variant for training: the terminal reward of the player who ends the game gains this "
                    "weight times its final Tromp-Taylor area margin over the board size (no komi; envs/go_area.py), "
                    "so a player learns to win by more; rlk play scores matches by the game's result alone "
                    "(0: pgx's +-1)")
    no_eye_filling: bool = Field(
        False,
        description="a rule variant for self-play, the eye rule of Monte-Carlo Go playouts (Bruegmann 1993; Gelly et "
                    "al. 2006): the legal moves of the player to move leave out its own single-point true eyes "
                    "(envs/go_area.py), and pass while any other move is legal; a game under it is a game of "
                    "standard Go, so its player can meet a standard-rules opponent (rlk play --opponent-rules "
                    "standard). False: pgx's standard rules")


MINATAR_GAMES = ("minatar-asterix", "minatar-breakout", "minatar-freeway", "minatar-seaquest", "minatar-space_invaders")
# pgx.available_envs() (MinAtar where pgx-minatar is installed) and each game's config (None: no options).
PGX_GAMES: dict[str, Optional[type[PluginConfig]]] = {
    "2048": None, "animal_shogi": None, "backgammon": None, "chess": None, "connect_four": None,
    "gardner_chess": None, "go_9x9": GoConfig, "go_19x19": GoConfig, "hex": HexConfig, "kuhn_poker": None,
    "leduc_holdem": None, **{game: MinAtarConfig for game in MINATAR_GAMES}, "othello": None, "shogi": None,
    "sparrow_mahjong": None, "tic_tac_toe": None,
}
# Constructor arguments fixed by a game's name (pgx.make's own).
PGX_FIXED: dict[str, dict[str, Any]] = {"go_9x9": {"size": 9}, "go_19x19": {"size": 19}}
# rlk's own options of a game's config, which are not pgx constructor arguments.
RLK_GO_VARIANTS = ("pass_after_moves", "score_reward", "no_eye_filling")


def minatar_installed() -> bool:
    """Whether pgx-minatar (pgx's MinAtar games) is importable, without importing it."""
    import importlib.util

    return importlib.util.find_spec("pgx_minatar") is not None
