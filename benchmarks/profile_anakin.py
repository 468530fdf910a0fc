"""Where does rlk's Anakin PPO lose time against the single-file peer? Variants timed in one process.

    python benchmarks/profile_anakin.py [--env catch] [--seeds 1] [--updates 9] [--calls 8] [--repeats 9]
    python benchmarks/profile_anakin.py --only "rlk,rlk - A"      # a subset (names before " (")

Every variant runs the same PPO updates (64 envs x 16 steps, 4 epochs x 4 minibatches) on one
device; steps/s after compile, best of interleaved repeats (the machine may be shared), and the
same per CPU-second of this process. Variants (patches applied here, not in rlk):

- ``rlk``: the real program (``make_anakin``), driven as ``rlk train`` drives it (calls of
  ``--updates`` updates, state donated, ``summarise`` after each call);
- ``rlk no summarise``: the same without fetching metrics between calls;
- ``rlk one call of N updates``: all updates in one compiled call (no per-call overhead);
- ``rlk - A``: ``AnakinProgram._device_step`` as before change A, with the seed ``vmap`` also for
  one seed (rlk now runs one seed without it);
- (change B, a batched ``x @ W`` per layer instead of a ``vmap`` of per-example products, and
  change E, weights stored ``[in, out]``, are in rlk now: ``rlk.nn.torsos``);
- ``rlk + C``: PPO's loss metrics (approx_kl, clip_frac, each loss term, per minibatch) left
  unused so that XLA drops them: what they cost (an experiment, not a proposal);
- ``rlk + D``: the agent built without an axis name on a 1-device mesh (no all-reduce of
  gradients, advantage statistics and metrics in every minibatch);
- combinations of them;
- ``peer``: ``benchmarks/peer_ppo.py`` (PureJaxRL single file; ``vmap`` over seeds only if seeds > 1).
"""

from __future__ import annotations

import argparse
import sys
import time

import jax

from rlk import bench
from rlk.plugins.backends.anakin import AnakinProgram, AnakinState, episode_sums, rollout
from rlk.plugins.backends.platforms import DATA_AXIS


class SeedVmapAnakin(AnakinProgram):
    """``AnakinProgram._device_step`` as it was before change A: ``vmap`` over seeds even for one."""

    def _device_step(self, state: AnakinState, rows=None):  # one row a call (bench.rlk_program)
        agent, env = self.agent, self.env

        def one_update(s: AnakinState, _):
            key, roll_key, update_key = jax.random.split(s.key, 3)
            roll_key = jax.random.fold_in(roll_key, jax.lax.axis_index(DATA_AXIS))
            (actor, env_state, ts), traj = rollout(
                agent, env, s.learner.params, s.actor, s.env, s.timestep, roll_key, agent.unroll_length)
            learner, metrics = agent.update(s.learner, traj, update_key)
            ret_sum, ret_count = jax.lax.psum(episode_sums(traj), DATA_AXIS)
            metrics = {**metrics, "episode_return_sum": ret_sum, "episodes": ret_count}
            return AnakinState(learner, actor, env_state, ts, key), metrics

        return jax.vmap(lambda s: jax.lax.scan(one_update, s, None, length=self.updates_per_step))(state)


def build(env: str, updates_per_call: int, seed_vmap: bool, no_metrics: bool, no_collectives: bool = False):
    program = bench.rlk_program(env, 1, updates_per_call * 64 * 16)
    if no_collectives:  # change D: on a 1-device mesh the agent needs no axis (no all-reduce per minibatch)
        from rlk.core.registry import default_registry

        ppo = default_registry().get("agent", "ppo")
        program.agent = ppo.factory(bench.ppo_defaults(), program.raw_env.spec, None)
    if seed_vmap:
        program.__class__ = SeedVmapAnakin
    if no_metrics:  # experiment C: PPO's per-minibatch loss metrics unused (XLA drops them)
        update = program.agent.update
        program.agent = program.agent._replace(update=lambda s, t, k: (update(s, t, k)[0], {}))
    return program


def rlk_variant(env, seeds, updates, calls, seed_vmap=False, no_metrics=False, summarise=True,
                no_collectives=False):
    program = build(env, updates, seed_vmap, no_metrics, no_collectives)
    box = {"s": program.init(list(range(seeds)))}
    step = program.compile(box["s"])  # traced now, with the patch in place

    def run():
        for _ in range(calls):
            box["s"], m = step(box["s"])
            if summarise:
                program.summarise(m)
        jax.block_until_ready(box["s"])

    return run


def peer_variant(env, seeds, updates):
    train, keys = bench.peer_train(env, seeds, updates)
    compiled = train.lower(keys).compile()
    return lambda: jax.block_until_ready(compiled(keys))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="catch")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--updates", type=int, default=9, help="updates per compiled call")
    p.add_argument("--calls", type=int, default=8)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--only", default=None, help="comma-separated variant names before their parenthesis, e.g. 'rlk,rlk + A' (the peer always runs)")
    a = p.parse_args()
    total = a.updates * a.calls
    steps = total * 64 * 16 * a.seeds
    E, S, U, C = a.env, a.seeds, a.updates, a.calls
    R = rlk_variant
    builders = {
        f"rlk (calls of {U} updates, summarise)": lambda: R(E, S, U, C),
        "rlk no summarise": lambda: R(E, S, U, C, summarise=False),
        f"rlk one call of {total} updates": lambda: R(E, S, total, 1),
        "rlk - A (seed vmap also for one seed)": lambda: R(E, S, U, C, seed_vmap=True),
        "rlk + C (no loss metrics)": lambda: R(E, S, U, C, no_metrics=True),
        "rlk + D (no axis on 1 device)": lambda: R(E, S, U, C, no_collectives=True),
        "rlk + C + D": lambda: R(E, S, U, C, no_metrics=True, no_collectives=True),
        "peer (PureJaxRL single file)": lambda: peer_variant(E, S, total),
    }
    if a.only:
        keep = {x.strip() for x in a.only.split(",")}
        builders = {k: v for k, v in builders.items()
                    if k.startswith("peer") or k.split(" (")[0] in keep or k in keep}
    variants = {}
    for k, b in builders.items():
        variants[k] = b()
    times = {k: [] for k in variants}
    cpu = {k: [] for k in variants}
    for k, fn in variants.items():
        print(f"warming up: {k}", file=sys.stderr, flush=True)
        fn()
    for _ in range(a.repeats):
        for k, fn in variants.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    print(f"{E}, {S} seed(s), {steps:,} env steps per repeat, best of {a.repeats} ({bench.machine()})")
    peer = steps / min(times["peer (PureJaxRL single file)"])
    peer_cpu = steps / min(cpu["peer (PureJaxRL single file)"])
    for k, ts in times.items():
        sps, cps = steps / min(ts), steps / min(cpu[k])
        print(f"  {k:42s} {sps:>11,.0f} steps/s  {sps / peer:5.2f}x peer   "
              f"(per CPU-second: {cps:>9,.0f}, {cps / peer_cpu:5.2f}x peer)")


if __name__ == "__main__":
    main()
