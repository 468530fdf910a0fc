"""JUMP against its trained autoregressive baseline on moving-shapes, over seeds: consistency, likelihood,
sampling time.

    python -m experiments.jumpy_video.compare --jump RUN_JUMP --ar RUN_AR [--out experiments/jumpy_video/figures]

RUN_JUMP and RUN_AR are ``rlk train --model jumpy_video`` and ``--model jumpy_video_ar`` runs on the same
data and budget with ``--num-seeds S``. Per seed, the numbers are the model's own evaluation
at ``--checkpoint`` (what ``rlk eval RUN --checkpoint STEP`` prints: the first ``arch.eval_examples`` test
videos, the first 5 frames as context); across seeds, the mean and its 95% bootstrap interval (``rlk.core.stats``):

- ``future_neg_elbo_per_frame``: the negative ELBO of frames 5..20 given frames 0..4, per frame (both a
  bound on ``-log p(x_{5:20} | x_{0:4}) / 16``; JUMP with one z for all 16 frames, the baseline one per frame);
- ``prior_sample_mse``: the MSE of sampled frames at t = 8, 12, 16, 20 (a sample on the other future counts as error);
- ``branch_agreement``, ``step_jump``, ``down_fraction`` (``metrics.py``) of frames 16..20, JUMP with one z,
  JUMP with an independent z per frame (the ablation), the baseline's rollouts, and the data;
- sampling time of frame t given frames 0..4, 64 videos, best of ``--repeats`` calls after compiling
  (seed 0's weights; JUMP renders t directly, the baseline rolls through frames 5..t).

Writes ``<out>/jumpy_video_ar_comparison<--tag>.{json,png}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

METRICS = {  # row -> (JUMP's key, the baseline's key); None: not defined for that model
    "future_neg_elbo_per_frame": ("future_neg_elbo_per_frame", "future_neg_elbo_per_frame"),
    "prior_sample_mse": ("prior_sample_mse", "prior_sample_mse"),
    "branch_agreement": ("branch_agreement_one_z", "branch_agreement_ar"),
    "step_jump": ("step_jump_one_z", "step_jump_ar"),
    "down_fraction": ("down_fraction_one_z", "down_fraction_ar"),
    "branch_agreement (JUMP, independent z)": ("branch_agreement_independent_z", None),
    "down_fraction (data)": ("down_fraction_data", None),
}
TIMES = (5, 10, 15, 20)


def restore(run_dir: Path, checkpoint: str):
    """``(model object, seed 0's params, parameter count, dataset, evaluation per seed)`` of a run's checkpoint."""
    from rlk.core.run import EVAL_SEED, restored_run
    from rlk.plugins.jumpy_video.autoregressive import Autoregressive, AutoregressiveConfig
    from rlk.plugins.jumpy_video.model import Jump, JumpConfig

    config, program, state = restored_run(run_dir, checkpoint=checkpoint)
    data = program.dataset
    cls, cfg = (Jump, JumpConfig) if config.model.name == "jumpy_video" else (Autoregressive, AutoregressiveConfig)
    m = cls(cfg(**config.model.options()), data.spec.shape, data.arrays("train")["v"].shape[-1], data)
    params = jax.tree.map(lambda a: np.asarray(a)[0], jax.device_get(state.params))
    per_seed = program.evaluate(state, 1, EVAL_SEED)["metrics_per_seed"]
    return m, params, sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params)), data, per_seed


def program_eval_examples(run_dir: Path) -> int:
    return json.loads((run_dir / "config.json").read_text())["arch"]["eval_examples"]


def best_time(fn, repeats: int) -> float:
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def mean_ci(values: list[float], reps: int) -> dict[str, float]:
    from rlk.core.stats import STATS, interval

    point, ci = interval(np.asarray(values, np.float64)[:, None], STATS["mean"], reps, seed=0)
    return {"mean": float(point[0]), "low": float(ci[0, 0]), "high": float(ci[1, 0]), "per_seed": values}


def main(argv=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jump", required=True, type=Path)
    ap.add_argument("--ar", required=True, type=Path)
    ap.add_argument("--out", default=Path(__file__).resolve().parent / "figures", type=Path)
    ap.add_argument("--checkpoint", default="last", help="which checkpoint of both runs: last or a step")
    ap.add_argument("--tag", default="", help="suffix of the output files' names")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    args = ap.parse_args(argv)

    jump, jp, j_count, data, j_seeds = restore(args.jump, args.checkpoint)
    ar, ap_, a_count, _, a_seeds = restore(args.ar, args.checkpoint)
    per_seed = {"jump": j_seeds, "ar": a_seeds}
    table = {}
    for row, keys in METRICS.items():
        table[row] = {name: mean_ci([m[key] for m in per_seed[name]], args.reps)
                      for name, key in zip(("jump", "ar"), keys) if key is not None}

    test = data.arrays("test")
    x, v = jnp.asarray(test["x"][:64]), jnp.asarray(test["v"][:64])
    n = 5
    timing = {"jump_ms": [], "ar_ms": [], "ar_steps": []}
    for t in TIMES:
        jf = jax.jit(lambda p, k, t=t: jump.sample_batch(p, x, v, n, [t], k))
        af = jax.jit(lambda p, k, t=t: ar.sample_batch(p, x, v, n, t, k))
        timing["jump_ms"].append(1e3 * best_time(lambda: jf(jp, jax.random.PRNGKey(0)), args.repeats))
        timing["ar_ms"].append(1e3 * best_time(lambda: af(ap_, jax.random.PRNGKey(0)), args.repeats))
        timing["ar_steps"].append(t - n + 1)
    setting = {"jump_run": str(args.jump), "ar_run": str(args.ar), "checkpoint": args.checkpoint,
               "eval_videos": int(min(len(test["x"]), program_eval_examples(args.jump))), "seeds": len(per_seed["jump"]),
               "parameters": {"jump": j_count, "ar": a_count}, "timing_batch": int(x.shape[0]),
               "timing_target_frames": list(TIMES), "device": jax.devices()[0].device_kind}
    out = {"metrics": table, "timing": timing, "setting": setting}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"jumpy_video_ar_comparison{args.tag}.json").write_text(json.dumps(out, indent=1) + "\n")

    for row, cells in table.items():
        print(f"{row:42s}" + "  ".join(f"{name}: {c['mean']:.3f} [{c['low']:.3f}, {c['high']:.3f}]"
                                        for name, c in cells.items()))
    for t, j, a, s in zip(TIMES, timing["jump_ms"], timing["ar_ms"], timing["ar_steps"]):
        print(f"t={t:2d}: JUMP {j:.2f} ms, AR {a:.2f} ms ({s} steps)")
    print(json.dumps(setting))

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, row in zip(axes[:2], ("branch_agreement", "down_fraction")):
        names = ["jump", "ar"]
        cells = [table[row][nm] for nm in names]
        ax.bar(range(2), [c["mean"] for c in cells], color=["tab:blue", "tab:orange"],
               yerr=np.array([[c["mean"] - c["low"] for c in cells], [c["high"] - c["mean"] for c in cells]]))
        ax.set_xticks(range(2), ["JUMP (one z)", "autoregressive"])
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{row} (frames 16-20)", fontsize=9)
    axes[1].axhline(table["down_fraction (data)"]["jump"]["mean"], color="0.5", ls="--", label="data")
    axes[1].legend(fontsize=8)
    axes[2].plot(TIMES, timing["jump_ms"], "o-", label="JUMP (direct)")
    axes[2].plot(TIMES, timing["ar_ms"], "s-", label="autoregressive (rollout)")
    axes[2].set_xlabel("target frame t (context: frames 0-4)")
    axes[2].set_ylabel("ms per batch of 64")
    axes[2].set_title("sampling time", fontsize=9)
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / f"jumpy_video_ar_comparison{args.tag}.png", dpi=110)
    print(f"wrote {args.out}/jumpy_video_ar_comparison{args.tag}.json and .png")


if __name__ == "__main__":
    main()
