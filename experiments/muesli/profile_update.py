"""Where one Muesli update's time goes: each piece jitted alone, timed in alternating rounds in one process.

    python -m experiments.muesli.profile_update [--env minatar-breakout] [--rounds 5] [-o hidden_sizes=[64] ...]
        [--baseline REV]

The agent is built as ``rlk train --agent muesli --env E`` builds it (defaults, ``-o FIELD=JSON`` overrides of
``MuesliConfig``); the data is a batch of random observations shaped like the env's, its replay filled by a few
updates first. Each piece is compiled, warmed up, then called ``--calls`` times per round; rounds alternate over
the pieces. Reported per piece: the best round's wall and CPU milliseconds per call (``time.process_time``: steadier
than wall on a shared machine) and XLA's own flop count of the compiled piece (``cost_analysis``).
``--baseline REV`` adds the same pieces built from the Muesli code of git revision ``REV`` (``throughput.baseline_package``),
named ``REV:piece``, in the same alternating rounds: before and after in one process.

Pieces (``[T+1, N]`` = the joined batch of online and replayed sequences):
- ``update``: the learner's whole update (replay, targets, gradient step, target EMA), its state donated;
- ``replay``: adding the online sequences to the buffer (donated: in place) and joining a sampled draw;
- ``target_net``: the target network on all ``(T+1) N`` states (representation, prior, value, one-step look-ahead
  over every action: dynamics, reward and value heads on ``A (T+1) N`` successors);
- ``target_net_no_lookahead``: the same without the look-ahead (representation, prior and value only);
- ``targets``: everything the target network's side builds (``target_net``, Retrace, sigma, CMPO, two-hot targets);
- ``loss_fwd``: the online side's loss, forward only; ``loss_grad``: its value and gradient;
- ``online_k0_grad``: value and gradient of the online representation and heads at s_j only (no model unroll), the
  share of ``loss_grad`` that is not the K-step model;
- ``sgd_step``: gradient, Adam and the global-norm clip; ``act_rollout``: acting on ``T`` steps of ``B`` states
  (the rollout's network share; the env's own step is not in it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time
from types import ModuleType

import jax
import jax.numpy as jnp

from rlk.bench import make_env
from rlk.core.losses import agent_losses
from rlk.core.types import TimeStep, Trajectory
from rlk.learn.replay import sequences
from rlk.learn.sgd import SGDState
from rlk.nn.value_transforms import Support
from rlk.plugins.muesli import agent as current_agent
from rlk.plugins.muesli import networks as current_networks
from rlk.plugins.muesli.config import MuesliConfig


def random_trajectory(spec, T: int, B: int, key, act, params) -> Trajectory:
    """``[T+1, B]`` random observations (episode ends here and there) with actions and log-probs of ``act``."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    obs = jax.random.uniform(k1, (T + 1, B) + tuple(spec.observation.shape)).astype(spec.observation.dtype)
    ts = TimeStep(obs, jax.random.normal(k2, (T + 1, B)), jnp.ones((T + 1, B)), jax.random.uniform(k3, (T + 1, B)) < 0.05)
    action, _, extras = jax.vmap(lambda t, k: act(params, (), t, k))(jax.tree.map(lambda x: x[:T], ts),
                                                                     jax.random.split(k4, T))
    return Trajectory(ts._replace(info={}), action, extras)


def pieces(config: MuesliConfig, env_name: str, agent_module: ModuleType = current_agent,
           networks: ModuleType = current_networks) -> dict:
    """name -> (jitted function, its arguments), for the Muesli code of ``agent_module`` and ``networks``."""
    apply_mlp, represent, target_stats = networks.apply_mlp, networks.represent, agent_module.target_stats
    spec = make_env(env_name).spec
    parts = agent_module.make_muesli_parts(config, spec, None, agent_losses("muesli", config.loss_weights))
    agent, c = parts.agent, config
    T, B = c.unroll_length, c.num_envs
    support = Support(-c.support_max, c.support_max, c.num_atoms)
    update = jax.jit(agent.update)
    state = jax.jit(agent.init)(jax.random.PRNGKey(0))
    traj = random_trajectory(spec, T, B, jax.random.PRNGKey(1), agent.act, state.params)
    for i in range(4):  # fill the replay a little
        state, _ = update(state, random_trajectory(spec, T, B, jax.random.PRNGKey(10 + i), agent.act, state.params),
                          jax.random.PRNGKey(i))
    replay = _closure(agent.update, "replay")
    buffer, seq = jax.jit(replay.add_and_join)(state.replay, sequences(traj), jax.random.PRNGKey(5))
    obs = seq.timestep.observation
    flat_obs = obs.reshape((-1,) + obs.shape[2:])
    gamma = c.gamma

    batch_targets = _closure(agent.update, "targets")
    loss_fn = _closure(agent.update, "step")
    key = jax.random.PRNGKey(7)
    batch, _ = jax.jit(batch_targets)(state, seq, key)
    inner_loss = _closure(loss_fn, "loss_fn")

    def no_lookahead(net, o):
        s = represent(net, o)
        return apply_mlp(net.policy_head, s), apply_mlp(net.value_head, s)

    def online_k0(net, o):
        M = o.shape[0] * o.shape[1]
        s = represent(net, o.reshape((M,) + o.shape[2:]))
        return jnp.sum(apply_mlp(net.policy_head, s)) + jnp.sum(apply_mlp(net.value_head, s))

    def act_rollout(params, ts, keys):
        return jax.vmap(lambda t, k: agent.act(params, (), t, k)[0])(ts, keys)

    act_ts = jax.tree.map(lambda x: x[:T], traj.timestep)
    carried = jax.tree.map(jnp.copy, state)  # the update and replay pieces donate their state, as the run loop does
    return {
        "update": (jax.jit(agent.update, donate_argnums=0), [carried, traj, key]),
        "replay": (jax.jit(replay.add_and_join, donate_argnums=0), [jax.tree.map(jnp.copy, state.replay),
                                                                   sequences(traj), key]),
        "target_net": (jax.jit(target_stats, static_argnums=(2, 3)), (state.target_params, flat_obs, gamma, support)),
        "target_net_no_lookahead": (jax.jit(no_lookahead), (state.target_params, flat_obs)),
        "targets": (jax.jit(batch_targets), (state, seq, key)),
        "loss_fwd": (jax.jit(inner_loss), (state.params, seq, batch, key)),
        "loss_grad": (jax.jit(jax.grad(lambda p, *a: inner_loss(p, *a)[0])), (state.params, seq, batch, key)),
        "online_k0_grad": (jax.jit(jax.grad(online_k0)), (state.params, obs[:T])),
        "sgd_step": (jax.jit(loss_fn), (SGDState(state.params, state.opt_state), seq, batch, key)),
        "act_rollout": (jax.jit(act_rollout), (state.params, act_ts, jax.random.split(key, T))),
    }


def call(name: str, fn, args: list) -> None:
    """One call of a piece; ``update`` and ``replay`` carry their (donated) state to the next call."""
    out = fn(*args)
    if name.split(":")[-1] in ("update", "replay"):
        args[0] = out[0]
    jax.block_until_ready(out)


def _closure(fn, name: str):
    """The function ``name`` that ``fn`` closes over (the learner's ``targets`` and ``step``, the step's ``loss_fn``)."""
    for cell_name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
        if cell_name == name:
            return cell.cell_contents
    raise KeyError(name)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="minatar-breakout")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=3)
    p.add_argument("-o", action="append", default=[], help="MuesliConfig FIELD=JSON")
    p.add_argument("--only", default=None)
    p.add_argument("--baseline", default=None, help="also the pieces of the Muesli code of this git revision")
    a = p.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.o)}
    config = MuesliConfig(**overrides)
    table = pieces(config, a.env)
    if a.baseline:
        from experiments.muesli.throughput import baseline_package

        package = baseline_package(a.baseline)
        old = pieces(config, a.env, importlib.import_module(f"{package}.agent"),
                     importlib.import_module(f"{package}.networks"))
        table = {k: v for name in table for k, v in ((f"{a.baseline}:{name}", old[name]), (name, table[name]))}
    if a.only:
        table = {k: v for k, v in table.items() if k.split(":")[-1] in a.only.split(",")}
    flops, best_wall, best_cpu = {}, {}, {}
    for name, (fn, args) in table.items():
        cost = fn.lower(*args).compile().cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        flops[name] = cost.get("flops", float("nan"))
        call(name, fn, args)
    for _ in range(a.rounds):
        for name, (fn, args) in table.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(a.calls):
                call(name, fn, args)
            w, cpu = (time.perf_counter() - t0) / a.calls, (time.process_time() - c0) / a.calls
            best_wall[name] = min(best_wall.get(name, w), w)
            best_cpu[name] = min(best_cpu.get(name, cpu), cpu)
    c = config
    print(f"{a.env}: Muesli {c.num_envs} envs x {c.unroll_length} steps, replay {c.replay_fraction}, K {c.model_unroll}, "
          f"hidden {list(c.hidden_sizes)}, latent {c.latent_size}, atoms {c.num_atoms}; best of {a.rounds} rounds x "
          f"{a.calls} calls; load {os.getloadavg()[0]:.1f}")
    print(f"  {'piece':36s} {'wall ms':>9s} {'CPU ms':>9s} {'GFLOP':>8s}")
    for name in table:
        print(f"  {name:36s} {1e3 * best_wall[name]:9.1f} {1e3 * best_cpu[name]:9.1f} {flops[name] / 1e9:8.3f}")


if __name__ == "__main__":
    main()
