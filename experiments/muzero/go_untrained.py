"""An untrained MuZero in `play_match` (the `rlk play` harness) vs a uniformly random player. Usage:
python -m experiments.muzero.go_untrained [agent_field=value ...] [env.pass_after_moves=N] [env.no_eye_filling=true]
[opponent_rules=standard] [games=N] [player=random] [seed=M], e.g. simulator=env
area_shaping=1.0 (env: pgx's standard rules unless env.pass_after_moves is given).
player=random: no network, uniformly random moves under the env's rules (e.g. the eye rule).
A diagnostic script, not part of the plugin."""
import sys
import time

import jax
import jax.numpy as jnp

from rlk.core.interfaces import Agent
from rlk.plugins.envs.pgx_adapter import PgxEnv
from rlk.plugins.muzero.play import play_match
from rlk.core.losses import agent_losses
from rlk.plugins.muzero.agent import MuZeroConfig, make_muzero


def main(argv=None) -> None:
    kw = {}
    argv = sys.argv[1:] if argv is None else argv
    for a in argv:
        k, v = a.split("="); kw[k] = v
    env = PgxEnv("go_9x9", pass_after_moves=int(kw.pop("env.pass_after_moves", 0)),
                 no_eye_filling=kw.pop("env.no_eye_filling", "false").lower() == "true")
    games = int(kw.pop("games", 100))
    player = kw.pop("player", "muzero")
    match_seed = int(kw.pop("seed", 0))
    opponent_rules = kw.pop("opponent_rules", "run")
    cfg = MuZeroConfig(**{"search": "gumbel", "gamma": 1.0, "value_bounds": (-1, 1), **kw})
    ag = make_muzero(cfg, env.spec, None, agent_losses("muzero", cfg.loss_weights))
    p = ag.init(jax.random.PRNGKey(0)).params
    if player == "random":
        pick = lambda params, actor, ts, key: (jax.random.categorical(key, jnp.where(ts.legal_action_mask, 0.0, -jnp.inf)), actor, {})
        ag, cfg = Agent(None, lambda b: (), pick, pick, None, 1, 1), cfg.model_copy(update={"simulator": "model"})
    t = time.time(); r = play_match(ag, env, p, games, match_seed, true_state_as_actor_state=cfg.simulator == "env",
                                                opponent_rules=opponent_rules)
    print(argv, r, f"{time.time() - t:.0f}s", flush=True)


if __name__ == "__main__":
    main()
