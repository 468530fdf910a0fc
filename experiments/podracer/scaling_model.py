"""A throughput model of Anakin and Sebulba from per-step costs, checked here and against Podracer.

    python -m experiments.podracer.scaling_model [--costs experiments/podracer/results/costs-cpu.json]
        [--sebulba-rows ROWS.json ...] [--gpu-anakin bench-gpu/anakin.json] [--markdown OUT.md] [--doc docs/scaling.md]

The model (docs/scaling.md derives it):

- **Anakin** is one synchronous program per device: an update at per-device batch ``b`` costs
  ``share(D) * (env(b) + act(b) + update(b)) + n_grad * allreduce(D, 4 P bytes) + n_scalar * allreduce(D, 8 bytes)``
  and produces ``D * b * T`` env steps. ``env``, ``act`` (``T`` steps each) and ``update`` are affine in ``b``
  (fixed + per-env seconds); ``share(D) = max(1, D / parallel)`` where devices time-share ``parallel`` compute
  units (CPU devices on a few cores), 1 where each device is its own chip.
- **all-reduce** of ``n`` bytes over ``D`` devices, ``h`` per host: within a host ``2 (h-1)/h n / bw + steps(h) lat``
  (ring bandwidth term, ``steps = 2 ceil(log2 h)`` latency steps), then the same across the ``D/h`` hosts on
  the host network (hierarchical: reduce inside, across, broadcast inside).
- **Sebulba** is a pipeline of three resources per host working at once (actor threads overlap env stepping,
  inference and the previous update): the host CPU (``env_cpu_s`` per env step over ``host_cores``), the
  actor devices (inference) and the learner devices (update, gradient all-reduce over all learner devices of
  all hosts, parameter broadcast to the actor devices). Throughput is the slowest resource's rate times the
  hosts. Where actors and learners are CPU devices on the host's own cores (this machine), all of it is CPU
  time on one pool: ``cores / (env + act + update)`` CPU seconds per env step.
- **stragglers** (optional, ``jitter_cv``): a synchronous step waits for the slowest of ``H`` hosts; with
  per-update times of coefficient of variation ``cv`` the expected maximum is about ``1 + cv sqrt(2 ln H)``
  times the mean. 0 unless stated.

Pure Python (no JAX): the arithmetic is checked by hand in tests/experiments/test_scaling_model.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
COSTS = ROOT / "experiments" / "podracer" / "results" / "costs-cpu.json"
MARK_START, MARK_END = "<!-- scaling-table:start -->", "<!-- scaling-table:end -->"


# -- costs --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Affine:
    """Seconds as a function of the per-device batch ``b``: ``fixed_s + per_env_s * b``."""

    fixed_s: float
    per_env_s: float

    def __call__(self, batch: float) -> float:
        return self.fixed_s + self.per_env_s * batch

    @staticmethod
    def fit(batches: Sequence[float], seconds: Sequence[float]) -> "Affine":
        """Least squares line through ``(batch, seconds)``; fixed part clipped at 0 (a cost is not negative)."""
        n = len(batches)
        if n == 1:
            return Affine(0.0, seconds[0] / batches[0])
        mb, ms = sum(batches) / n, sum(seconds) / n
        slope = sum((b - mb) * (s - ms) for b, s in zip(batches, seconds)) / sum((b - mb) ** 2 for b in batches)
        fixed = ms - slope * mb
        if fixed < 0:  # through the origin instead
            return Affine(0.0, sum(b * s for b, s in zip(batches, seconds)) / sum(b * b for b in batches))
        return Affine(fixed, slope)


@dataclasses.dataclass(frozen=True)
class StepCosts:
    """One device's costs per update: ``env`` and ``act`` for ``unroll`` steps of ``b`` envs, ``update`` of
    that trajectory; ``params`` float32 parameters; ``grad_allreduces`` gradient means per update (PPO:
    epochs x minibatches; V-trace: 1) and ``scalar_allreduces`` small ones (episode statistics)."""

    env: Affine
    act: Affine
    update: Affine
    unroll: int
    params: int
    grad_allreduces: int
    scalar_allreduces: int = 1

    def compute_s(self, batch: float) -> float:
        return self.env(batch) + self.act(batch) + self.update(batch)


@dataclasses.dataclass(frozen=True)
class Link:
    """A network: bandwidth per device and direction (bytes/s), latency per all-reduce step (s)."""

    bandwidth: float
    latency: float
    source: str = ""


@dataclasses.dataclass(frozen=True)
class Platform:
    """Devices grouped ``per_host``; ``intra`` links devices of a host, ``inter`` the hosts; ``parallel``: how
    many devices' compute runs at once (None: all, one chip each); ``host_cores``: CPU cores per host."""

    name: str
    per_host: int
    intra: Link
    inter: Link
    parallel: Optional[int] = None
    host_cores: int = 1
    source: str = ""


def allreduce_steps(n: int) -> int:
    """Latency steps of an all-reduce over ``n`` participants (reduce then broadcast, a binary tree)."""
    return 0 if n <= 1 else 2 * math.ceil(math.log2(n))


def allreduce_on(link: Link, n: int, nbytes: float) -> float:
    """One all-reduce of ``nbytes`` over ``n`` participants of ``link``: ring bandwidth term + tree latency."""
    if n <= 1:
        return 0.0
    return 2 * (n - 1) / n * nbytes / link.bandwidth + allreduce_steps(n) * link.latency


def allreduce_s(platform: Platform, devices: int, nbytes: float) -> float:
    """Hierarchical all-reduce over ``devices``: inside a host, then across the hosts."""
    inside = min(devices, platform.per_host)
    hosts = math.ceil(devices / platform.per_host)
    return allreduce_on(platform.intra, inside, nbytes) + allreduce_on(platform.inter, hosts, nbytes)


def straggler_factor(hosts: int, jitter_cv: float) -> float:
    """Expected slowest of ``hosts`` step times over their mean (Gaussian, ``cv`` = std / mean)."""
    return 1.0 + jitter_cv * math.sqrt(2 * math.log(hosts)) if hosts > 1 else 1.0


# -- Anakin ---------------------------------------------------------------------------------------
def anakin_update_s(costs: StepCosts, platform: Platform, devices: int, batch: float, jitter_cv: float = 0.0) -> float:
    """Wall seconds of one synchronous update over ``devices`` at per-device batch ``batch``."""
    share = 1.0 if platform.parallel is None else max(1.0, devices / platform.parallel)
    hosts = math.ceil(devices / platform.per_host)
    compute = share * costs.compute_s(batch) * straggler_factor(hosts, jitter_cv)
    comms = (costs.grad_allreduces * allreduce_s(platform, devices, 4 * costs.params)
             + costs.scalar_allreduces * allreduce_s(platform, devices, 8))
    return compute + comms


def anakin_steps_per_s(costs: StepCosts, platform: Platform, devices: int, batch: float, jitter_cv: float = 0.0) -> float:
    """Env steps per second of Anakin on ``devices`` devices, ``batch`` envs each."""
    return devices * batch * costs.unroll / anakin_update_s(costs, platform, devices, batch, jitter_cv)


# -- Sebulba --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SebulbaSetup:
    """Per host: ``actors`` actor devices, ``learners`` learner devices, ``actor_batch`` envs per actor thread
    step, ``host_batch`` envs per learner update (all threads of the host), ``env_cpu_s`` CPU seconds per env
    step; ``costs``: inference (``act``, ``unroll`` steps at ``actor_batch``) and the update (at
    ``host_batch / learners`` per learner device)."""

    actors: int
    learners: int
    actor_batch: int
    host_batch: int
    env_cpu_s: float
    costs: StepCosts


def sebulba_rates(setup: SebulbaSetup, platform: Platform, hosts: int, jitter_cv: float = 0.0) -> dict[str, float]:
    """Env steps/s each resource of one host sustains: ``env`` (host CPU), ``actor``, ``learner``."""
    c, T = setup.costs, setup.costs.unroll
    learner_devices = hosts * setup.learners
    update = (c.update(setup.host_batch / setup.learners) * straggler_factor(hosts, jitter_cv)
              + c.grad_allreduces * allreduce_s(platform, learner_devices, 4 * c.params)
              + c.scalar_allreduces * allreduce_s(platform, learner_devices, 8)
              + allreduce_on(platform.intra, 2, 4 * c.params) / 2)  # broadcast to the actors: half an all-reduce
    return {"env": platform.host_cores / setup.env_cpu_s,
            "actor": setup.actors * setup.actor_batch * T / c.act(setup.actor_batch),
            "learner": setup.host_batch * T / update}


def sebulba_steps_per_s(setup: SebulbaSetup, platform: Platform, hosts: int, jitter_cv: float = 0.0) -> float:
    """Env steps per second of Sebulba on ``hosts`` hosts. Devices on the host's own cores (``parallel`` set):
    one CPU pool, ``cores / (env + act + update)`` per env step; otherwise the slowest resource."""
    c, T = setup.costs, setup.costs.unroll
    if platform.parallel is not None:
        cpu_per_step = (setup.env_cpu_s + c.act(setup.actor_batch) / (setup.actor_batch * T)
                        + c.update(setup.host_batch) / (setup.host_batch * T))
        steps = setup.host_batch * T
        update_wall = (steps * cpu_per_step / platform.host_cores
                       + c.grad_allreduces * allreduce_s(platform, hosts * setup.learners, 4 * c.params))
        return hosts * steps / (update_wall * straggler_factor(hosts, jitter_cv))
    return hosts * min(sebulba_rates(setup, platform, hosts, jitter_cv).values())


# -- this machine: costs measured by measure_costs.py ---------------------------------------------
MEMCPY = 10e9  # bytes/s: in-process "link" between CPU devices (a memory copy; assumed, latency-bound anyway)
LOOPBACK = 1e9  # bytes/s: gloo over TCP on 127.0.0.1 (assumed; the 60 KB gradients are latency-bound)
# PPOConfig: 4 epochs x 4 minibatches of 64 x 16. Collectives counted in the compiled Anakin step (2 CPU devices,
# optimised HLO): per minibatch 4 all-reduces (actor gradients with the loss, critic gradients, a scalar psum
# inside the loss, 8 metrics), per update 1 (episode statistics): 16 carry the gradient's bytes, 49 are small.
PPO = dict(unroll=16, grad_allreduces=16, scalar_allreduces=16 * 3 + 1)


def measured_costs(data: dict[str, Any]) -> StepCosts:
    """Affine env/act/update costs from the 1-device rows of ``measure_costs`` (act = rollout - env)."""
    comps = next(r for r in data["rows"] if r["devices"] == 1 and r["processes"] == 1)["components"]
    b = [c["batch"] for c in comps]
    return StepCosts(env=Affine.fit(b, [c["env_s"] for c in comps]),
                     act=Affine.fit(b, [max(c["rollout_s"] - c["env_s"], 0.0) for c in comps]),
                     update=Affine.fit(b, [c["update_s"] for c in comps]), params=data["rows"][0]["params"], **PPO)


def fitted_latency(link_bandwidth: float, rows: Sequence[tuple[int, float]], nbytes: float, before: float = 0.0) -> float:
    """Latency per step that makes ``allreduce_on`` match measured ``(participants, seconds)`` rows (mean)."""
    fits = [(t - before - 2 * (n - 1) / n * nbytes / link_bandwidth) / allreduce_steps(n) for n, t in rows if n > 1]
    return max(sum(fits) / len(fits), 0.0) if fits else 0.0


def here_platform(data: dict[str, Any], parallel: Optional[int] = None) -> Platform:
    """This machine: CPU devices of one process linked by memory, processes by gloo on loopback, latencies
    fitted to the measured ``psum`` times; ``parallel`` devices compute at once (default: one per core, which
    the 1- and 2-device measurements support; 1: one device already spreads over every core, N add up)."""
    rows = data["rows"]
    nbytes = 4 * rows[0]["params"]
    local = [(r["devices"], r["allreduce_s"]) for r in rows if r["processes"] == 1]
    intra = Link(MEMCPY, fitted_latency(MEMCPY, local, nbytes), "fitted to psum over 2 and 4 CPU devices")
    multi = [r for r in rows if r["processes"] > 1]
    inter_latency = 0.0
    if multi:
        per_host = multi[0]["devices"] // multi[0]["processes"]
        inside = allreduce_on(intra, per_host, nbytes)
        inter_latency = fitted_latency(LOOPBACK, [(multi[0]["processes"], multi[0]["allreduce_s"])], nbytes, inside)
    per_host = multi[0]["devices"] // multi[0]["processes"] if multi else 64
    return Platform("cpu (this machine)", per_host, intra, Link(LOOPBACK, inter_latency, "fitted to 2-process psum"),
                    parallel=parallel or data["machine"]["cores"], host_cores=data["machine"]["cores"],
                    source="measured here")


# -- hardware assumed elsewhere (sources in docs/scaling.md) ---------------------------------------
def cpu_hosts(here: Platform) -> Platform:
    """64-core hosts, each run as 32 devices of this machine's 2-core speed, 25 GbE between hosts."""
    return Platform("cpu hosts (64 cores, 25 GbE)", 32, here.intra, Link(25e9 / 8, 50e-6, "25 GbE, TCP (assumed)"),
                    parallel=None, host_cores=64, source="costs measured here per 2 cores")


H100 = Platform("gpu (H100 SXM, 8/node)", 8, Link(450e9, 2e-6, "NVLink 4: 900 GB/s bidirectional (NVIDIA)"),
                Link(50e9, 5e-6, "InfiniBand NDR 400 Gb/s per GPU (DGX H100)"), host_cores=112,
                source="NVIDIA H100/DGX H100 datasheets; latencies assumed")
TPU_V3 = Platform("tpu v3 pod (cores)", 8, Link(70e9, 1.5e-6, "ICI (assumed per core)"), Link(70e9, 1.5e-6, "ICI"),
                  host_cores=96, source="TPU v3: 8 cores/host, 96 vCPU hosts, ICI between all cores")

# PPO on catch at 8,192 envs per GPU (accelerator.sh's setting): a roofline, not a measurement (no GPU lent).
# FLOPs per env step: act = forward of actor and critic MLPs (50-64-64-3 and 50-64-64-1): 29.7 kFLOP; update =
# 4 epochs x (forward + backward = 3 forwards) = 356 kFLOP; at 10% of the H100's 67 TFLOP/s FP32 (assumed).
GPU_FLOPS = 0.10 * 67e12
GPU_PPO = StepCosts(env=Affine(0.0, 0.0), act=Affine(1e-3, 16 * 29.7e3 / GPU_FLOPS),
                    update=Affine(5e-3, 16 * 356e3 / GPU_FLOPS), params=15_108, **PPO)


# -- Podracer (Hessel et al. 2021, arXiv 2104.06272) -----------------------------------------------
FRAMESKIP = 4  # Atari frames per env step (the paper counts frames)
PAPER = {
    # Fig. 4a: Anakin FPS vs TPU cores, 16..128 ("almost linear"); values read at the log axis' ticks
    # (7e6, 15e6, 30e6, 60e6): the text gives no exact points (an assumption).
    "anakin": {16: 7e6, 32: 15e6, 64: 30e6, 128: 60e6},
    # Fig. 4b / text: V-trace, 8 cores, T = 60, actor batch 32 -> 60e3 FPS, 128 -> 200e3 FPS; text: 2048 cores
    # (whole pod) -> 43e6 FPS; IMPALA's setup: 200M frames in ~1 hour on 8 cores (55.6e3 FPS).
    "sebulba_batch": {32: 60e3, 128: 200e3},
    "sebulba_cores": {8: 200e3, 2048: 43e6},
    # Fig. 4c / text: MuZero FPS vs TPU cores 16..128, "increased linearly"; text: 200M frames in 9 h on 16 cores.
    "muzero": {16: 200e6 / (9 * 3600), 128: 40e3},
}


def paper_anakin_costs(per_core_steps: float, batch: int = 1024, unroll: int = 16, params: int = 100_000) -> StepCosts:
    """Anakin's grid-world workload per TPU core, calibrated to ``per_core_steps`` (the 16-core point of Fig. 4a);
    the batch, unroll, one gradient step per update and 100k parameters are assumptions (not in the paper)."""
    return StepCosts(env=Affine(0, 0), act=Affine(0, 0), update=Affine(0.0, unroll / per_core_steps),
                     unroll=unroll, params=params, grad_allreduces=1)


def impala_resnet_params(actions: int = 18, channels: Sequence[int] = (16, 32, 32), frames: int = 4) -> int:
    """Parameters of IMPALA's deep ResNet (3 stages: conv + 2 residual blocks of 2 convs, 3x3) on 84x84, FC 256,
    policy and value heads (no LSTM)."""
    total, c_in, side = 0, frames, 84
    for c in channels:
        total += 9 * c_in * c + c + 4 * (9 * c * c + c)
        c_in, side = c, math.ceil(side / 2)
    return total + (side * side * c_in + 1) * 256 + 257 * (actions + 1)


def paper_vtrace_setup(platform: Platform, actor_batch: int = 128, env_cpu_s: float = 0.44e-3) -> SebulbaSetup:
    """V-trace on one 8-core host (2 actor, 6 learner cores: the paper's 3:1), T = 60. The inference cost is
    fitted to Fig. 4b's two ends (actor-bound at both: 15e3 and 50e3 env steps/s at batch 32 and 128); the
    update is assumed to keep up with 50e3 steps/s (learner rate = the actors', the tightest assumption);
    ``env_cpu_s``: ALE Breakout's CPU per env step measured here (docs/podracer_results.md, stop 24)."""
    T, A = 60, 2
    act32, act128 = (A * b * T / (PAPER["sebulba_batch"][b] / FRAMESKIP) for b in (32, 128))
    act = Affine.fit([32, 128], [act32, act128])
    update = Affine(0.0, (1 / (PAPER["sebulba_batch"][128] / FRAMESKIP)) * T * 6)  # host_batch / 6 per learner
    costs = StepCosts(env=Affine(0, 0), act=act, update=update, unroll=T, params=impala_resnet_params(),
                      grad_allreduces=1)
    return SebulbaSetup(actors=A, learners=6, actor_batch=actor_batch, host_batch=actor_batch, env_cpu_s=env_cpu_s,
                        costs=costs)


# -- Sebulba on this machine (rlk bench --sebulba rows) ---------------------------------------------
# V-trace defaults: 64 envs in 2 actor threads, unroll 20, MLP 64x64 torso on 84x84x4 Atari frames, separate
# actor and critic: 3,621,445 parameters (counted from the built program).
VTRACE_CPU = dict(actor_batch=32, host_batch=64, unroll=20, params=3_621_445)
# ``rlk bench --sebulba atari-breakout`` rows of docs/podracer_results.md (stop 24, code 4e6e063, load 0.4-3.3):
# CPU ms per env step of the training and of its env alone, their steps/s, the load average (1-min) before.
SEBULBA_RECORDED = [
    {"learner": "full", "cpu_ms_per_step": 0.835, "ceiling_cpu_ms_per_step": 0.433, "steps_per_s": 2236.0,
     "ceiling_steps_per_s": 4567.0, "load": [None]},
    {"learner": "trivial", "cpu_ms_per_step": 0.555, "ceiling_cpu_ms_per_step": 0.452, "steps_per_s": 3418.0,
     "ceiling_steps_per_s": 4392.0, "load": [None]},
]


@dataclasses.dataclass(frozen=True)
class SebulbaHere:
    """Sebulba on this machine from bench rows: the costs, the CPU our process had (``cores``: the env
    alone's steps/s x its CPU seconds per step, so other jobs' load is in it), training steps/s by
    number of processes, the load and where the rows came from."""

    setup: "SebulbaSetup"
    cores: float
    measured: dict
    load: Optional[tuple]
    source: str


def sebulba_here(rows: list[dict[str, Any]]) -> SebulbaHere:
    """``rows`` (full and trivial learner), or the recorded ones of docs/podracer_results.md without them."""
    full = [r for r in rows if r.get("learner", "full") == "full"]
    trivial = [r for r in rows if r.get("learner") == "trivial"]
    if not (full and trivial):
        full, trivial = SEBULBA_RECORDED[:1], SEBULBA_RECORDED[1:]
    f, t = full[0], trivial[0]
    source = f.get("source", "docs/podracer_results.md stop 24")
    setup = here_sebulba_setup(f["cpu_ms_per_step"], f["ceiling_cpu_ms_per_step"], t["cpu_ms_per_step"],
                               t["ceiling_cpu_ms_per_step"])
    cores = f["ceiling_steps_per_s"] * f["ceiling_cpu_ms_per_step"] * 1e-3
    load = (f["load"][0], f["load"][3]) if f["load"][0] is not None else None  # 1-min load before, after
    return SebulbaHere(setup, cores, {r.get("processes", 1): r["steps_per_s"] for r in full}, load, source)


def sebulba_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Sebulba bench rows (``rlk bench --sebulba ENV --json``; ``learner`` full or trivial, ``processes`` when
    the row spans several: the hook for issue 31's multi-process Sebulba)."""
    rows: list[dict[str, Any]] = []
    for p in paths:
        rows += [{**r, "source": str(p)} for r in json.loads(Path(p).read_text()) if r.get("arch") == "sebulba"]
    return rows


def paper_muzero_setup(actor_batch: int = 128, params: int = 10_000_000) -> SebulbaSetup:
    """MuZero on 8-core hosts: search-bound actors (2 cores) calibrated to the text's 16-core rate (200M frames
    in 9 hours); the update assumed to keep up (the paper: search is the bottleneck); batch, unroll (T = 1
    inference per step) and 10M parameters are assumptions."""
    per_host = PAPER["muzero"][16] / FRAMESKIP / 2  # env steps/s of one host
    act = Affine(0.0, 2 / per_host)  # 2 actor devices: A * b / act(b) = per_host
    update = Affine(0.0, 6 / per_host / 2)  # 6 learners at twice the actors' rate
    costs = StepCosts(env=Affine(0, 0), act=act, update=update, unroll=1, params=params, grad_allreduces=1)
    return SebulbaSetup(actors=2, learners=6, actor_batch=actor_batch, host_batch=actor_batch, env_cpu_s=0.44e-3,
                        costs=costs)


def here_sebulba_setup(full_ms: float, env_ms: float, trivial_ms: float, trivial_env_ms: float) -> SebulbaSetup:
    """CPU ms per env step -> costs: env (the full row's env alone), act and framework (trivial - its env
    alone), update (full - trivial)."""
    T, b = VTRACE_CPU["unroll"], VTRACE_CPU["host_batch"]
    act_ms, update_ms = max(trivial_ms - trivial_env_ms, 0.0), max(full_ms - trivial_ms, 0.0)
    costs = StepCosts(env=Affine(0, 0), act=Affine(0.0, act_ms * 1e-3 * T), update=Affine(0.0, update_ms * 1e-3 * T),
                      unroll=T, params=VTRACE_CPU["params"], grad_allreduces=1)
    return SebulbaSetup(actors=1, learners=1, actor_batch=VTRACE_CPU["actor_batch"], host_batch=b,
                        env_cpu_s=env_ms * 1e-3, costs=costs)


def here_sebulba_steps(setup: SebulbaSetup, here: Platform, processes: int) -> float:
    """``processes`` processes of one learner device each on this machine's cores (they share them)."""
    shared = dataclasses.replace(here, per_host=1, host_cores=here.host_cores / processes)
    return sebulba_steps_per_s(setup, shared, processes)


# -- tables ---------------------------------------------------------------------------------------
DEVICES = tuple(2 ** i for i in range(11))  # 1 .. 1024


def _n(x: Optional[float]) -> str:
    if x is None:
        return ""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def here_rows(data: dict[str, Any], seb_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Predicted vs measured on this machine: Anakin PPO catch at 1/2/4 devices and P processes; Sebulba rows."""
    costs, here = measured_costs(data), here_platform(data)
    out = []
    for r in data["rows"]:
        n = r["devices"]
        local = dataclasses.replace(here, per_host=n // r["processes"])  # one process: all its devices on one host
        if r["processes"] > 1:  # the inter-process latency fitted to this row's own psum (it varies run to run)
            inside = allreduce_on(here.intra, n // r["processes"], 4 * r["params"])
            latency = fitted_latency(LOOPBACK, [(r["processes"], r["allreduce_s"])], 4 * r["params"], inside)
            local = dataclasses.replace(local, inter=Link(LOOPBACK, latency, "fitted to this row's psum"))
        shared = dataclasses.replace(local, parallel=1)
        out.append({"arch": "anakin ppo catch, 64 envs", "devices": n, "processes": r["processes"],
                    "predicted": anakin_steps_per_s(costs, local, n, 64 / n),
                    "predicted_shared": anakin_steps_per_s(costs, shared, n, 64 / n), "measured": r["anakin_steps_per_s"],
                    "load": (r["load_before"], r["load_after"])})
    seb = sebulba_here(seb_rows)
    for p in sorted(set(seb.measured) | {1, 2}):
        cpu = dataclasses.replace(here, host_cores=seb.cores)
        out.append({"arch": f"sebulba vtrace breakout ({seb.source})", "devices": 2 * p, "processes": p,
                    "predicted": here_sebulba_steps(seb.setup, cpu, p), "predicted_shared": None,
                    "measured": seb.measured.get(p), "load": seb.load})
    return out


def paper_rows() -> list[dict[str, Any]]:
    """The model beside Podracer's figures (TPU v3; frames / 4 = env steps for Atari)."""
    out = []
    a16 = PAPER["anakin"][16]
    anakin = paper_anakin_costs(a16 / 16)
    for cores, fps in PAPER["anakin"].items():
        out.append({"what": "Anakin, grid world (Fig. 4a)", "cores": cores, "unit": "steps/s",
                    "model": anakin_steps_per_s(anakin, TPU_V3, cores, 1024), "paper": fps,
                    "note": "calibrated at 16 cores" if cores == 16 else ""})
    for batch, fps in PAPER["sebulba_batch"].items():
        setup = paper_vtrace_setup(TPU_V3, actor_batch=batch)
        out.append({"what": f"Sebulba V-trace, actor batch {batch} (Fig. 4b)", "cores": 8, "unit": "frames/s",
                    "model": FRAMESKIP * sebulba_steps_per_s(setup, TPU_V3, 1), "paper": fps,
                    "note": "calibrated (both ends)"})
    setup = paper_vtrace_setup(TPU_V3)
    for cores in (8, 128, 2048):
        hosts = cores // 8
        model = FRAMESKIP * sebulba_steps_per_s(setup, TPU_V3, hosts)
        paper = PAPER["sebulba_cores"].get(cores)
        out.append({"what": "Sebulba V-trace, batch 128, T 60 (text)", "cores": cores, "unit": "frames/s",
                    "model": model, "paper": paper, "note": ""})
    cv = jitter_to_match(setup, 2048 // 8, PAPER["sebulba_cores"][2048])
    out.append({"what": f"same, stragglers cv = {cv:.3f} (fitted)", "cores": 2048, "unit": "frames/s",
                "model": FRAMESKIP * sebulba_steps_per_s(setup, TPU_V3, 256, cv), "paper": PAPER["sebulba_cores"][2048],
                "note": "cv fitted to this point"})
    muzero = paper_muzero_setup()
    for cores in (16, 32, 64, 128):
        out.append({"what": "Sebulba MuZero (Fig. 4c; 16 cores from the text)", "cores": cores, "unit": "frames/s",
                    "model": FRAMESKIP * sebulba_steps_per_s(muzero, TPU_V3, cores // 8),
                    "paper": PAPER["muzero"].get(cores), "note": "calibrated at 16 cores" if cores == 16 else ""})
    return out


def jitter_to_match(setup: SebulbaSetup, hosts: int, fps: float) -> float:
    """The straggler ``cv`` at which the model gives ``fps`` frames/s on ``hosts`` hosts (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if FRAMESKIP * sebulba_steps_per_s(setup, TPU_V3, hosts, mid) > fps else (lo, mid)
    return (lo + hi) / 2


def prediction_rows(data: dict[str, Any], seb_rows: list[dict[str, Any]], gpu: StepCosts = GPU_PPO) -> list[dict[str, Any]]:
    """Anakin and Sebulba env steps/s for 1..1024 devices on CPU hosts, GPU nodes and a TPU v3 pod slice."""
    here = here_platform(data)
    cpu, cpu_costs = cpu_hosts(here), measured_costs(data)
    # a 64-core host runs 32 copies of this machine's 2-core Sebulba (64 envs each): 2,048 envs per update
    here_seb = sebulba_here(seb_rows).setup
    cpu_seb = dataclasses.replace(here_seb, host_batch=32 * here_seb.host_batch)
    cpu_pool = dataclasses.replace(cpu, parallel=cpu.per_host)  # actors and learner share the host's cores
    tpu_anakin = paper_anakin_costs(PAPER["anakin"][16] / 16)
    tpu_seb = paper_vtrace_setup(TPU_V3)
    out = []
    for d in DEVICES:
        hosts = max(1, d // 8)
        out.append({"devices": d,
                    "cpu_anakin": anakin_steps_per_s(cpu_costs, cpu, d, 64),
                    "gpu_anakin": anakin_steps_per_s(gpu, H100, d, 8192),
                    "tpu_anakin": anakin_steps_per_s(tpu_anakin, TPU_V3, d, 1024),
                    # Sebulba: whole hosts only (32 CPU devices or 8 accelerators each); CPU hosts at this machine's
                    # CPU costs per env step; GPU and TPU hosts (2 actor, 6 learner devices) at the paper's V-trace costs
                    "cpu_sebulba": sebulba_steps_per_s(cpu_seb, cpu_pool, d // 32) if d >= 32 else None,
                    "gpu_sebulba": sebulba_steps_per_s(dataclasses.replace(tpu_seb, env_cpu_s=tpu_seb.env_cpu_s),
                                                       H100, hosts) if d >= 8 else None,
                    "tpu_sebulba": sebulba_steps_per_s(tpu_seb, TPU_V3, hosts) if d >= 8 else None})
    return out


def markdown(here: list[dict[str, Any]], paper: list[dict[str, Any]], pred: list[dict[str, Any]]) -> str:
    lines = ["### This machine: predicted vs measured (env steps/s)", "",
             "| workload | devices | processes | predicted | measured | predicted / measured "
             "| predicted if the devices shared one core's worth | load before, after |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in here:
        ratio = f"{r['predicted'] / r['measured']:.2f}" if r["measured"] else "(hook: no row yet)"
        load = f"{r['load'][0]:.1f}, {r['load'][1]:.1f}" if r["load"] else ""
        lines.append(f"| {r['arch']} | {r['devices']} | {r['processes']} | {_n(r['predicted'])} | {_n(r['measured'])} "
                     f"| {ratio} | {_n(r['predicted_shared'])} | {load} |")
    lines += ["", "### Podracer's figures (TPU v3): model vs paper", "",
              "| workload | TPU cores | unit | model | paper | model / paper | note |", "|---|---:|---|---:|---:|---:|---|"]
    for r in paper:
        ratio = f"{r['model'] / r['paper']:.2f}" if r["paper"] else ""
        lines.append(f"| {r['what']} | {r['cores']} | {r['unit']} | {_n(r['model'])} | {_n(r['paper'])} | {ratio} | {r['note']} |")
    lines += ["", "### Predictions, env steps/s (efficiency: per-device rate / the smallest setup's)", "",
              "| devices | CPU hosts Anakin | GPU Anakin | TPU v3 Anakin | CPU hosts Sebulba | GPU Sebulba | TPU v3 Sebulba |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    first: dict[str, tuple[int, float]] = {}
    keys = ("cpu_anakin", "gpu_anakin", "tpu_anakin", "cpu_sebulba", "gpu_sebulba", "tpu_sebulba")
    for r in pred:
        cells = []
        for k in keys:
            v = r[k]
            if v is None:
                cells.append("")
                continue
            d0, v0 = first.setdefault(k, (r["devices"], v))
            cells.append(f"{_n(v)} ({v / r['devices'] / (v0 / d0):.0%})")
        lines.append(f"| {r['devices']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def replace_between_marks(doc: Path, table: str) -> None:
    """Puts ``table`` between the scaling-table marks of ``doc`` (the doc's own text stays)."""
    text = doc.read_text()
    start, end = text.index(MARK_START) + len(MARK_START), text.index(MARK_END)
    doc.write_text(text[:start] + "\n" + table + text[end:])


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--costs", type=Path, default=COSTS, help="measure_costs.py's JSON")
    p.add_argument("--sebulba-rows", type=Path, nargs="*", default=(),
                   help="rlk bench --sebulba --json rows (full and learner='trivial'; 'processes' for several)")
    p.add_argument("--gpu-anakin", type=Path, default=None,
                   help="rlk bench --backend gpu --json rows (benchmarks/accelerator.sh's anakin.json): GPU costs from them")
    p.add_argument("--markdown", type=Path, default=None, help="write the tables here")
    p.add_argument("--doc", type=Path, default=None, help="replace the tables between the marks of this file")
    a = p.parse_args(argv)
    if not a.costs.is_file():
        raise SystemExit(f"scaling_model: no costs file {a.costs} (run python -m experiments.podracer.measure_costs --out it)")
    data = json.loads(a.costs.read_text())
    gpu = gpu_costs(json.loads(a.gpu_anakin.read_text())) if a.gpu_anakin else GPU_PPO
    seb_rows = sebulba_rows(a.sebulba_rows)
    table = markdown(here_rows(data, seb_rows), paper_rows(), prediction_rows(data, seb_rows, gpu))
    print(table)
    if a.markdown:
        a.markdown.write_text(table)
    if a.doc:
        replace_between_marks(a.doc, table)


def gpu_costs(rows: list[dict[str, Any]]) -> StepCosts:
    """GPU costs from measured ``rlk bench --backend gpu`` rows (1 device, one seed): the whole step per update
    (``num_envs * 16 / steps_per_s``) as the update's cost, affine in the batch across the rows given."""
    ones = [r for r in rows if r["devices"] == 1 and r["seeds"] == 1 and r.get("platform") == "gpu"]
    if not ones:
        raise SystemExit("scaling_model: --gpu-anakin has no 1-device, 1-seed gpu row")
    b = [r["num_envs"] for r in ones]
    return dataclasses.replace(GPU_PPO, env=Affine(0, 0), act=Affine(0, 0),
                               update=Affine.fit(b, [n * 16 / r["steps_per_s"] for n, r in zip(b, ones)]))


if __name__ == "__main__":
    main()
