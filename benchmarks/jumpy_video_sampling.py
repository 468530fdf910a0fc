"""JUMP's jumpy sampling vs an autoregressive rollout: time to sample the frame at t = 20.

Both use the same networks (JUMP's encoder, prior and renderer at the model's default size, on
moving-shapes' 16x16 frames): JUMP encodes the context (the first 5 frames) once, draws ``z`` and
renders frame ``t`` directly; the baseline (``rlk.plugins.jumpy_video.baseline``) starts from the
last context frame and rolls a frame-to-frame model forward ``t - 4`` steps. Both are one ``jit``
each (compiled before timing), timed as the best of ``--repeats`` calls (the machine is shared), for several ``t`` and
batch sizes, in one run. The weights are untrained (``--run RUN_DIR`` loads a trained run's): the
cost of a forward pass does not depend on their values.

    python benchmarks/jumpy_video_sampling.py [--run RUN_DIR] [--batch-sizes 1 64] [--times 5 10 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rlk.plugins.jumpy_video.baseline import autoregressive_rollout
from rlk.plugins.jumpy_video.data import MovingShapes, MovingShapesConfig
from rlk.plugins.jumpy_video.model import Jump, JumpConfig

CONTEXT = 5


def timed(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t0)
    return float(np.min(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="a jumpy_video run folder (trained weights; default: untrained)")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--times", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()

    data = MovingShapes(MovingShapesConfig(num_train=8, num_test=max(args.batch_sizes)))
    jump = Jump(JumpConfig(), data.spec.shape, 1, data)
    params = jump.init(jax.random.PRNGKey(0))
    if args.run:
        from rlk.core.run import restored_run

        _, _, state = restored_run(Path(args.run))
        params = jax.tree.map(lambda a: np.asarray(a)[0], jax.device_get(state.params))
    test = data.arrays("test")
    step_v = 1.0 / (jump.T - 1)

    def jumpy(params, x, v, t, key):
        ctx = jnp.arange(CONTEXT)
        keys = jax.random.split(key, x.shape[0])
        target_v = jnp.full((1, 1), t * step_v)
        return jax.vmap(lambda x1, v1, k: jump.sample_frames(params, x1[ctx], v1[ctx], jnp.ones(CONTEXT, bool),
                                                             target_v, k))(x, v, keys)

    def rollout(params, x, v, t, key):
        keys = jax.random.split(key, x.shape[0])
        return jax.vmap(lambda x1, v1, k: autoregressive_rollout(jump, params, x1[CONTEXT - 1], v1[CONTEXT - 1],
                                                                 jnp.full((1,), step_v), t - (CONTEXT - 1), k))(x, v, keys)

    rows = []
    key = jax.random.PRNGKey(1)
    for B in args.batch_sizes:
        x, v = jnp.asarray(test["x"][:B]), jnp.asarray(test["v"][:B])
        for t in args.times:
            fj = jax.jit(lambda p, x, v, k, t=t: jumpy(p, x, v, t, k))
            fa = jax.jit(lambda p, x, v, k, t=t: rollout(p, x, v, t, k))
            tj = timed(fj, params, x, v, key, repeats=args.repeats)
            ta = timed(fa, params, x, v, key, repeats=args.repeats)
            rows.append({"batch": B, "t": t, "jump_ms": 1e3 * tj, "autoregressive_ms": 1e3 * ta,
                         "autoregressive_steps": t - (CONTEXT - 1), "speedup": ta / tj})

    print(f"machine: {platform.processor() or platform.machine()}; device {jax.devices()[0].platform} x "
          f"{len(jax.devices())}; weights: {'run ' + args.run if args.run else 'untrained'}")
    print("| batch | target frame t | JUMP, direct (ms) | autoregressive, steps | autoregressive (ms) | speed-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch']} | {r['t']} | {r['jump_ms']:.2f} | {r['autoregressive_steps']} | "
              f"{r['autoregressive_ms']:.2f} | {r['speedup']:.1f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
