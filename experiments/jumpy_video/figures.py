"""README figures of a trained moving-shapes run: consistency of one z vs independent z, and jumpy samples.

    python -m experiments.jumpy_video.figures --run RUN_DIR [--out experiments/jumpy_video/figures] [--draws 8]

RUN_DIR is a run of ``rlk train --model jumpy_video --dataset moving-shapes``. The script restores its
last checkpoint, then on the whole test split (context: the first 5 frames, before the fork) draws
``--draws`` sample sets of frames ``t = 16..20`` per video, once with one ``z ~ p(z | C)`` per set and
once with an independent ``z`` per frame, and writes

- ``<out>/jumpy_video_consistency.png``: branch agreement and step jump (``metrics.py``) of the two,
  beside the data's; and, for three test videos, the true frames, two one-z sets and two
  independent-z sets;
- ``<out>/jumpy_video_samples.png`` and ``.gif``: the ``rlk sample`` grid (``rlk sample RUN --gif``);
- ``<out>/jumpy_video_consistency.json``: the numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np


def restore(run_dir: Path):
    """``(jump, params, dataset)`` of a run's last checkpoint (first seed)."""
    from rlk.core.run import restored_run
    from rlk.plugins.jumpy_video.model import Jump, JumpConfig

    config, program, state = restored_run(run_dir)
    dataset = program.dataset
    jump = Jump(JumpConfig(**config.model.options()), dataset.spec.shape, dataset.arrays("train")["v"].shape[-1],
                dataset)
    params = jax.tree.map(lambda a: np.asarray(a)[0], jax.device_get(state.params))
    return jump, params, dataset


def main(argv=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlk.core.images import save_gif, save_grid
    from rlk.plugins.jumpy_video.metrics import consistency_metrics

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--out", default=Path(__file__).resolve().parent / "figures", type=Path)
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    jump, params, data = restore(args.run)
    test = data.arrays("test")
    x, v = jnp.asarray(test["x"]), jnp.asarray(test["v"])
    times = jump.times(jump.c.consistency_times)
    n_ctx = min(jump.c.sample_context, jump.T)
    ref = x[:, n_ctx - 1]
    sample = jax.jit(jump.sample_batch, static_argnums=(3, 4, 6))
    sets, results = {}, {}
    for name, indep in (("one z", False), ("independent z", True)):
        sets[name] = jnp.stack([sample(params, x, v, n_ctx, tuple(times), jax.random.PRNGKey(args.seed * 1000 + d),
                                       indep) for d in range(args.draws)], 1)
        results[name] = {k: float(val) for k, val in consistency_metrics(sets[name], ref).items()}
    results["data"] = {k: float(val) for k, val in consistency_metrics(x[:, None, jnp.asarray(times)], ref).items()}
    results["setting"] = {"run": str(args.run), "test_videos": int(x.shape[0]), "draws_per_video": args.draws,
                          "context_frames": n_ctx, "target_frames": times}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "jumpy_video_consistency.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))

    fig = plt.figure(figsize=(10, 5.2))
    names = ["data", "one z", "independent z"]
    colours = ["0.5", "tab:blue", "tab:red"]
    ax1 = fig.add_axes([0.07, 0.14, 0.2, 0.72])
    ax1.bar(range(3), [results[n]["branch_agreement"] for n in names], color=colours)
    ax1.set_xticks(range(3), names, rotation=20)
    ax1.set_title("branch agreement\n(all 5 frames same future)", fontsize=9)
    ax1.set_ylim(0, 1.05)
    ax2 = fig.add_axes([0.36, 0.14, 0.2, 0.72])
    ax2.bar(range(3), [results[n]["step_jump"] for n in names], color=colours)
    ax2.set_xticks(range(3), names, rotation=20)
    ax2.set_title("step jump |cy(t+1) - cy(t)|\n(pixels; data: 0.4)", fontsize=9)
    # image panel: 3 videos x (truth, 2 one-z, 2 independent-z) rows, frames t = 16..20
    rows, labels = [], []
    for b in range(3):
        rows.append(np.asarray(x[b, jnp.asarray(times)]))
        labels.append(f"video {b}: truth")
        for name in ("one z", "independent z"):
            for d in range(2):
                rows.append(np.asarray(sets[name][b, d]))
                labels.append(name)
    rows = np.clip(np.stack(rows)[..., 0], 0, 1)
    R, C, H, W = rows.shape
    canvas = np.ones((R * (H + 1), C * (W + 1)))
    for r in range(R):
        for c in range(C):
            canvas[r * (H + 1): r * (H + 1) + H, c * (W + 1): c * (W + 1) + W] = rows[r, c]
    ax3 = fig.add_axes([0.7, 0.02, 0.29, 0.9])
    ax3.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax3.set_xticks([c * (W + 1) + W / 2 for c in range(C)], [f"t={t}" for t in times], fontsize=7)
    ax3.set_yticks([r * (H + 1) + H / 2 for r in range(R)], labels, fontsize=6)
    ax3.xaxis.tick_top()
    fig.savefig(args.out / "jumpy_video_consistency.png", dpi=110)

    grid = np.asarray(jump.sample(params, {k: val[:8] for k, val in test.items()}, jax.random.PRNGKey(12_345)))
    save_grid(grid, args.out / "jumpy_video_samples.png")
    save_gif(grid, args.out / "jumpy_video_samples.gif")
    print(f"wrote {args.out}/jumpy_video_consistency.png, jumpy_video_samples.png/.gif, jumpy_video_consistency.json")


if __name__ == "__main__":
    main()
