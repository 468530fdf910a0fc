"""Where one PPO update spends its time: rlk's rollout and update beside the peer's, and the two
XLA:CPU costs that rlk removed (a weight layout and a sort).

    python benchmarks/profile_update.py [--env catch] [--repeats 7]

Times are CPU seconds of this process (``time.process_time``), best of interleaved repeats, so a
machine shared with other jobs inflates them less than wall-clock would. Rows:

- ``rollout`` / ``update``: 50 rollouts of 64 envs x 16 steps, or 50 PPO updates (4 epochs x 4
  minibatches) of one such trajectory, each in one compiled ``lax.scan``; rlk's pieces
  (``rlk.plugins.backends.anakin.rollout``, the ``ppo`` agent's ``update``) beside the peer's
  (``benchmarks/peer_ppo.py``'s network and loss, restructured into the same two pieces), and the
  peer with its weights stored ``[out, in]`` (``x @ W.T``, the layout of ``eqx.nn.Linear``);
- ``weight gradient``: the first layer's weight gradient as ``g^T x`` (``[out, in]``) vs ``x^T g``
  (``[in, out]``), for a minibatch of 256 observations of catch's size (50) and a 64-unit layer;
- ``shuffle``: ``jax.random.permutation(key, 1024)`` vs ``rlk.nn.shuffle.permutation``.
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import optax

from rlk import bench
from rlk.nn import shuffle
from rlk.plugins.backends.anakin import rollout

N = 50


def rlk_pieces(env_name: str):
    program = bench.rlk_program(env_name, 1, 64 * 16)
    agent, env = program.agent, program.env
    s = jax.tree.map(lambda x: x[0], program.init([0]))

    def roll(s):
        def body(carry, key):
            carry, traj = rollout(agent, env, s.learner.params, *carry, key, agent.unroll_length)
            return carry, traj.timestep.reward.sum()
        return jax.lax.scan(body, (s.actor, s.env, s.timestep), jax.random.split(s.key, N))

    def update(learner, traj, key):
        return jax.lax.scan(lambda l, k: (agent.update(l, traj, k)[0], None), learner, jax.random.split(key, N))

    _, traj = rollout(agent, env, s.learner.params, s.actor, s.env, s.timestep, s.key, agent.unroll_length)
    return env, s, {"rlk rollout": (roll, (s,)), "rlk update": (update, (s.learner, traj, s.key))}


def peer_pieces(env, s, transposed: bool):
    """The peer's rollout step and update (its code, split in two), optionally with ``[out, in]`` weights."""
    peer = bench.load_peer()
    c = {**peer.CONFIG, **bench.peer_config(1)}
    spec = env.spec
    params = peer.init_network(jax.random.PRNGKey(0), math.prod(spec.observation.shape), spec.action.num_values, c["HIDDEN"])
    tx = optax.chain(optax.clip_by_global_norm(c["MAX_GRAD_NORM"]), optax.adam(c["LR"], eps=1e-5))

    def mlp(layers, x):
        for i, layer in enumerate(layers):
            x = x @ (layer["w"].T if transposed else layer["w"]) + layer["b"]
            x = jnp.tanh(x) if i < len(layers) - 1 else x
        return x

    def network(p, obs):
        x = obs.reshape((obs.shape[0], -1)).astype(jnp.float32)
        return mlp(p["actor"], x), mlp(p["critic"], x)[:, 0]

    if transposed:
        params = jax.tree.map(lambda x: x.T if x.ndim == 2 else x, params)
    B, T = c["NUM_ENVS"], c["NUM_STEPS"]

    def env_step(carry, _):
        env_state, obs, key = carry
        key, act_key, env_key = jax.random.split(key, 3)
        logits, value = network(params, obs)
        action = jax.random.categorical(act_key, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
        env_state, ts = jax.vmap(env.step)(env_state, action, jax.random.split(env_key, B))
        return (env_state, ts.observation, key), peer.Transition(ts.last, action, value, ts.reward, log_prob, obs,
                                                                ts.info["episode_return"])

    def roll(env_state, obs, key):
        return jax.lax.scan(lambda carry, _: (jax.lax.scan(env_step, carry, None, T)[0], 0.0),
                            (env_state, obs, key), None, N)

    (_, last_obs, _), traj = jax.lax.scan(env_step, (s.env, s.timestep.observation, s.key), None, T)

    def one_update(p, opt_state, key):
        _, last_value = network(p, last_obs)
        adv, target = peer.gae_advantages(traj, last_value, c)
        data = jax.tree.map(lambda x: x.reshape((B * T,) + x.shape[2:]), (traj, adv, target))

        def loss_fn(p, batch):
            return peer.ppo_loss(p, *batch, c, net=network)[0]

        def minibatch(carry, batch):
            p, o = carry
            grads = jax.grad(loss_fn)(p, batch)
            updates, o = tx.update(grads, o, p)
            return (optax.apply_updates(p, updates), o), None

        def epoch(carry, k):
            perm = jax.random.permutation(k, B * T)
            shuffled = jax.tree.map(lambda x: x[perm].reshape((c["NUM_MINIBATCHES"], -1) + x.shape[1:]), data)
            return jax.lax.scan(minibatch, carry, shuffled)[0], None

        return jax.lax.scan(epoch, (p, opt_state), jax.random.split(key, c["UPDATE_EPOCHS"]))[0]

    def update(p, opt_state, key):
        return jax.lax.scan(lambda carry, k: (one_update(*carry, k), None), (p, opt_state), jax.random.split(key, N))

    tag = "peer, [out, in]" if transposed else "peer"
    return {f"{tag} rollout": (roll, (s.env, s.timestep.observation, s.key)),
            f"{tag} update": (update, (params, tx.init(params), s.key))}


def micro_pieces():
    g = jax.random.normal(jax.random.PRNGKey(0), (256, 64))
    x = jax.random.normal(jax.random.PRNGKey(1), (256, 50))

    def repeat(f):  # N x f(i, previous result, *args): nothing for XLA to hoist out of the loop
        def run(*args):
            def body(acc, i):
                return acc + jnp.sum(f(i, acc, *args)), None
            return jax.lax.scan(body, 0.0, jnp.arange(N))[0]
        return run

    def shuffled(permutation):
        return lambda i, acc, key: permutation(jax.random.fold_in(key, i), 1024) * jnp.arange(1024)

    return {
        "weight gradient g^T x [out, in]": (repeat(lambda i, acc, g, x: (g + acc * 1e-9).T @ x), (g, x)),
        "weight gradient x^T g [in, out]": (repeat(lambda i, acc, g, x: x.T @ (g + acc * 1e-9)), (g, x)),
        "shuffle jax.random.permutation": (repeat(shuffled(jax.random.permutation)), (jax.random.PRNGKey(2),)),
        "shuffle rlk.nn.shuffle.permutation": (repeat(shuffled(shuffle.permutation)), (jax.random.PRNGKey(2),)),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="catch")
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    env, s, pieces = rlk_pieces(a.env)
    pieces.update(peer_pieces(env, s, transposed=False))
    pieces.update(peer_pieces(env, s, transposed=True))
    pieces.update(micro_pieces())
    compiled = {k: (jax.jit(f).lower(*args).compile(), args) for k, (f, args) in pieces.items()}
    best = {k: math.inf for k in compiled}
    for _ in range(a.repeats):
        for k, (f, args) in compiled.items():
            t0 = time.process_time()
            jax.block_until_ready(f(*args))
            best[k] = min(best[k], time.process_time() - t0)
    print(f"{a.env}: CPU ms per item, best of {a.repeats} ({bench.machine()})")
    for k, t in best.items():
        print(f"  {k:38s} {t / N * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
