"""Per-step costs of rlk's Anakin PPO on this machine, the inputs of ``scaling_model``.

    python -m experiments.podracer.measure_costs [--env catch] [--devices 1,2,4] [--out FILE.json]

For each device count N, a subprocess started with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
measures (wall seconds, compile excluded, best of ``--repeats`` interleaved repeats, as ``rlk bench``):

- on 1 device, for per-device batches ``--batches`` (16, 32, 64 envs; ``unroll_length`` 16):
  ``env_s``: the wrapped environment alone, random actions, ``T`` steps (``rlk.bench.make_random_rollout``);
  ``rollout_s``: ``T`` steps of acting and env stepping (``rlk.plugins.backends.anakin.rollout``), so
  ``act_s = rollout_s - env_s``; ``update_s``: one PPO ``update`` (4 epochs x 4 minibatches) of that
  trajectory; all three inside a 1-device ``shard_map`` as Anakin runs them;
- on N devices: ``allreduce_s``, one ``psum`` of a float32 vector the size of PPO's parameters over the
  N devices (what each minibatch's gradient mean costs), and ``anakin_steps_per_s``, the real program
  (``rlk bench``'s ``rlk_timer``: ``rlk train --env ENV -o backend.num_devices=N``, 64 envs split N ways).

Two processes (``jax.distributed`` over 127.0.0.1, gloo): ``--processes 2`` runs this module as processes 0
and 1 of one run, ``--devices-per-process`` devices each, and measures ``allreduce_s`` and
``anakin_steps_per_s`` over the global mesh (Anakin spans processes: ``rlk.plugins.backends.anakin``).
Sebulba across processes is measured by ``rlk bench --sebulba`` once it spans processes (issue 31 item 1);
``scaling_model --sebulba-rows FILE`` reads those rows.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

UNROLL = 16
CALLS = 20  # compiled repetitions inside one timed call (the timed call is long enough to time)


def best_wall(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best wall seconds of each thunk over ``repeats`` rounds, the thunks taking turns (after a warm-up)."""
    import jax

    for f in fns.values():
        jax.block_until_ready(f())
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f())
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def component_costs(env_name: str, batch: int, repeats: int) -> dict[str, float]:
    """Seconds of ``T`` env steps, ``T`` rollout steps (act + env) and one update, at ``batch`` envs, 1 device."""
    import jax
    from jax.sharding import PartitionSpec as P

    from rlk import bench
    from rlk.plugins.backends.anakin import rollout

    program = bench.rlk_program(env_name, 1, batch * UNROLL, bench.Setup(num_envs=batch, unroll_length=UNROLL))
    agent, env, mesh = program.agent, program.env, program.mesh
    s = jax.tree.map(lambda x: x[0], program.init([0]))
    shard = lambda f: jax.jit(jax.shard_map(f, mesh=mesh, in_specs=P(), out_specs=P(), check_vma=False))

    def rollouts(s):
        def body(carry, key):
            carry, traj = rollout(agent, env, s.learner.params, *carry, key, UNROLL)
            return carry, traj.timestep.reward.sum()
        return jax.lax.scan(body, (s.actor, s.env, s.timestep), jax.random.split(s.key, CALLS))[1]

    def updates(args):
        learner, traj, key = args
        step = lambda l, k: (agent.update(l, traj, k)[0], None)
        return jax.lax.scan(step, learner, jax.random.split(key, CALLS))[0]

    _, traj = rollout(agent, env, s.learner.params, s.actor, s.env, s.timestep, s.key, UNROLL)
    init, run = bench.make_random_rollout(env, batch, UNROLL * CALLS, mesh)
    env_state = init(jax.random.PRNGKey(0))
    roll_fn, update_fn = shard(rollouts), shard(updates)
    times = best_wall({"env": lambda: run(jax.tree.map(lambda x: x.copy(), env_state))[1],
                       "rollout": lambda: roll_fn(s), "update": lambda: update_fn((s.learner, traj, s.key))}, repeats)
    return {"batch": batch, "env_s": times["env"] / CALLS, "rollout_s": times["rollout"] / CALLS,
            "update_s": times["update"] / CALLS}


def param_count(env_name: str) -> int:
    import jax

    from rlk import bench

    program = bench.rlk_program(env_name, 1, 1024)
    params = jax.tree.map(lambda x: x[0], program.init([0])).learner.params
    return sum(x.size for x in jax.tree.leaves(params))


def allreduce_seconds(num_floats: int, repeats: int, work: int = 0) -> float:
    """Seconds of one ``psum`` of ``num_floats`` float32 over every device of the (global) mesh; with ``work``,
    each ``psum`` follows a ``work x work`` matmul on every device (compute between collectives, as in an
    update: the processes must meet again after computing) and the matmul's own time is subtracted."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P

    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",), axis_types=(jax.sharding.AxisType.Auto,))

    def many(x, reduce: bool):
        def body(x, _):
            if work:
                m = jnp.tanh(jnp.full((work, work), x[0]) @ jnp.full((work, work), 1.0 / work))
                x = x + m[0, 0] * 1e-9
            return (jax.lax.psum(x, "data") * (1.0 / mesh.size) if reduce else x), None  # a chain: psums stay apart
        return jax.lax.scan(body, x, None, length=CALLS)[0]

    fns = {k: jax.jit(jax.shard_map(lambda x, r=r: many(x, r), mesh=mesh, in_specs=P("data"), out_specs=P("data"),
                                    check_vma=False)) for k, r in (("psum", True), ("work", False))}
    local = np.ones((len(jax.local_devices()) * num_floats,), np.float32)
    x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), local)
    times = best_wall({k: (lambda f=f: f(x)) for k, f in fns.items() if work or k == "psum"}, repeats)
    return (times["psum"] - times.get("work", 0.0)) / CALLS


def anakin_steps_per_s(env_name: str, num_devices: int, repeats: int) -> float:
    from rlk import bench

    timer, _, _ = bench.rlk_timer(env_name, num_devices, 1, bench.Budget(calls=4, repeats=repeats))
    timer.warm()
    for _ in range(repeats):
        timer.once()
    return timer.steps_per_s


def measure_here(env_name: str, batches: Sequence[int], repeats: int) -> dict[str, Any]:
    """This process's row: its device count, components (1 device only), all-reduce and the real program."""
    import jax

    n = jax.device_count()
    row: dict[str, Any] = {"devices": n, "processes": jax.process_count(), "env": env_name,
                           "params": param_count(env_name), "load_before": os.getloadavg()[0]}
    if n == 1:
        row["components"] = [component_costs(env_name, b, repeats) for b in batches]
        row["allreduce_s"] = 0.0
    else:
        row["allreduce_s"] = allreduce_seconds(row["params"], repeats)
        # the same psum after 128 x 128 matmuls: collectives that follow compute, as in a PPO update
        row["allreduce_after_work_s"] = allreduce_seconds(row["params"], repeats, work=128)
    # backend.num_devices counts each process's devices (the mesh spans all processes)
    row["anakin_steps_per_s"] = anakin_steps_per_s(env_name, jax.local_device_count(), repeats)
    row["load_after"] = os.getloadavg()[0]
    return row


def _cpu_env(devices: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return {**env, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


def _child_args(a: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "experiments.podracer.measure_costs", "--child", "--env", a.env,
            "--batches", a.batches, "--repeats", str(a.repeats)]


def run_devices(a: argparse.Namespace, devices: int) -> dict[str, Any]:
    out = subprocess.run(_child_args(a), env=_cpu_env(devices), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_processes(a: argparse.Namespace) -> dict[str, Any]:
    """Processes 0..P-1 of one ``jax.distributed`` run on 127.0.0.1; process 0's row."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([*_child_args(a), "--coordinator", f"127.0.0.1:{port}", "--num-processes",
                               str(a.processes), "--process-id", str(i)], env=_cpu_env(a.devices_per_process),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(a.processes)]
    try:
        outs = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outs):
        if p.returncode:
            raise SystemExit(f"measure_costs: a process failed:\n{err[-2000:]}")
    return json.loads(outs[0][0].strip().splitlines()[-1])


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="catch")
    p.add_argument("--devices", default="1,2,4", help="device counts, one subprocess each")
    p.add_argument("--batches", default="16,32,64", help="per-device batches of the 1-device components")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--processes", type=int, default=0, help="also measure this many processes (0: none)")
    p.add_argument("--devices-per-process", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--coordinator", default=None, help=argparse.SUPPRESS)
    p.add_argument("--num-processes", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--process-id", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    batches = [int(b) for b in a.batches.split(",")]
    if a.child:
        if a.coordinator:
            import jax

            jax.distributed.initialize(coordinator_address=a.coordinator, num_processes=a.num_processes,
                                       process_id=a.process_id)
        print(json.dumps(measure_here(a.env, batches, a.repeats)))
        return
    rows: list[dict[str, Any]] = []

    def save(row: dict[str, Any]) -> None:  # after every row: a later failure keeps the rows measured
        rows.append(row)
        if a.out:
            a.out.write_text(json.dumps({"machine": _machine(), "rows": rows}, indent=2) + "\n")

    for n in [int(d) for d in a.devices.split(",") if d]:
        print(f"measuring {n} device(s) ...", file=sys.stderr)
        save(run_devices(a, n))
    if a.processes:
        print(f"measuring {a.processes} processes x {a.devices_per_process} devices ...", file=sys.stderr)
        save(run_processes(a))
    print(json.dumps({"machine": _machine(), "rows": rows}, indent=2))


def _machine() -> dict[str, Any]:
    from rlk.bench import machine

    return machine()


if __name__ == "__main__":
    main()
