"""``rlk bench``: Anakin PPO training throughput beside its ceiling and a single-file peer.

For each environment, device count and number of seeds, one process measures, after compiling:

- ``steps_per_s``: rlk's PPO trained by Anakin through the real path (``RunConfig`` -> registry ->
  ``cpu`` backend over the first N CPU devices -> ``make_anakin`` -> ``AnakinProgram.compile``), timed
  over calls of the compiled step as ``rlk train`` makes them (state donated, metrics summarised
  to numpy after each call, as the run loop does);
- ``ceiling_steps_per_s``: the same wrapped environment (``for_training``) stepped with random
  actions, same batch and placement (``shard_map`` over the same mesh), ``lax.scan``, one ``jit``;
- ``peer_steps_per_s``: ``benchmarks/peer_ppo.py``, a single-file PureJaxRL-style PPO with the same
  network and hyperparameters, on one device (it is single-device code; several seeds by ``vmap``).

All three count environment steps summed over environments and seeds, exclude compile time
(reported apart) and wait for results with ``block_until_ready``. Repeats are interleaved (rlk,
ceiling, peer, rlk, ...) so that load on the machine hits all three alike; the best repeat is
reported (the least load-dependent estimate on a shared machine; the same rule for all three).

Several CPU devices need ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` before JAX starts,
so rows with more devices than this process has run in a subprocess (``python -m rlk.bench``).

``Setup`` picks the platform (``--backend cpu|gpu|tpu``: all three measured on its devices, the
peer on its first), the number of environments (``--num-envs``, PPO's ``agent.num_envs`` and the
peer's ``NUM_ENVS``; accelerators want thousands) and the rollout length (``--unroll-length``, PPO's
``agent.unroll_length`` and the peer's ``NUM_STEPS``).

``--preset issue26`` times, instead, rlk's whole run loop (``rlk train``: compiled calls, metric rows,
TensorBoard, checkpoints, progress bar; the summary's ``loop_s``, compile excluded) against the peer's
``jit(train)`` over the same env steps, rounds alternating, best round of each reported
(``bench_loop``).

``--agents ppo,muesli`` times, instead, those agents at their defaults side by side on ``--envs`` (default
minatar-breakout): one device, one seed, repeats alternating over the agents, env steps/s and per CPU-second
as ratios to the first agent (``agent_rows``).

``--muzero-search`` times, instead, MuZero's acting step beside bare ``mctx`` search at the same batch,
simulations and network, rounds alternating (``muzero_search_row``; issue 30: within 1.3x).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

DEFAULT_ENVS = ("catch", "CartPole-v1", "minatar-breakout")
ROW_KEYS = ("name", "env", "devices", "seeds", "steps_per_s", "ceiling_steps_per_s", "peer_steps_per_s",
            "ratio", "peer_ratio", "peer_devices", "compile_s", "peer_compile_s", "env_steps_per_call",
            "machine", "platform", "num_envs")  # the keys of every row ``run_benchmarks`` returns
PLATFORMS = ("cpu", "gpu", "tpu")
PEER_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "peer_ppo.py"


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much to time: ``repeats`` x (``calls`` compiled calls of ``log_every_steps`` env steps per seed).

    The peer runs the same number of updates in one call of its ``train`` (as PureJaxRL does), the
    ceiling the same number of env steps in one call.
    """

    calls: int = 4
    repeats: int = 3
    log_every_steps: int = 10_000


BUDGETS = {"quick": Budget(calls=2, repeats=2), "default": Budget(calls=4, repeats=3)}


@dataclasses.dataclass(frozen=True)
class Setup:
    """What to run: the ``platform`` whose devices run rlk, the ceiling and the peer (as ``--backend``
    picks them for ``rlk train``), and PPO's options that differ from ``PPOConfig``'s defaults (``None``:
    the default): ``num_envs``, ``unroll_length``, ``learning_rate``, and ``anneal_updates``, a step size
    annealed linearly to 0 over that many updates (``lr_schedule=linear``; the peer's ``ANNEAL_LR``)."""

    platform: str = "cpu"
    num_envs: Optional[int] = None
    unroll_length: Optional[int] = None
    learning_rate: Optional[float] = None
    anneal_updates: Optional[int] = None

    def agent(self) -> dict[str, Any]:
        """PPO's options this setup changes (as ``-o agent.FIELD=VALUE``)."""
        given = {"num_envs": self.num_envs, "unroll_length": self.unroll_length, "learning_rate": self.learning_rate}
        out = {k: v for k, v in given.items() if v is not None}
        if self.anneal_updates is not None:
            out.update(lr_schedule="linear", lr_decay_updates=self.anneal_updates)
        return out

    def overrides(self) -> dict[str, Any]:
        """The run-config entries this setup changes (as ``-o agent.num_envs=N --backend P``)."""
        agent = {"agent": {"name": "ppo", **self.agent()}} if self.agent() else {}
        return {"backend": {"name": self.platform}, **agent}


# -- the machine ---------------------------------------------------------------------------------
def machine(platform: str = "cpu") -> dict[str, Any]:
    """CPU model name (from /proc/cpuinfo) and core count; for an accelerator platform also its device
    kind (e.g. ``NVIDIA H100 80GB HBM3``) as ``accelerator``."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": model, "cores": os.cpu_count()}
    if platform != "cpu":
        info["accelerator"] = platform_devices(platform)[0].device_kind
    return info


def platform_devices(platform: str) -> list:
    """This process's devices of ``platform``; a one-line ``RlkError`` (the backend's own, e.g.
    "backend 'tpu': no TPU device on this machine ...") where it has none."""
    from rlk.core.errors import RlkError

    if platform not in PLATFORMS:
        raise RlkError(f"bench: --backend must be one of {', '.join(PLATFORMS)}, not '{platform}'")
    from rlk.core.devices import find_devices

    import jax

    return [d for d in find_devices(platform) if d.process_index == jax.process_index()]


# -- timing --------------------------------------------------------------------------------------
class Timer:
    """Times calls of a function returning arrays (waits for them); keeps every measurement."""

    def __init__(self, call: Callable[[], Any], steps: int):
        self.call, self.steps, self.times = call, steps, []

    def warm(self) -> "Timer":
        self.call()
        return self

    def once(self) -> None:
        t0 = time.perf_counter()
        self.call()
        self.times.append(time.perf_counter() - t0)

    @property
    def steps_per_s(self) -> float:
        """Best repeat (see the module docstring)."""
        return self.steps / min(self.times)


def _block(tree):
    import jax

    return jax.block_until_ready(tree)


# -- environments --------------------------------------------------------------------------------
def make_env(name: str):
    """The registered environment ``name`` with its default config (as ``rlk train`` builds it)."""
    from rlk.core.config import plugin_config, Component
    from rlk.core.registry import default_registry

    plugin = default_registry().get("env", name)
    return plugin.factory(plugin_config(Component(name=name), plugin.config)) if plugin.config else plugin.factory()


def ppo_defaults(setup: Setup = Setup()) -> Any:
    """``PPOConfig``'s defaults with ``setup``'s options."""
    from rlk.core.registry import default_registry

    return default_registry().get("agent", "ppo").config.model_validate(setup.agent())


# -- (i) rlk Anakin PPO --------------------------------------------------------------------------
def rlk_program(env_name: str, num_devices: int, log_every_steps: int, setup: Setup = Setup()):
    """The Anakin program ``rlk train --env ENV --backend P -o backend.num_devices=N`` would build."""
    from rlk.core.config import build_run_config
    from rlk.core.run import Run, resolve

    raw = {"env": {"name": env_name}, "log_every_steps": log_every_steps, "max_rows_per_call": 1, **setup.overrides()}
    raw["backend"]["num_devices"] = num_devices
    return Run(resolve(build_run_config(raw)), Path(".")).build()


def rlk_timer(env_name: str, num_devices: int, num_seeds: int, budget: Budget,
              setup: Setup = Setup()) -> tuple[Timer, float, int]:
    """A timer over ``budget.calls`` compiled Anakin calls (as the run loop makes them), compile seconds,
    and env steps per call (all seeds)."""
    program = rlk_program(env_name, num_devices, budget.log_every_steps, setup)
    box = {"state": program.init(list(range(num_seeds)))}
    t0 = time.perf_counter()
    step = program.compile(box["state"])
    compile_s = time.perf_counter() - t0

    def calls():
        for _ in range(budget.calls):
            box["state"], metrics = step(box["state"])
            program.summarise(metrics)  # what the run loop does after each call (fetches metrics)
        _block(box["state"])

    steps_per_call = program.env_steps_per_step * num_seeds
    return Timer(calls, budget.calls * steps_per_call), compile_s, steps_per_call


# -- (ii) the ceiling: same env, random actions ---------------------------------------------------
def make_random_rollout(env, num_envs: int, length: int, mesh):
    """A jitted ``(state) -> (state, (return_sum, episodes))`` stepping ``num_envs`` copies of ``env``
    (already wrapped) ``length`` times with uniform random (legal, or in-bounds) actions, the batch split over
    ``mesh``'s ``data`` axis; and ``init(key) -> state``."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec as P

    axis = mesh.axis_names[0]
    local = num_envs // mesh.size
    action_spec = env.spec.action
    continuous = not hasattr(action_spec, "num_values")  # a BoxSpec: uniform in [low, high]

    def init_local(key):
        key = jax.random.fold_in(key[0], jax.lax.axis_index(axis))
        reset_key, run_key = jax.random.split(key)
        env_state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, local))
        return env_state, ts, run_key[None]

    def run_local(carry):
        env_state, ts, key = carry

        def body(c, step_key):
            env_state, ts, ret, eps = c
            act_key, env_key = jax.random.split(step_key)
            if continuous:
                action = jax.random.uniform(act_key, (local, *action_spec.shape), minval=action_spec.low,
                                            maxval=action_spec.high)
            elif ts.legal_action_mask is None:
                action = jax.random.randint(act_key, (local,), 0, action_spec.num_values)
            else:
                action = jax.random.categorical(act_key, jnp.where(ts.legal_action_mask, 0.0, -jnp.inf))
            env_state, ts = jax.vmap(env.step)(env_state, action, jax.random.split(env_key, local))
            done = ts.last.astype(jnp.float32)
            return (env_state, ts, ret + jnp.sum(ts.info["episode_return"] * done), eps + jnp.sum(done)), None

        key, loop_key = jax.random.split(key[0])
        zero = jnp.float32(0.0)
        (env_state, ts, ret, eps), _ = jax.lax.scan(body, (env_state, ts, zero, zero),
                                                    jax.random.split(loop_key, length))
        return (env_state, ts, key[None]), jax.lax.psum((ret, eps), axis)

    split, rep = P(axis), P()
    init = jax.jit(jax.shard_map(init_local, mesh=mesh, in_specs=(rep,), out_specs=(split, split, split),
                                 check_vma=False))
    run = jax.jit(jax.shard_map(run_local, mesh=mesh, in_specs=((split, split, split),),
                                out_specs=((split, split, split), rep), check_vma=False), donate_argnums=0)

    def init_fn(key):
        return init(jax.device_put(key[None], NamedSharding(mesh, rep)))

    return init_fn, run


def ceiling_timer(env_name: str, num_devices: int, num_envs: int, length: int, calls: int,
                  platform: str = "cpu") -> Timer:
    """Env-only steps/s: ``num_envs`` random-action environments over the first ``num_devices``
    devices of ``platform``, ``calls`` calls of ``length`` steps."""
    import jax

    from rlk.core.wrappers import for_training

    mesh = _mesh(num_devices, platform)
    init, run = make_random_rollout(for_training(make_env(env_name)), num_envs, length, mesh)
    box = {"state": init(jax.random.PRNGKey(0))}
    compiled = run.lower(box["state"]).compile()

    def calls_fn():
        for _ in range(calls):
            box["state"], out = compiled(box["state"])
        _block(out)

    return Timer(calls_fn, calls * num_envs * length)


def random_policy_return(env_name: str, num_envs: int = 64, length: int = 200, seed: int = 0) -> float:
    """Mean return of the episodes a uniform random policy ends in ``length`` steps of ``num_envs`` envs."""
    import jax

    from rlk.core.wrappers import for_training

    init, run = make_random_rollout(for_training(make_env(env_name)), num_envs, length, _mesh(1))
    _, (ret, eps) = run(init(jax.random.PRNGKey(seed)))
    return float(ret) / max(float(eps), 1.0)


def _mesh(num_devices: int, platform: str = "cpu"):
    import jax
    import numpy as np

    devices = jax.devices(platform)[:num_devices]
    return jax.sharding.Mesh(np.array(devices), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


# -- (iii) the single-file peer ------------------------------------------------------------------
def load_peer():
    """``benchmarks/peer_ppo.py`` as a module (it lives beside the package, not in it), or None."""
    if not PEER_PATH.is_file():
        return None
    spec = importlib.util.spec_from_file_location("rlk_bench_peer_ppo", PEER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peer_config(num_updates: int, setup: Setup = Setup()) -> dict[str, Any]:
    """The peer's config from rlk's ``PPOConfig`` defaults (the same hyperparameters)."""
    from rlk.core.registry import default_registry

    c = ppo_defaults(setup)
    w = c.loss_weights
    clip_eps = default_registry().get("loss", "ppo_policy").config().clip_eps  # ppo_value's is the same default
    return {
        "NUM_ENVS": c.num_envs, "NUM_STEPS": c.unroll_length, "NUM_UPDATES": num_updates,
        "UPDATE_EPOCHS": c.num_epochs, "NUM_MINIBATCHES": c.num_minibatches, "LR": c.learning_rate,
        "ANNEAL_LR": c.lr_schedule == "linear", "GAMMA": c.gamma, "GAE_LAMBDA": c.gae_lambda, "CLIP_EPS": clip_eps,
        "ENT_COEF": w.get("entropy", 0.0), "VF_COEF": w.get("ppo_value", 0.0),
        "MAX_GRAD_NORM": c.max_grad_norm, "HIDDEN": tuple(c.hidden_sizes),
    }


def peer_train(env_name: str, num_seeds: int, num_updates: int, setup: Setup = Setup()):
    """The peer as PureJaxRL runs it, on the platform's device 0: ``jit(train)(key)`` for one seed,
    ``jit(vmap(train))(keys)`` for several; returns the jitted function and its argument."""
    import jax

    from rlk.core.wrappers import for_training

    peer = load_peer()
    if peer is None:
        return None, None
    env = for_training(make_env(env_name))
    train = peer.make_train(peer_config(num_updates, setup), env)
    keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
    if num_seeds == 1:
        train, keys = jax.jit(train), keys[0]
    else:
        train = jax.jit(jax.vmap(train))
    return train, jax.device_put(keys, jax.devices(setup.platform)[0])


def peer_timer(env_name: str, num_seeds: int, num_updates: int,
               setup: Setup = Setup()) -> tuple[Optional[Timer], Optional[float]]:
    train, keys = peer_train(env_name, num_seeds, num_updates, setup)
    if train is None:
        return None, None
    t0 = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    c = ppo_defaults(setup)
    return Timer(lambda: _block(compiled(keys)), num_updates * c.num_envs * c.unroll_length * num_seeds), compile_s


# -- one row, many rows --------------------------------------------------------------------------
def bench_one(env_name: str, num_devices: int, num_seeds: int, budget: Budget, peer: bool = True,
              log: Callable[[str], None] = lambda s: None, setup: Setup = Setup()) -> dict[str, Any]:
    """One row: rlk, ceiling and peer measured in this process, repeats interleaved."""
    from rlk.core.errors import RlkError

    have = len(platform_devices(setup.platform))
    if num_devices > have:
        raise RlkError(f"bench: {num_devices} devices requested, this process has {have} "
                       f"{setup.platform.upper()} device(s)")
    log(f"{env_name}: {num_devices} {setup.platform} device(s), {num_seeds} seed(s): compiling")
    rlk, compile_s, per_call = rlk_timer(env_name, num_devices, num_seeds, budget, setup)
    c = ppo_defaults(setup)
    updates_per_call = per_call // (c.num_envs * c.unroll_length * num_seeds)
    ceiling = ceiling_timer(env_name, num_devices, c.num_envs * num_seeds, c.unroll_length * updates_per_call,
                            budget.calls, setup.platform)
    peer_t, peer_compile_s = (peer_timer(env_name, num_seeds, updates_per_call * budget.calls, setup) if peer
                              else (None, None))
    timers = [t for t in (rlk, ceiling, peer_t) if t is not None]
    for t in timers:
        t.warm()
    for r in range(budget.repeats):
        log(f"{env_name}: {num_devices} device(s), {num_seeds} seed(s): repeat {r + 1}/{budget.repeats}")
        for t in timers:
            t.once()
    sps, ceil_sps = rlk.steps_per_s, ceiling.steps_per_s
    peer_sps = peer_t.steps_per_s if peer_t is not None else None
    return {
        "name": f"anakin-ppo/{env_name}/{num_devices}dev/{num_seeds}seed",
        "env": env_name,
        "devices": num_devices,
        "seeds": num_seeds,
        "steps_per_s": sps,
        "ceiling_steps_per_s": ceil_sps,
        "peer_steps_per_s": peer_sps,
        "ratio": sps / ceil_sps,
        "peer_ratio": sps / peer_sps if peer_sps else None,
        "peer_devices": 1 if peer_t is not None else None,
        "compile_s": compile_s,
        "peer_compile_s": peer_compile_s,
        "env_steps_per_call": per_call,
        "machine": machine(setup.platform),
        "platform": setup.platform,
        "num_envs": c.num_envs,
    }


# -- the real run loop against the peer's whole training ----------------------------------------
LOOP_KEYS = ("name", "kind", "env", "num_envs", "unroll_length", "learning_rate", "anneal_updates", "env_steps",
             "peer_env_steps", "steps_per_s", "peer_steps_per_s", "peer_ratio", "compile_s", "peer_compile_s",
             "rounds_s", "peer_rounds_s", "cpu_s", "peer_cpu_s", "cpu_ratio", "one_call_steps_per_s",
             "one_call_ratio", "one_call_rounds_s", "row_calls_steps_per_s", "row_calls_ratio", "row_calls_rounds_s",
             "rows_per_call", "load", "machine", "platform")


@dataclasses.dataclass(frozen=True)
class LoopShape:
    """One run-loop row's training: ``steps`` env steps of PPO on ``env`` at ``setup``'s shape."""

    env: str
    steps: int
    setup: Setup


def annealed(env: str, num_envs: int, unroll_length: int, steps: int, learning_rate: float = 2.5e-4) -> LoopShape:
    """PureJaxRL's classic-control PPO: ``learning_rate`` annealed linearly to 0 over the run's updates."""
    updates = steps // (num_envs * unroll_length)
    return LoopShape(env, steps, Setup(num_envs=num_envs, unroll_length=unroll_length, learning_rate=learning_rate,
                                       anneal_updates=updates))


# Issue 26's shapes (a PureJaxRL-style peer found rlk slower there) and rlk's default shape (64 x 16).
PRESETS = {
    "issue26": (annealed("catch", 4, 128, 1_000_000), annealed("CartPole-v1", 64, 128, 2_000_000),
                LoopShape("catch", 1_000_000, Setup())),
}


def rlk_loop_run(shape: LoopShape, run_dir: Path, **options: Any) -> dict[str, Any]:
    """``rlk train --env ENV -o agent.*=... --steps N --run-dir DIR`` with its progress bar (to /dev/null):
    the run's summary (``loop_s``: the loop's seconds after compile: calls, metric rows, TensorBoard,
    checkpoints as a default run makes them (every ``checkpoint_every_s`` and the last call), the bar)."""
    from rich.console import Console

    from rlk.core.config import build_run_config
    from rlk.core.run import train

    raw = {"env": {"name": shape.env}, "steps": shape.steps, "run_dir": str(run_dir), **shape.setup.overrides(), **options}
    with open(os.devnull, "w") as sink:
        return train(build_run_config(raw), console=Console(file=sink, force_terminal=True))[1]


def bench_loop(shape: LoopShape, rounds: int = 2, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """One row: rlk's whole ``rlk train`` run loop against the peer's ``jit(train)`` over the same env steps,
    compile excluded on both sides, rounds alternating (peer, rlk, peer, rlk, ...), best round reported;
    also the process CPU seconds of each round and ``cpu_ratio``, peer/rlk CPU seconds per env step (best rounds).

    The control ``one_call_*``: rlk's compiled program making all the run's updates in one call, as the peer's
    ``train`` does (no loop, no rows), timed in the same rounds; ``one_call_ratio`` is it over the peer, so
    ``peer_ratio`` below it is what the run loop costs (benchmarks/results-run-loop.md). The control ``row_calls_*``:
    the same loop making one compiled call per metric row (``max_rows_per_call=1``, rlk before rows were grouped),
    timed in the same rounds; ``rows_per_call`` is the grouped loop's mean rows a call (its last round)."""
    import tempfile

    setup = shape.setup
    c = ppo_defaults(setup)
    per_update = c.num_envs * c.unroll_length
    peer_updates = shape.steps // per_update
    load = list(os.getloadavg())
    log(f"{shape.env} {c.num_envs}x{c.unroll_length}, {shape.steps:,} steps: compiling the peer")
    peer_t, peer_compile_s = peer_timer(shape.env, 1, peer_updates, setup)
    log(f"{shape.env} {c.num_envs}x{c.unroll_length}: compiling rlk's program as one call of {peer_updates} updates")
    one_call = rlk_timer(shape.env, 1, 1, Budget(calls=1, repeats=1, log_every_steps=peer_updates * per_update), setup)[0]
    rlk_s, peer_s, rlk_cpu, peer_cpu, row_calls_s, summary = [], [], [], [], [], {}
    with tempfile.TemporaryDirectory(prefix="rlk-bench-") as tmp:
        for r in range(rounds):
            log(f"{shape.env} {c.num_envs}x{c.unroll_length}: round {r + 1}/{rounds}")
            if peer_t is not None:
                c0 = sum(os.times()[:2])
                peer_t.once()
                peer_cpu.append(sum(os.times()[:2]) - c0)
                peer_s.append(peer_t.times[-1])
            one_call.once()
            summary = rlk_loop_run(shape, Path(tmp) / f"round{r}")
            rlk_s.append(summary["loop_s"])
            rlk_cpu.append(summary["loop_cpu_s"])
            row_calls_s.append(rlk_loop_run(shape, Path(tmp) / f"rows{r}", max_rows_per_call=1)["loop_s"])
            with open(Path(tmp) / f"round{r}" / "metrics.csv") as f:
                walls = [row["wall_s"] for row in csv.DictReader(f)]  # the rows of one call share their wall_s
            rows_per_call = len(walls) / len(set(walls))
    load += list(os.getloadavg())
    sps = summary["env_steps"] / min(rlk_s)
    peer_sps = peer_t.steps_per_s if peer_t is not None else None
    return {
        "name": f"loop-ppo/{shape.env}/{c.num_envs}x{c.unroll_length}/{shape.steps}", "kind": "run-loop",
        "env": shape.env, "num_envs": c.num_envs, "unroll_length": c.unroll_length,
        "learning_rate": c.learning_rate, "anneal_updates": setup.anneal_updates,
        "env_steps": summary["env_steps"], "peer_env_steps": peer_updates * per_update if peer_t else None,
        "steps_per_s": sps, "peer_steps_per_s": peer_sps, "peer_ratio": sps / peer_sps if peer_sps else None,
        "compile_s": summary["compile_s"], "peer_compile_s": peer_compile_s,
        "rounds_s": [round(t, 3) for t in rlk_s], "peer_rounds_s": [round(t, 3) for t in peer_s],
        # CPU seconds (all threads) depend far less on other jobs' load than wall seconds do
        "cpu_s": [round(t, 3) for t in rlk_cpu], "peer_cpu_s": [round(t, 3) for t in peer_cpu],
        "cpu_ratio": (min(peer_cpu) / peer_updates / per_update) / (min(rlk_cpu) / summary["env_steps"]) if peer_cpu else None,
        "one_call_steps_per_s": one_call.steps_per_s,
        "one_call_ratio": one_call.steps_per_s / peer_sps if peer_sps else None,
        "one_call_rounds_s": [round(t, 3) for t in one_call.times],
        "row_calls_steps_per_s": summary["env_steps"] / min(row_calls_s),
        "row_calls_ratio": summary["env_steps"] / min(row_calls_s) / peer_sps if peer_sps else None,
        "row_calls_rounds_s": [round(t, 3) for t in row_calls_s],
        "rows_per_call": rows_per_call,
        "load": [round(x, 2) for x in load], "machine": machine(setup.platform), "platform": setup.platform,
    }


def loop_rows(preset: str, rounds: int = 2, log: Callable[[str], None] = lambda s: None,
              platform: str = "cpu") -> list[dict[str, Any]]:
    """``bench_loop`` rows of a named set of shapes (``PRESETS``) on ``platform``."""
    from rlk.core.errors import RlkError

    if preset not in PRESETS:
        raise RlkError(f"bench: --preset must be one of {', '.join(PRESETS)}, not '{preset}'")
    platform_devices(platform)
    return [bench_loop(dataclasses.replace(s, setup=dataclasses.replace(s.setup, platform=platform)), rounds, log)
            for s in PRESETS[preset]]


def _compile_cell(row: dict[str, Any]) -> str:
    """``rlk / peer`` compile seconds of a row (``-`` without a peer)."""
    peer = row["peer_compile_s"]
    return f"{row['compile_s']:.1f} / " + (f"{peer:.1f}" if peer is not None else "-")


def loop_markdown(rows: list[dict[str, Any]]) -> str:
    """Run-loop rows as a markdown table."""
    lines = ["| env | envs x steps | env steps | rlk steps/s (run loop) | peer steps/s | rlk/peer | rows a call | rlk a call per row / peer | rlk one call / peer | rounds s rlk / a call per row / peer | CPU s rlk / peer | rlk/peer by CPU s | compile s rlk / peer | load before, after |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---|"]
    for r in rows:
        comp = _compile_cell(r)
        lines.append(f"| {r['env']} | {r['num_envs']}x{r['unroll_length']} | {r['env_steps']:,} | {_fmt(r['steps_per_s'])} | "
                     f"{_fmt(r['peer_steps_per_s'])} | {_fmt(r['peer_ratio'], True)} | {_fmt(r['rows_per_call'])} | "
                     f"{_fmt(r['row_calls_ratio'], True)} | {_fmt(r['one_call_ratio'], True)} | "
                     f"{r['rounds_s']} / {r['row_calls_rounds_s']} / {r['peer_rounds_s']} | {r['cpu_s']} / {r['peer_cpu_s']} | "
                     f"{_fmt(r['cpu_ratio'], True)} | {comp} | {r['load'][:3]}, {r['load'][3:]} |")
    return "\n".join(lines)


# -- Sebulba on a host environment (Atari) -------------------------------------------------------
SEBULBA_KEYS = ROW_KEYS + ("processes", "arch", "agent", "actor_threads", "frames_per_s", "ceiling_frames_per_s", "learner",
                            "cpu_ms_per_step", "ceiling_cpu_ms_per_step", "load", "ceiling_s_before_after",
                            "training_s", "consumed_steps_per_s", "queued_steps_before_after")


def sebulba_program(env_name: str, agent: str, log_every_steps: int, num_devices: Optional[int] = None,
                    platform: str = "cpu", launch: Optional[dict] = None):
    """The Sebulba program ``rlk train --agent AGENT --env ENV --arch sebulba --backend P`` would build
    (``launch``: this process's ``coordinator``, ``num_processes`` and ``process_id`` on many hosts)."""
    from rlk.core.config import build_run_config
    from rlk.core.run import Run, resolve

    backend = {"name": platform} if num_devices is None else {"name": platform, "num_devices": num_devices}
    backend.update(launch or {})
    config = build_run_config({"agent": {"name": agent}, "env": {"name": env_name}, "arch": {"name": "sebulba"},
                               "backend": backend, "log_every_steps": log_every_steps})
    return Run(resolve(config), Path(".")).build()


class CpuTimer(Timer):
    """A ``Timer`` that also keeps the process CPU seconds (user + system, all threads) of each call:
    on a CPU shared with other jobs, CPU seconds per env step depend far less on their load than
    wall seconds do."""

    def __init__(self, call: Callable[[], Any], steps: int):
        super().__init__(call, steps)
        self.cpu_times: list[float] = []

    def once(self) -> None:
        c0 = time.process_time()  # user + system of all threads, ns resolution (os.times(): 10 ms ticks)
        super().once()
        self.cpu_times.append(time.process_time() - c0)

    @property
    def cpu_ms_per_step(self) -> float:
        """Least CPU milliseconds per env step over the repeats."""
        return 1e3 * min(self.cpu_times) / self.steps


class ProducedStepsTimer(CpuTimer):
    """A ``CpuTimer`` for a producer/consumer loop whose calls consume ``steps`` env steps from a queue:
    ``queued()`` (env steps waiting in the queue) is read before and after each call, and the steps
    *produced* in the call are ``steps - (before - after)``. A call served partly from trajectories the
    actors queued earlier (during compile and warm-up, while the learner was idle) then counts only
    what was produced while it ran, whatever the budget."""

    def __init__(self, call: Callable[[], Any], steps: int, queued: Callable[[], int]):
        super().__init__(call, steps)
        self.queued, self.produced, self.queue_levels = queued, [], []

    def once(self) -> None:
        before = self.queued()
        super().once()
        after = self.queued()
        self.queue_levels.append((before, after))
        self.produced.append(self.steps - (before - after))

    @property
    def steps_per_s(self) -> float:
        """Best repeat of produced env steps per second."""
        return max(p / t for p, t in zip(self.produced, self.times))

    @property
    def cpu_ms_per_step(self) -> float:
        """Least CPU milliseconds per produced env step over the repeats."""
        return 1e3 * min(c / max(p, 1) for c, p in zip(self.cpu_times, self.produced))

    @property
    def consumed_steps_per_s(self) -> float:
        """Best repeat of consumed env steps per second (``Timer.steps_per_s``)."""
        return super().steps_per_s


def host_ceiling_timer(factory, num_threads: int, envs_per_thread: int, steps_per_thread: int) -> Timer:
    """The host environment alone: ``num_threads`` threads (as Sebulba's actors), each stepping its own
    vector env of ``envs_per_thread`` with uniform random actions, ``steps_per_thread`` steps each."""
    import threading

    import numpy as np

    envs = [factory.make(envs_per_thread, 10_000 + i) for i in range(num_threads)]
    for i, e in enumerate(envs):
        e.reset(10_000 + i)
    n = factory.spec.action.num_values

    def work(env, rng):
        for _ in range(steps_per_thread):
            env.step(rng.integers(0, n, size=envs_per_thread))

    def call():
        threads = [threading.Thread(target=work, args=(e, np.random.default_rng(i))) for i, e in enumerate(envs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    timer = CpuTimer(call, num_threads * envs_per_thread * steps_per_thread)
    timer.close = lambda: [e.close() for e in envs]
    return timer


def _trivial_learner(program) -> None:
    """Replaces the agent's update by one that returns the learner state unchanged (and a zero loss):
    everything else (actors acting with the real network, queues, the trajectory's concatenation and
    placement, parameter pushes, metrics) runs as in training, so the row shows what the framework
    costs without the learner's compute."""
    import jax.numpy as jnp

    program.agent = program.agent._replace(update=lambda state, traj, key: (state, {"loss": jnp.float32(0.0)}))


def bench_sebulba(env_name: str = "atari-breakout", agent: str = "vtrace", budget: Budget = Budget(),
                  log: Callable[[str], None] = lambda s: None, num_devices: Optional[int] = None,
                  learner: str = "full", platform: str = "cpu", launch: Optional[dict] = None) -> dict[str, Any]:
    """One row: Sebulba training env steps/s (actor threads + learner, as ``rlk train`` runs them)
    beside the host env stepped alone by the same number of threads with random actions. Training
    counts the env steps the actors *produced* while timed (``ProducedStepsTimer``: the learner's
    consumption less what it drew from the queue filled during warm-up); ``consumed_steps_per_s`` and
    the queue levels before and after each repeat are in the row too.

    ``learner="trivial"`` keeps everything but the agent's update (see ``_trivial_learner``): the
    ratio then measures the framework's own overhead. Besides steps/s, the row has the process CPU
    milliseconds per env step of both (``cpu_ms_per_step``, ``ceiling_cpu_ms_per_step``) and the
    load average before and after (``load``): their ratio is what the training ratio tends to when
    the cores are saturated, whatever the other jobs on the machine do.

    ``platform`` places the actors' inference and the learner (``--backend gpu``: Podracer's setting,
    the update off the CPU cores that step the environments).

    ``launch``: one of several processes of one run (``sebulba_processes_row``); the training figures are
    the learner's global ones (the queue correction is this process's), the ceiling the sum over processes
    of each process's threads stepping the env alone (at the same time)."""
    if learner not in ("full", "trivial"):
        raise ValueError(f"learner must be 'full' or 'trivial', not {learner!r}")
    load_before = os.getloadavg()
    program = sebulba_program(env_name, agent, budget.log_every_steps, num_devices, platform, launch)
    processes = program.hosts.count
    if learner == "trivial":
        _trivial_learner(program)
    steps_per_thread = budget.calls * program.env_steps_per_step // (program.num_threads * program.envs_per_thread)
    # The env alone is timed both before the actors start and after they stop (they would compete for the
    # same cores): bracketing the training repeats, so a load that drifts during the row moves both alike.
    ceiling = host_ceiling_timer(program.env_factory, program.num_threads, program.envs_per_thread, steps_per_thread)
    before = max(1, budget.repeats // 2)
    try:
        ceiling.warm()
        for r in range(before):
            log(f"sebulba {agent} {env_name}: env alone {r + 1}/{budget.repeats} (before training)")
            ceiling.once()
    except BaseException:
        ceiling.close()
        program.close()
        raise
    try:
        state = program.init([0])
        log(f"sebulba {agent} {env_name}: compiling (first call starts the actor threads)")
        t0 = time.perf_counter()
        step = program.compile(state)
        box = {"state": step(state)[0]}  # the learner compiles on its first trajectory
        compile_s = time.perf_counter() - t0

        def calls():
            for _ in range(budget.calls):
                box["state"], metrics = step(box["state"])
                program.summarise(metrics)
            _block(box["state"])

        rlk = ProducedStepsTimer(calls, budget.calls * program.env_steps_per_step, program.queued_env_steps)
        rlk.warm()
        for r in range(budget.repeats):
            log(f"sebulba {agent} {env_name}: repeat {r + 1}/{budget.repeats} (training)")
            rlk.once()
    except BaseException:
        ceiling.close()
        raise
    finally:
        program.close()
    try:
        for r in range(before, max(budget.repeats, before + 1)):
            log(f"sebulba {agent} {env_name}: env alone {r + 1}/{budget.repeats} (after training)")
            ceiling.once()
    finally:
        ceiling.close()
    frames = getattr(getattr(program.env_factory, "config", None), "frameskip", 1)
    sps, ceil_sps = rlk.steps_per_s, ceiling.steps_per_s
    if processes > 1:
        from jax.experimental import multihost_utils

        ceil_sps = float(multihost_utils.process_allgather(ceil_sps).sum())
    return {
        "name": f"sebulba-{agent}/{env_name}/{program.info.num_devices}dev/1seed" + (f"/{processes}proc" if processes > 1 else ""),
        "env": env_name, "processes": processes,
        "devices": program.info.num_devices, "seeds": 1, "steps_per_s": sps, "ceiling_steps_per_s": ceil_sps,
        "peer_steps_per_s": None, "ratio": sps / ceil_sps, "peer_ratio": None, "peer_devices": None,
        "compile_s": compile_s, "peer_compile_s": None, "env_steps_per_call": program.env_steps_per_step,
        "machine": machine(platform), "platform": platform, "num_envs": program.agent.num_envs,
        "arch": "sebulba", "agent": agent, "actor_threads": program.num_threads * processes,
        "frames_per_s": sps * frames, "ceiling_frames_per_s": ceil_sps * frames, "learner": learner,
        "cpu_ms_per_step": rlk.cpu_ms_per_step, "ceiling_cpu_ms_per_step": ceiling.cpu_ms_per_step,
        "load": [round(x, 2) for x in load_before + os.getloadavg()],
        "ceiling_s_before_after": [round(t, 3) for t in ceiling.times], "training_s": [round(t, 3) for t in rlk.times],
        "consumed_steps_per_s": rlk.consumed_steps_per_s, "queued_steps_before_after": rlk.queue_levels,
    }


SEBULBA_BUDGET = Budget(calls=3, repeats=2, log_every_steps=5_120)  # 4 learner updates of 64 x 20 per call


def sebulba_rows(envs: Optional[str], log: Callable[[str], None] = lambda s: None,
                 platform: str = "cpu", processes: Sequence[int] = (1,)) -> list[dict[str, Any]]:
    """``bench_sebulba`` rows for the comma-separated ``envs`` (none when ``envs`` is empty), one per number
    of ``processes`` (more than 1: local processes of one run, ``sebulba_processes_row``)."""
    names = _names(envs or "")
    if names:
        platform_devices(platform)  # a missing platform fails in one line before anything is built
    return [bench_sebulba(e, budget=SEBULBA_BUDGET, log=log, platform=platform) if n == 1
            else sebulba_processes_row(e, n, platform, log) for e in names for n in processes]


def sebulba_processes_row(env_name: str, processes: int, platform: str, log: Callable[[str], None]) -> dict[str, Any]:
    """``bench_sebulba`` by ``processes`` local processes of one ``jax.distributed`` run (127.0.0.1), each
    with this process's ``XLA_FLAGS``; process 0's row."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log(f"sebulba {env_name}: {processes} local processes (coordinator 127.0.0.1:{port})")
    procs = [subprocess.Popen([sys.executable, "-m", "rlk.bench", "--json", "--sebulba", env_name, "--backend", platform,
                               "--sebulba-launch", f"127.0.0.1:{port},{processes},{i}"],
                              stdout=subprocess.PIPE if i == 0 else subprocess.DEVNULL, text=True) for i in range(processes)]
    out = procs[0].communicate()[0]
    codes = [p.wait() for p in procs]
    if any(codes):
        from rlk.core.errors import RlkError

        raise RlkError(f"bench: the {processes}-process Sebulba run failed (exit codes {codes})")
    return json.loads(out.strip().splitlines()[-1])[0]  # the row's line (gloo prints to stdout too)


def default_devices(platform: str) -> list[int]:
    """Device counts measured when ``--devices`` is not given: 1, 2, 4 CPU devices (host devices made
    by a subprocess), or 1 and all of an accelerator platform's devices."""
    if platform == "cpu":
        return [1, 2, 4]
    return sorted({1, len(platform_devices(platform))})


def run_benchmarks(envs: Sequence[str], devices_list: Optional[Sequence[int]], seeds_list: Sequence[int],
                   budget: Budget | str = "default", peer: bool = True,
                   log: Callable[[str], None] = lambda s: None, setup: Setup = Setup()) -> list[dict[str, Any]]:
    """Rows for every (env, devices, seeds) on ``setup.platform`` (``devices_list=None``: ``default_devices``).
    CPU device counts this process lacks run in a subprocess started with
    ``--xla_force_host_platform_device_count``; an accelerator's must be there."""
    from rlk.core.errors import RlkError

    budget = BUDGETS[budget] if isinstance(budget, str) else budget
    have = len(platform_devices(setup.platform))  # a missing platform fails here, before anything compiles
    devices_list = default_devices(setup.platform) if devices_list is None else devices_list
    if not envs or not devices_list or not seeds_list or min(devices_list) < 1 or min(seeds_list) < 1:
        raise RlkError("bench: --envs, --devices and --seeds need at least one value each (counts >= 1)")
    for flag, value in (("--num-envs", setup.num_envs), ("--unroll-length", setup.unroll_length)):
        if value is not None and value < 1:
            raise RlkError(f"bench: {flag} must be >= 1, not {value}")
    from rlk.core.interfaces import Environment

    for env_name in envs:  # every env is checked before anything compiles
        if not isinstance(make_env(env_name), Environment):
            raise RlkError(f"bench: env '{env_name}' is a host environment; Anakin rows need a JAX env "
                           f"(time it with --envs '' --sebulba {env_name})")
    here = [d for d in devices_list if d <= have]
    away = [d for d in devices_list if d > have]
    if away and setup.platform != "cpu":
        raise RlkError(f"bench: --devices {max(away)} but this machine has {have} {setup.platform.upper()} device(s)")
    rows = []
    for env_name in envs:
        for d in here:
            for s in seeds_list:
                rows.append(bench_one(env_name, d, s, budget, peer=peer, log=log, setup=setup))
    if away:
        # The peer is single-device code: where this process measured it for the same env and seeds,
        # the subprocess skips it and its rows take this process's peer numbers.
        peers = {(r["env"], r["seeds"]): r for r in rows if r["peer_steps_per_s"] is not None}
        reuse = peer and all((e, s) in peers for e in envs for s in seeds_list)
        away_rows = _run_subprocess(envs, away, seeds_list, budget, peer and not reuse, log, setup)
        for r in away_rows:
            if reuse:
                p = peers[(r["env"], r["seeds"])]
                r.update(peer_steps_per_s=p["peer_steps_per_s"], peer_compile_s=p["peer_compile_s"],
                         peer_devices=1, peer_ratio=r["steps_per_s"] / p["peer_steps_per_s"])
        rows += away_rows
    order = {(e, d, s): i for i, (e, d, s) in enumerate(
        (e, d, s) for e in envs for d in devices_list for s in seeds_list)}
    return sorted(rows, key=lambda r: order[(r["env"], r["devices"], r["seeds"])])


def _run_subprocess(envs, devices_list, seeds_list, budget: Budget, peer: bool, log,
                    setup: Setup = Setup()) -> list[dict[str, Any]]:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={max(devices_list)}"])
    cmd = [sys.executable, "-m", "rlk.bench", "--json", "--envs", ",".join(envs),
           "--devices", ",".join(map(str, devices_list)), "--seeds", ",".join(map(str, seeds_list)),
           "--calls", str(budget.calls), "--repeats", str(budget.repeats),
           "--log-every-steps", str(budget.log_every_steps)] + ([] if peer else ["--no-peer"]) + (
               ["--num-envs", str(setup.num_envs)] if setup.num_envs else []) + (
               ["--unroll-length", str(setup.unroll_length)] if setup.unroll_length else [])
    log(f"devices {','.join(map(str, devices_list))}: running in a subprocess with {env['XLA_FLAGS']}")
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        from rlk.core.errors import RlkError

        raise RlkError(f"bench: the {max(devices_list)}-device subprocess failed (exit {proc.returncode}): "
                       f"XLA_FLAGS='{env['XLA_FLAGS']}' {' '.join(cmd)}")
    return json.loads(proc.stdout)


# -- output --------------------------------------------------------------------------------------
def _fmt(x: Optional[float], ratio: bool = False) -> str:
    if x is None:
        return "-"
    if ratio:
        return f"{x:.3f}x" if x < 0.1 else f"{x:.2f}x"
    return f"{x:,.0f}"


def _si(x: Optional[float]) -> str:
    if x is None:
        return "-"
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def _label(row: dict[str, Any]) -> str:
    return f"{row['env']} (sebulba {row['agent']})" if row.get("arch") == "sebulba" else row["env"]


def table(rows: list[dict[str, Any]]):
    """A rich table of rows (steps/s abbreviated; ``--json`` has the exact numbers)."""
    from rich import box
    from rich.table import Table

    m = rows[0]["machine"] if rows else machine()
    where = f"{m['accelerator']}; " if m.get("accelerator") else ""
    t = Table(title=f"rlk bench: PPO env steps/s after compile ({where}{m['cpu']}, {m['cores']} cores)",
              caption="rlk: Anakin PPO. ceiling: the same env, random actions. peer: benchmarks/peer_ppo.py "
                      "(PureJaxRL style, 1 device). of ceil: rlk/ceiling. vs peer: rlk/peer. compile: seconds, "
                      "rlk/peer.", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    for col in ("env", "dev", "seeds", "rlk", "ceiling", "peer", "of ceil", "vs peer", "compile"):
        t.add_column(col, justify="left" if col == "env" else "right", no_wrap=True)
    for r in rows:
        comp = f"{r['compile_s']:.0f}/" + (f"{r['peer_compile_s']:.0f}" if r["peer_compile_s"] is not None else "-")
        t.add_row(_label(r), str(r["devices"]), str(r["seeds"]), _si(r["steps_per_s"]),
                  _si(r["ceiling_steps_per_s"]), _si(r["peer_steps_per_s"]), f"{100 * r['ratio']:.1f}%",
                  _fmt(r["peer_ratio"], True), comp)
    return t


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| env | devices | seeds | rlk steps/s | ceiling steps/s | peer steps/s (1 dev) | rlk/ceiling | rlk/peer | compile s rlk / peer |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        comp = _compile_cell(r)
        lines.append(f"| {_label(r)} | {r['devices']} | {r['seeds']} | {_fmt(r['steps_per_s'])} | "
                     f"{_fmt(r['ceiling_steps_per_s'])} | {_fmt(r['peer_steps_per_s'])} | {_fmt(r['ratio'], True)} | "
                     f"{_fmt(r['peer_ratio'], True)} | {comp} |")
    return "\n".join(lines)


def _ints(text: str, flag: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``; anything else is a one-line error naming ``flag``."""
    from rlk.core.errors import RlkError

    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise RlkError(f"bench: {flag} takes comma-separated whole numbers (e.g. 1,2,4), not '{text}'") from None


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _plan(envs: Optional[str], devices: Optional[str], seeds: Optional[str], quick: bool):
    """An empty ``envs`` (``--envs ''``) plans no Anakin rows (e.g. ``--envs '' --sebulba atari-breakout``);
    devices ``None`` (not given): ``default_devices`` of the platform."""
    if quick:
        return (_names("catch" if envs is None else envs), _ints(devices or "1", "--devices"),
                _ints(seeds or "1", "--seeds"), "quick")
    return (_names(",".join(DEFAULT_ENVS) if envs is None else envs), _ints(devices, "--devices") if devices else None,
            _ints(seeds or "1,4", "--seeds"), "default")


def _stderr_log(msg: str) -> None:
    print(f"[rlk bench] {msg}", file=sys.stderr, flush=True)


# -- start-up time of the command line ------------------------------------------------------------
STARTUP_COMMANDS = (("rlk --help", ("--help",), ""), ("rlk list-plugins", ("list-plugins",), ""),
                    ("rlk --help", ("--help",), "envs"), ("rlk list-plugins", ("list-plugins",), "envs"))


def rlk_command() -> list[str]:
    """The installed ``rlk`` script beside this interpreter, else ``python -m rlk.cli``."""
    script = Path(sys.executable).with_name("rlk")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rlk.cli"]


def startup_rows(repeats: int = 3) -> list[dict[str, Any]]:
    """Wall seconds of ``rlk --help`` and ``rlk list-plugins`` in fresh processes, best of ``repeats``: with all
    plugins, and with ``RLK_DISABLE_PLUGINS`` set to ``disabled`` (envs still imports jax at registration)."""
    rows = []
    for command, args, disabled in STARTUP_COMMANDS:
        env = {**os.environ, "RLK_DISABLE_PLUGINS": disabled} if disabled else dict(os.environ)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([*rlk_command(), *args], env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        rows.append(dict(command=command, disabled_plugins=disabled, best_s=min(times), times_s=times))
    return rows


def startup_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| command | plugins disabled | best (s) |", "|---|---|---|"]
    lines += [f"| `{r['command']}` | {r['disabled_plugins'] or '-'} | {r['best_s']:.2f} |" for r in rows]
    return "\n".join(lines)


# -- command line --------------------------------------------------------------------------------
# -- agents side by side (``--agents ppo,muesli``) ---------------------------------------------
AGENT_KEYS = ("name", "env", "agent", "steps_per_s", "cpu_steps_per_s", "ratio", "cpu_ratio", "compile_s",
              "env_steps_per_call", "load", "machine", "platform")


def agent_timer(agent: str, env_name: str, budget: Budget, platform: str = "cpu") -> tuple[CpuTimer, float]:
    """A timer over ``budget.calls`` compiled calls of the Anakin program ``rlk train --agent AGENT --env ENV``
    builds (the agent's defaults, one device, one seed), and its compile seconds."""
    from rlk.core.config import build_run_config
    from rlk.core.run import Run, resolve

    raw = {"agent": {"name": agent}, "env": {"name": env_name}, "backend": {"name": platform},
           "log_every_steps": budget.log_every_steps, "max_rows_per_call": 1}
    program = Run(resolve(build_run_config(raw)), Path(".")).build()
    box = {"state": program.init([0])}
    t0 = time.perf_counter()
    step = program.compile(box["state"])
    compile_s = time.perf_counter() - t0

    def calls():
        for _ in range(budget.calls):
            box["state"], metrics = step(box["state"])
            program.summarise(metrics)
        _block(box["state"])

    return CpuTimer(calls, budget.calls * program.env_steps_per_step), compile_s


def agent_rows(agents: Sequence[str], envs: Sequence[str], budget: Budget, platform: str = "cpu",
               log: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    """Per env, each agent at its defaults, repeats alternating over the agents in one process; env steps/s
    (best repeat, wall) and per CPU-second of this process (steadier on a shared machine), each as a ratio
    to the first agent's."""
    rows = []
    for env_name in envs:
        timers = {}
        for agent in agents:
            log(f"{env_name}: {agent}: compiling")
            timers[agent] = agent_timer(agent, env_name, budget, platform)
        for timer, _ in timers.values():
            timer.warm()
        for r in range(budget.repeats):
            log(f"{env_name}: repeat {r + 1}/{budget.repeats}")
            for timer, _ in timers.values():
                timer.once()
        first = timers[agents[0]][0]
        for agent, (timer, compile_s) in timers.items():
            rows.append({"name": f"anakin-{agent}/{env_name}", "env": env_name, "agent": agent,
                         "steps_per_s": timer.steps_per_s, "cpu_steps_per_s": 1e3 / timer.cpu_ms_per_step,
                         "ratio": timer.steps_per_s / first.steps_per_s,
                         "cpu_ratio": first.cpu_ms_per_step / timer.cpu_ms_per_step, "compile_s": compile_s,
                         "env_steps_per_call": timer.steps // budget.calls, "load": os.getloadavg()[0],
                         "machine": machine(platform), "platform": platform})
    return rows


def agents_markdown(rows: list[dict[str, Any]]) -> str:
    first = {}
    lines = ["| env | agent | steps/s | steps per CPU-s | ratio (wall) | ratio (CPU-s) | compile s | load |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        first.setdefault(r["env"], r["agent"])
        lines.append(f"| {r['env']} | {r['agent']} | {r['steps_per_s']:,.0f} | {r['cpu_steps_per_s']:,.0f} | "
                     f"{r['ratio']:.3f}x {first[r['env']]} | {r['cpu_ratio']:.3f}x | {r['compile_s']:.0f} | {r['load']:.1f} |")
    return "\n".join(lines)


# -- MuZero's acting step beside bare mctx (``--muzero-search``) ---------------------------------
SEARCH_KEYS = ("name", "env", "batch", "simulations", "act_ms", "bare_ms", "ratio", "act_cpu_ms", "bare_cpu_ms",
               "cpu_ratio", "compile_s", "load", "machine", "platform")


def muzero_search_row(env_name: str, budget: Budget, platform: str = "cpu", overrides: Optional[dict[str, Any]] = None,
                      log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """MuZero's acting step (``agent.act``, as ``rlk train --agent muzero`` builds it) beside bare
    ``mctx.muzero_policy`` at the same shape: the agent's batch (``agent.num_envs``) of ``env_name``'s first
    observations, its ``num_simulations``, the same network and parameters; the bare search's recurrent function
    is the plain model step (dynamics, reward, prediction). Each call is ``budget.log_every_steps`` searches
    (``--log-every-steps``), ``budget.repeats`` rounds alternate act, bare, act, ...; best round of each, wall
    and process CPU milliseconds per search call, and their ratios (act / bare: issue 30's bar is 1.3x)."""
    import jax
    import jax.numpy as jnp
    import mctx

    from rlk.core.config import build_run_config
    from rlk.core.run import resolve
    from rlk.core.wrappers import for_training
    from rlk.nn.value_transforms import Support, logits_to_scalar

    r = resolve(build_run_config({"agent": {"name": "muzero", **(overrides or {})}, "env": {"name": env_name},
                                  "backend": {"name": platform}}))
    c = r.settings["agent"]
    env = for_training(r.env.factory(r.settings["env"]))
    agent = r.agent.factory(c, env.spec, None, r.losses)
    B, n = c.num_envs, c.num_simulations
    params = agent.init(jax.random.PRNGKey(0)).params
    _, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), B))
    actor = agent.initial_actor_state(B)
    support = Support(-c.support_max, c.support_max, c.num_atoms)

    def recurrent_fn(net, rng, action, embedding):
        nxt, r_logits = jax.vmap(net.step)(embedding, action)
        p_logits, v_logits = jax.vmap(net.predict)(nxt)
        value = logits_to_scalar(v_logits, support)
        return mctx.RecurrentFnOutput(reward=logits_to_scalar(r_logits, support), discount=jnp.full_like(value, c.gamma),
                                      prior_logits=p_logits, value=value), nxt

    def bare(net, observation, key):
        latents = jax.vmap(net.initial)(observation)
        prior, v_logits = jax.vmap(net.predict)(latents)
        root = mctx.RootFnOutput(prior_logits=prior, value=logits_to_scalar(v_logits, support), embedding=latents)
        return mctx.muzero_policy(net, key, root, recurrent_fn, n).action

    act = jax.jit(lambda p, t, k: agent.act(p, actor, t, k)[0])
    bare_fn = jax.jit(bare)
    keys = jax.random.split(jax.random.PRNGKey(2), budget.log_every_steps)
    t0 = time.perf_counter()
    _block((act(params, ts, keys[0]), bare_fn(params, ts.observation, keys[0])))
    compile_s = time.perf_counter() - t0

    def calls(fn, *args):
        def call():
            _block([fn(*args, k) for k in keys])
        return call

    timers = {"act": CpuTimer(calls(act, params, ts), budget.log_every_steps),
              "bare": CpuTimer(calls(bare_fn, params, ts.observation), budget.log_every_steps)}
    for timer in timers.values():
        timer.warm()
    for i in range(budget.repeats):
        log(f"{env_name}: muzero act vs bare mctx, round {i + 1}/{budget.repeats}")
        for timer in timers.values():
            timer.once()
    ms = {k: 1e3 * min(t.times) / t.steps for k, t in timers.items()}
    cpu = {k: t.cpu_ms_per_step for k, t in timers.items()}
    return {"name": f"muzero-act-vs-mctx/{env_name}/{B}x{n}", "env": env_name, "batch": B, "simulations": n,
            "act_ms": ms["act"], "bare_ms": ms["bare"], "ratio": ms["act"] / ms["bare"], "act_cpu_ms": cpu["act"],
            "bare_cpu_ms": cpu["bare"], "cpu_ratio": cpu["act"] / cpu["bare"], "compile_s": compile_s,
            "load": os.getloadavg()[0], "machine": machine(platform), "platform": platform}


def search_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| env | batch x simulations | agent.act ms | bare mctx ms | ratio (wall) | act CPU ms | bare CPU ms | "
             "ratio (CPU) | load |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['env']} | {r['batch']} x {r['simulations']} | {r['act_ms']:.2f} | {r['bare_ms']:.2f} | "
                     f"{r['ratio']:.2f}x | {r['act_cpu_ms']:.2f} | {r['bare_cpu_ms']:.2f} | {r['cpu_ratio']:.2f}x | "
                     f"{r['load']:.1f} |")
    return "\n".join(lines)


def print_search_rows(envs: Optional[str], quick: bool, log_every_steps: Optional[int], platform: str,
                      as_json: bool) -> None:
    """``--muzero-search``: ``muzero_search_row`` per env of ``envs`` (default minatar-breakout), agent defaults;
    a call is ``log_every_steps`` searches (default 20)."""
    budget = Budget(calls=1, repeats=3 if quick else 5, log_every_steps=log_every_steps or 20)
    rows = [muzero_search_row(e, budget, platform, log=_stderr_log) for e in (envs or "minatar-breakout").split(",")]
    print(json.dumps(rows, indent=2) if as_json else search_markdown(rows))


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m rlk.bench [--json] [--envs ...] [--devices 1,4] [--seeds 1,4] [--quick]``."""
    p = argparse.ArgumentParser(prog="python -m rlk.bench", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print JSON rows")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.add_argument("--envs", default=None, help=f"comma-separated (default {','.join(DEFAULT_ENVS)}; '' with --sebulba: none)")
    p.add_argument("--devices", default=None, help="comma-separated device counts (default 1,2,4)")
    p.add_argument("--seeds", default=None, help="comma-separated seed counts (default 1,4)")
    p.add_argument("--quick", action="store_true", help="catch, 1 device, 1 seed, short timing")
    p.add_argument("--calls", type=int, default=None, help="compiled calls per timed repeat")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (best reported)")
    p.add_argument("--log-every-steps", type=int, default=None, help="env steps per seed per compiled call")
    p.add_argument("--no-peer", action="store_true", help="skip the single-file peer")
    p.add_argument("--sebulba", default=None, metavar="ENVS",
                   help="also time Sebulba V-trace on these host envs (e.g. atari-breakout) beside the env alone")
    p.add_argument("--sebulba-processes", default="1", help="--sebulba rows for these numbers of local processes (e.g. 1,2)")
    p.add_argument("--sebulba-launch", default=None, help=argparse.SUPPRESS)  # COORDINATOR,N,I: one process of such a row
    p.add_argument("--backend", default="cpu", choices=PLATFORMS, help="platform of every measurement (default cpu)")
    p.add_argument("--num-envs", type=int, default=None, help="PPO's agent.num_envs (and the peer's)")
    p.add_argument("--unroll-length", type=int, default=None, help="PPO's agent.unroll_length (and the peer's NUM_STEPS)")
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help="instead: rlk's whole run loop against the peer at these shapes (issue26: catch 4x128 1M, "
                        "CartPole-v1 64x128 2M, both lr 2.5e-4 annealed; catch 64x16 1M)")
    p.add_argument("--rounds", type=int, default=2, help="--preset: alternating rounds (best reported)")
    p.add_argument("--startup", action="store_true", help="instead: wall seconds of rlk --help and rlk list-plugins")
    p.add_argument("--agents", default=None, help="instead: these agents at their defaults side by side (e.g. ppo,muesli; "
                                                   "--envs default minatar-breakout), repeats alternating, ratios to the first")
    p.add_argument("--muzero-search", action="store_true",
                   help="instead: MuZero's acting step beside bare mctx search at the same shape (--envs default "
                        "minatar-breakout; --log-every-steps: searches per call, default 20)")
    a = p.parse_args(argv)
    if a.startup:
        rows = startup_rows()
        print(json.dumps(rows, indent=2) if a.json else startup_markdown(rows))
        return
    from rlk.core import compile_cache

    compile_cache.enable()
    if a.preset:
        rows = loop_rows(a.preset, a.rounds, log=_stderr_log, platform=a.backend)
        print(json.dumps(rows, indent=2) if a.json else loop_markdown(rows))
        return
    if a.agents:
        print_agent_rows(a.agents, a.envs, "quick" if a.quick else "default", a.log_every_steps, a.backend, a.json)
        return
    if a.muzero_search:
        print_search_rows(a.envs, a.quick, a.log_every_steps, a.backend, a.json)
        return
    if a.sebulba_launch:
        coordinator, n, i = a.sebulba_launch.split(",")
        launch = {"coordinator": coordinator, "num_processes": int(n), "process_id": int(i)}
        print(json.dumps([bench_sebulba(a.sebulba, budget=SEBULBA_BUDGET, log=_stderr_log if i == "0" else lambda s: None,
                                        platform=a.backend, launch=launch)]))
        return
    setup = Setup(a.backend, a.num_envs, a.unroll_length)
    envs, devices, seeds, name = _plan(a.envs, a.devices, a.seeds, a.quick)
    budget = BUDGETS[name]
    budget = dataclasses.replace(budget, **{k: v for k, v in dict(
        calls=a.calls, repeats=a.repeats, log_every_steps=a.log_every_steps).items() if v is not None})
    rows = (run_benchmarks(envs, devices, seeds, budget, peer=not a.no_peer, log=_stderr_log, setup=setup)
            if envs or not a.sebulba else [])
    rows += sebulba_rows(a.sebulba, log=_stderr_log, platform=a.backend, processes=_ints(a.sebulba_processes, "--sebulba-processes"))
    if a.json:
        print(json.dumps(rows, indent=2))
    elif a.markdown:
        print(markdown(rows))
    else:
        from rich.console import Console

        Console().print(table(rows))


def print_agent_rows(agents: str, envs: Optional[str], budget: str, log_every_steps: Optional[int], platform: str,
                     as_json: bool) -> None:
    """``--agents A,B``: ``agent_rows`` on ``envs`` (default minatar-breakout), printed as JSON or markdown."""
    b = BUDGETS[budget] if log_every_steps is None else dataclasses.replace(BUDGETS[budget], log_every_steps=log_every_steps)
    rows = agent_rows(agents.split(","), (envs or "minatar-breakout").split(","), b, platform, log=_stderr_log)
    print(json.dumps(rows, indent=2) if as_json else agents_markdown(rows))


def command(as_json: bool, envs: Optional[str], devices: Optional[str], seeds: Optional[str], quick: bool,
            sebulba: Optional[str], backend: str, num_envs: Optional[int], unroll_length: Optional[int],
            preset: Optional[str], rounds: int, log_every_steps: Optional[int], startup: bool,
            agents: Optional[str], sebulba_processes: str = "1", muzero_search: bool = False) -> None:
    """``rlk bench``'s body (its options are declared in ``rlk.cli``, so that the CLI starts without this module)."""
    from rich.console import Console

    if startup:
        rows = startup_rows()
        print(json.dumps(rows, indent=2) if as_json else startup_markdown(rows))
        return
    from rlk.core import compile_cache

    compile_cache.enable()
    if preset:
        loop = loop_rows(preset, rounds, log=_stderr_log, platform=backend)
        print(json.dumps(loop, indent=2) if as_json else loop_markdown(loop))
        return
    if agents:
        print_agent_rows(agents, envs, "quick" if quick else "default", log_every_steps, backend, as_json)
        return
    if muzero_search:
        print_search_rows(envs, quick, log_every_steps, backend, as_json)
        return
    setup = Setup(backend, num_envs, unroll_length)
    plan_envs, plan_devices, plan_seeds, name = _plan(envs, devices, seeds, quick)
    budget = BUDGETS[name] if log_every_steps is None else dataclasses.replace(
        BUDGETS[name], log_every_steps=log_every_steps)
    rows = (run_benchmarks(plan_envs, plan_devices, plan_seeds, budget, log=_stderr_log, setup=setup)
            if plan_envs or not sebulba else [])
    rows += sebulba_rows(sebulba, log=_stderr_log, platform=backend, processes=_ints(sebulba_processes, "--sebulba-processes"))
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        Console().print(table(rows))


if __name__ == "__main__":
    main()
