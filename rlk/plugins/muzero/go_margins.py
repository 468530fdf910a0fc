"""Final Tromp-Taylor area margins (the agent's area minus the opponent's, no komi) of a saved Go run's 100
games against a uniformly random player under the run's rules: whether games are won by a few points or by
the whole board. Usage: python -m rlk.plugins.muzero.go_margins RUN_DIR SEED [agent.field=value ...].
A diagnostic script, not part of the plugin."""
import sys, numpy as np, jax, jax.numpy as jnp
from pathlib import Path
from rlk.core.config import plugin_config
from rlk.core.run import resolve, restored_run
run, seed = Path(sys.argv[1]), int(sys.argv[2]); ov = sys.argv[3:]
config, _, state = restored_run(run, ov, changeable=("agent", "env"))
resolved = resolve(config)
ec = plugin_config(config.env, resolved.env.config).model_copy(update={"score_reward": 1000.0})
env = resolved.env.factory(ec)
ac = plugin_config(config.agent, resolved.agent.config)
agent = resolved.agent.factory(ac, env.spec, None)
idx = [config.seed + i for i in range(config.num_seeds)].index(seed)
params = jax.tree.map(lambda x: jnp.asarray(np.asarray(x)[idx]), jax.device_get(state.learner.params))
games = 100
@jax.jit
def run_(params, key):
    rk, key = jax.random.split(key)
    st, ts = jax.vmap(env.reset)(jax.random.split(rk, games))
    first = jnp.arange(games) % 2 == 0
    me = jnp.where(first, ts.current_player, 1 - ts.current_player)
    def cond(c): return (c[0] < env.spec.max_episode_steps + 1) & ~jnp.all(c[4])
    def body(c):
        i, st, ts, _, done, out, key = c
        key, a, b, e = jax.random.split(key, 4)
        act, _, _ = agent.eval_act(params, st, ts, a)
        ra = jax.random.categorical(b, jnp.where(ts.legal_action_mask, 0.0, -jnp.inf))
        mine = ts.current_player == me
        st, ts = jax.vmap(env.step)(st, jnp.where(mine, act, ra), jax.random.split(e, games))
        out = out + jnp.where(done, 0.0, jnp.where(mine, ts.reward, -ts.reward))
        return i + 1, st, ts, None, done | ts.last, out, key
    c = jax.lax.while_loop(cond, body, (0, st, ts, None, jnp.zeros(games, bool), jnp.zeros(games), key))
    return c[5], first, c[0]
out, first, n = jax.device_get(run_(params, jax.random.PRNGKey(0)))
margin = np.round(out / 1000 * 81)  # agent's area minus the opponent's, no komi
win = np.where(first, margin > 7.5, margin > -7.5)
print(run, seed, ov, "moves", n, "win rate", win.mean(), "black", win[first].sum(), "white", win[~first].sum())
print("black margins", np.sort(margin[first]).astype(int).tolist())
print("white margins", np.sort(margin[~first]).astype(int).tolist())
