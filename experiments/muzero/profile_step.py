"""Where a MuZero training step's time goes (issue 30 item 1): each piece of one update jitted on its
own and timed in CPU seconds (``time.process_time``) in one process, rounds alternating over the pieces.

Pieces, at the agent's defaults on ``ENV`` (``-o``-style ``FIELD=VALUE`` arguments override them):
- ``update``: one whole Anakin update (rollout of ``unroll_length`` acting + env steps, then ``agent.update``);
- ``rollout``: the rollout alone; ``act``: one acting step (search at batch ``num_envs``); ``bare``: bare
  ``mctx.muzero_policy`` at the same shape with the plain model step; ``env``: one batched env step;
- ``learn``: ``agent.update`` alone (replay add and sample, ``num_sgd_steps`` x (targets + gradient step));
- ``targets``: one gradient step's targets; ``grad``: one gradient step (loss, backward, Adam);
- ``sample``: one replay sample of ``num_sgd_steps`` draws.

Usage::

    python -m experiments.muzero.profile_step [--env minatar-breakout] [--rounds 5] [FIELD=VALUE ...]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import mctx

from rlk.bench import make_env
from rlk.core.losses import agent_losses
from rlk.core.types import TimeStep
from rlk.core.wrappers import for_training
from rlk.learn.optim import make_optimiser
from rlk.learn.replay import join, sequences
from rlk.learn.sgd import SGDState, sgd_step
from rlk.nn.value_transforms import Support, logits_to_scalar
from rlk.plugins.backends.anakin import rollout
from rlk.plugins.muzero.agent import make_muzero_parts
from rlk.plugins.muzero.config import MuZeroConfig


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text, text)


def pieces(env_name: str, overrides: dict) -> dict:
    """Name -> (jitted piece, its arguments, env steps one call covers)."""
    env = for_training(make_env(env_name))
    c = MuZeroConfig(**overrides)
    parts = make_muzero_parts(c, env.spec, None, agent_losses("muzero", c.loss_weights))
    agent = parts.agent
    B, T, S = c.num_envs, c.unroll_length, c.num_sgd_steps
    state = agent.init(jax.random.PRNGKey(0))
    env_state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), B))
    actor = agent.initial_actor_state(B)
    support = Support(-c.support_max, c.support_max, c.num_atoms)

    def roll(state, env_state, ts, key):
        return rollout(agent, env, state.params, actor, env_state, ts, key, T)

    def update(state, env_state, ts, key):
        (_, env_state, ts), traj = roll(state, env_state, ts, key)
        state, metrics = agent.update(state, traj, key)
        return state, env_state, ts, metrics

    (_, _, _), traj = jax.jit(roll)(state, env_state, ts, jax.random.PRNGKey(2))
    # a buffer with a few updates' data, as after the first updates of a run
    state, _ = jax.jit(agent.update)(state, traj, jax.random.PRNGKey(3))
    seqs = sequences(traj, ("search_policy",))
    if parts.replay.num_replay:  # a gradient step's batch: the online sequences and as many replayed (shapes as in a run)
        seqs = join(seqs, jax.tree.map(lambda x: x[:, :parts.replay.num_replay], seqs))
    batch = parts.targets(state, seqs.timestep, seqs.action, seqs.extras["search_policy"], jax.random.PRNGKey(4))

    def recurrent_fn(params, rng, action, embedding):
        nxt, r_logits = jax.vmap(params.step)(embedding, action)
        p_logits, v_logits = jax.vmap(params.predict)(nxt)
        value = logits_to_scalar(v_logits, support)
        return mctx.RecurrentFnOutput(reward=logits_to_scalar(r_logits, support),
                                      discount=jnp.full_like(value, c.gamma), prior_logits=p_logits, value=value), nxt

    def bare(params, observation, key):
        latents = jax.vmap(params.initial)(observation)
        prior, v_logits = jax.vmap(params.predict)(latents)
        root = mctx.RootFnOutput(prior_logits=prior, value=logits_to_scalar(v_logits, support), embedding=latents)
        return mctx.muzero_policy(params, key, root, recurrent_fn, c.num_simulations).action

    key = jax.random.PRNGKey(5)
    plain_ts = TimeStep(ts.observation, ts.reward, ts.discount, ts.last, ts.legal_action_mask)
    replay_state = state.replay
    replay = parts.replay
    fns = {
        "update": (jax.jit(update), (state, env_state, ts, key), B * T),
        "rollout": (jax.jit(roll), (state, env_state, ts, key), B * T),
        "act": (jax.jit(lambda p, t, k: agent.act(p, actor, t, k)[0]), (state.params, plain_ts, key), B),
        "bare": (jax.jit(bare), (state.params, ts.observation, key), B),
        "env": (jax.jit(lambda s, a, k: jax.vmap(env.step)(s, a, jax.random.split(k, B))),
                (env_state, jnp.zeros(B, jnp.int32), key), B),
        "learn": (jax.jit(agent.update), (state, traj, key), B * T),
        "targets": (jax.jit(parts.targets), (state, seqs.timestep, seqs.action, seqs.extras["search_policy"], key), B * T // S),
        "sample": (jax.jit(replay.sample), (replay_state, key), B * T),
    }
    fns["anakin"] = anakin_call(env_name, overrides, B * T * 2)
    step = sgd_step(parts.loss_fn, make_optimiser(c, S))
    fns["grad"] = (jax.jit(step), (SGDState(state.params, state.opt_state), seqs.timestep, seqs.action, batch), B * T // S)
    return fns


def anakin_call(env_name: str, overrides: dict, steps: int):
    """The compiled Anakin step ``rlk train --agent muzero`` runs (state donated), ``steps`` env steps a call."""
    from pathlib import Path

    from rlk.core.config import build_run_config
    from rlk.core.run import Run, resolve

    raw = {"agent": {"name": "muzero", **overrides}, "env": {"name": env_name}, "backend": {"name": "cpu"},
           "log_every_steps": steps, "max_rows_per_call": 1}
    program = Run(resolve(build_run_config(raw)), Path(".")).build()
    box = {"state": program.init([0])}

    def call():  # compiled on the first call (the warm-up), so that --only without it skips the compile
        if "step" not in box:
            box["step"] = program.compile(box["state"])
        box["state"], metrics = box["step"](box["state"])
        return metrics

    return call, (), program.env_steps_per_step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="minatar-breakout")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=3, help="calls per piece per round")
    p.add_argument("--only", default=None, help="comma-separated pieces")
    p.add_argument("overrides", nargs="*", help="agent FIELD=VALUE")
    a = p.parse_args()
    overrides = dict((kv.split("=", 1)[0], _value(kv.split("=", 1)[1])) for kv in a.overrides)
    fns = pieces(a.env, overrides)
    if a.only:
        fns = {k: v for k, v in fns.items() if k in a.only.split(",")}
    for fn, args, _ in fns.values():
        jax.block_until_ready(fn(*args))
    cpu = {k: [] for k in fns}
    wall = {k: [] for k in fns}
    for _ in range(a.rounds):
        for name, (fn, args, _) in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(a.calls):
                jax.block_until_ready(fn(*args))
            cpu[name].append((time.process_time() - c0) / a.calls)
            wall[name].append((time.perf_counter() - w0) / a.calls)
    print(f"# {a.env}, {overrides or 'defaults'}; best of {a.rounds} rounds x {a.calls} calls, jax {jax.__version__}")
    print("| piece | CPU ms per call (best) | wall ms per call (best) | env steps per call | CPU us per env step |")
    print("|---|---:|---:|---:|---:|")
    for name, (_, _, steps) in fns.items():
        c = min(cpu[name]) * 1e3
        print(f"| {name} | {c:.1f} | {min(wall[name]) * 1e3:.1f} | {steps} | {1e3 * c / steps:.1f} |")


if __name__ == "__main__":
    main()
