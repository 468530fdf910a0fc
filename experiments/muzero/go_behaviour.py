"""Policy behaviour of a saved Go run vs a uniformly random player: win rate (black/white), pass rate,
own-eye fills, game length. Usage: python -m experiments.muzero.go_behaviour RUN_DIR [agent_field=value ...]
[--games 100] [--moves 170] (e.g. search_at_eval=false: the raw prior). A diagnostic script, not part of the plugin."""
import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.checkpoint import Checkpointer
from rlk.core.config import plugin_config
from rlk.core.run import Run, load_run_config, resolve


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("overrides", nargs="*", metavar="agent_field=value")
    p.add_argument("--games", type=int, default=100)
    p.add_argument("--moves", type=int, default=170, help="moves played per game at most")
    a = p.parse_args(argv)
    run_dir, overrides = a.run_dir, dict(o.split("=") for o in a.overrides)
    config = load_run_config(run_dir); resolved = resolve(config)
    env = resolved.env.factory(plugin_config(config.env, resolved.env.config))
    ac = plugin_config(config.agent, resolved.agent.config)
    program = Run(resolved, run_dir).build(); template = program.init([config.seed])
    ck = Checkpointer(run_dir); _, state, _ = ck.restore(template, ["train_s"]); ck.close()
    d = ac.model_dump()
    for k, v in overrides.items():
        d[k] = v == "true" if isinstance(d[k], bool) else type(d[k])(v)
    ac = type(ac)(**d)
    agent = resolved.agent.factory(ac, env.spec, None)
    params = jax.tree.map(lambda x: jnp.asarray(x)[0], jax.device_get(state.learner.params))
    G = a.games; true_state = ac.simulator == "env"
    @jax.jit
    def run(params, key):
        state, ts = jax.vmap(env.reset)(jax.random.split(key, G))
        first = jnp.arange(G) % 2 == 0
        me = jnp.where(first, ts.current_player, 1 - ts.current_player)
        actor = agent.initial_actor_state(G)
        def body(carry, k):
            state, ts, actor, done, out = carry
            k1, k2, k3 = jax.random.split(k, 3)
            if true_state: actor = state
            a, na, _ = agent.eval_act(params, actor, ts, k1)
            r = jax.random.categorical(k2, jnp.where(ts.legal_action_mask, 0.0, -jnp.inf))
            mine = ts.current_player == me
            act = jnp.where(mine, a, r)
            obs = ts.observation
            own = obs[..., 0].reshape(G, -1) > 0.5; empty = ~(own | (obs[..., 1].reshape(G, -1) > 0.5))
            # eye: an empty point whose on-board neighbours are all own stones
            b = jnp.pad(own.reshape(G, 9, 9), ((0, 0), (1, 1), (1, 1)), constant_values=True)
            eye = (b[:, :-2, 1:-1] & b[:, 2:, 1:-1] & b[:, 1:-1, :-2] & b[:, 1:-1, 2:]).reshape(G, -1) & empty
            fill = jnp.where(act < 81, eye[jnp.arange(G), jnp.minimum(act, 80)], False)
            state, ts = jax.vmap(env.step)(state, act, jax.random.split(k3, G))
            out = out + jnp.where(done, 0.0, jnp.where(mine, ts.reward, -ts.reward))
            live = ~done
            rec = dict(mine=mine & live, other=~mine & live, pas=(act == 81) & live, fill=fill & live)
            return (state, ts, actor, done | ts.last, out), rec
        init = (state, ts, actor, jnp.zeros(G, bool), jnp.zeros(G))
        (_, _, _, _, out), rec = jax.lax.scan(body, init, jax.random.split(key, a.moves))
        return out, first, rec
    out, first, rec = jax.device_get(run(params, jax.random.PRNGKey(0)))
    m, o = rec["mine"], rec["other"]
    print(f"win rate {np.mean(out > 0):.2f} black {np.sum((out > 0) & first)}/{first.sum()} white {np.sum((out > 0) & ~first)}/{(~first).sum()}")
    print(f"game length {np.mean((m | o).sum(0)):.1f}; agent pass rate {rec['pas'][m].mean():.3f} (random {rec['pas'][o].mean():.3f}); "
          f"agent own-eye fills/move {rec['fill'][m].mean():.3f} (random {rec['fill'][o].mean():.3f}); agent moves/game {m.sum(0).mean():.1f}")


if __name__ == "__main__":
    main()
