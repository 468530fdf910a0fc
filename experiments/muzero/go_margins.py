"""Final Tromp-Taylor area margins (the agent's area minus the opponent's, no komi) of a saved Go run's 100
games against a uniformly random player under the run's rules: whether games are won by a few points or by
the whole board. Usage: python -m experiments.muzero.go_margins RUN_DIR SEED [agent.field=value ...] [--games 100].
A diagnostic script, not part of the plugin."""
import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.config import plugin_config
from rlk.core.run import resolve, restored_run
from rlk.plugins.muzero.play import play_match

SCALE = 1000.0  # score_reward: the ender's reward gains SCALE x its final margin / 81, which dwarfs the +-1 result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("seed", type=int)
    p.add_argument("overrides", nargs="*", metavar="agent.field=value")
    p.add_argument("--games", type=int, default=100)
    a = p.parse_args(argv)
    run, seed = a.run, a.seed
    config, _, state = restored_run(run, a.overrides, changeable=("agent", "env"))
    resolved = resolve(config)
    env = resolved.env.factory(plugin_config(config.env, resolved.env.config).model_copy(update={"score_reward": SCALE}))
    agent_config = plugin_config(config.agent, resolved.agent.config)
    agent = resolved.agent.factory(agent_config, env.spec, None)
    index = [config.seed + i for i in range(config.num_seeds)].index(seed)
    params = jax.tree.map(lambda x: jnp.asarray(np.asarray(x)[index]), jax.device_get(state.learner.params))
    r = play_match(agent, env, params, a.games, 0, true_state_as_actor_state=agent_config.simulator == "env", per_game=True)
    margin, black = np.round(np.asarray(r["outcomes"]) / SCALE * 81), np.asarray(r["agent_black_games"])
    win = np.where(black, margin > 7.5, margin > -7.5)  # komi 7.5
    print(run, seed, a.overrides, "win rate", win.mean(), "as black", win[black].sum(), "as white", win[~black].sum())
    print("margins as black", np.sort(margin[black]).astype(int).tolist())
    print("margins as white", np.sort(margin[~black]).astype(int).tolist())


if __name__ == "__main__":
    main()
