"""Closed-loop planning agents on FuzzyBear: the naive partial model against the causal ones, paired seeds.

``python -m experiments.partial_models.closed_loop [--seeds 10] [--quick]`` prints a Markdown table and
writes ``closed_loop.png`` and ``closed_loop_results.json`` into ``--out`` (default
``experiments/partial_models/figures``).

Every agent (``rlk.plugins.partial_models.agent``) plans with the model it is learning, acts with that
plan plus exploration, adds the episodes to its replay, retrains and replans, for ``--iterations``
iterations. The arms differ only in the model's backdoor (none, the action probabilities, the intention);
seed ``s`` gives every arm the same keys. Measured per iteration: the real return of the greedy planner's
policy (rollouts in the environment, no exploration) and the model's value of the open-loop plan
"forest, hug" (true 0.25, from the definition). Intervals: 95% percentile bootstrap over seeds
(``rlk.core.stats``). A uniformly random policy and the best policy (stay, 0.6) are the references.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core import stats
from rlk.plugins.partial_models.agent import ClosedLoopConfig, init_models, make_closed_loop, policy_return
from rlk.plugins.partial_models.env import FuzzyBear, FuzzyBearConfig, decision_observations
from rlk.plugins.partial_models.models import PartialModelConfig
from rlk.core.plotting import save_figure

ARMS = {"naive": "none", "causal (probs)": "probs", "causal (intention)": "intention"}
FOREST_HUG = 2  # open_loop_plans(2, 2) order: (stay, .), (stay, .), (forest, hug), (forest, run)
REPS = 2000  # bootstrap resamples


def run_arms(seeds: int, model_config: PartialModelConfig, config: ClosedLoopConfig, arms: dict[str, str] = ARMS) -> dict:
    """``{arm: metrics}`` (numpy, ``[seeds, iterations, ...]``) and ``"random"``: the uniform policy's return."""
    env = FuzzyBear(FuzzyBearConfig())
    observations = decision_observations()
    init_keys, keys = jax.random.split(jax.random.PRNGKey(0), (2, seeds))
    num_actions = env.spec.action.num_values
    out = {}
    for name, backdoor in arms.items():
        arm_config = model_config.model_copy(update={"backdoor": backdoor})
        run = jax.jit(jax.vmap(make_closed_loop(env, arm_config, config, observations)))
        t0 = time.time()
        models = init_models(arm_config, init_keys, observations.shape[-1], num_actions)
        out[name] = jax.tree.map(np.asarray, run(models, keys))
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    uniform = jnp.full((observations.shape[0], env.spec.action.num_values), 0.5)
    out["random"] = float(policy_return(env, observations, uniform, jax.random.PRNGKey(1), 100_000))
    return out


def final(metrics: dict, key: str, last: int) -> np.ndarray:
    """``[seeds]``: each seed's mean of ``key`` over the last ``last`` iterations."""
    return metrics[key][:, -last:].mean(axis=1)


def summarise(results: dict, last: int) -> tuple[str, dict]:
    """A Markdown table (means with 95% bootstrap intervals over seeds) and the numbers behind it."""
    fmt = lambda p, ci: f"{p:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    rows = [f"| arm | real return of the greedy plan, last {last} iterations | V(forest, hug) (true 0.25) | "
            f"planner stays at the end | paired return difference, causal - naive |", "|---|---|---|---|---|"]
    numbers = {}
    naive = final(results["naive"], "greedy_return", last)
    for name in [a for a in ARMS if a in results]:
        m = results[name]
        ret, value = final(m, "greedy_return", last), final(m, "plan_values", last)[..., FOREST_HUG]
        val_p, val_ci = stats.interval(value[:, None], stats.STATS["mean"], REPS, 0)
        stays = int(np.sum(m["first_action"][:, -1] == 0))
        diff_cell, diff = "n/a", None
        if name != "naive":
            diff = ret - naive
            d_p, d_ci = stats.interval(diff[:, None], stats.STATS["mean"], REPS, 0)
            diff_cell = fmt(d_p[0], d_ci[:, 0])
        _, ret_ci = stats.interval(ret[:, None], stats.STATS["mean"], REPS, 0)
        rows.append(f"| {name} | {fmt(ret.mean(), ret_ci[:, 0])} | {fmt(val_p[0], val_ci[:, 0])} | {stays}/{len(ret)} | {diff_cell} |")
        numbers[name] = {"return": ret.tolist(), "return_ci": ret_ci[:, 0].tolist(), "forest_hug_value": value.tolist(),
                         "forest_hug_value_ci": val_ci[:, 0].tolist(), "stays": stays,
                         "paired_difference": None if diff is None else diff.tolist()}
    rows.append(f"| uniformly random policy | {results['random']:.3f} (100,000 episodes) | | | |")
    return "\n".join(rows), numbers


def figure(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for j, name in enumerate(a for a in ARMS if a in results):
        m = results[name]
        x = np.arange(1, m["greedy_return"].shape[1] + 1)
        for axis, ys in [(ax, m["greedy_return"]), (ax2, m["plan_values"][..., FOREST_HUG])]:
            center, low, high = stats.band(ys, "mean", REPS, 0)
            axis.plot(x, center, color=f"C{j}", label=name)
            axis.fill_between(x, low, high, color=f"C{j}", alpha=0.2)
    ax.axhline(0.6, color="r", ls="--", lw=1, label="best policy (stay), 0.6")
    ax.axhline(results["random"], color="gray", ls=":", lw=1, label=f"random policy, {results['random']:.2f}")
    ax.set(xlabel="iteration (collect, train, replan)", ylabel="real return of the greedy plan",
           title=f"closed-loop planning agents ({len(m['greedy_return'])} seeds, mean, 95% CI)")
    ax2.axhline(0.25, color="r", ls="--", lw=1, label="true value, 0.25")
    ax2.set(xlabel="iteration", ylabel="model's value of the plan (forest, hug)", title="the planner's bias")
    ax.legend(fontsize=8)
    ax2.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--episodes", type=int, default=256, help="episodes collected per iteration")
    parser.add_argument("--steps", type=int, default=120, help="Adam steps per iteration")
    parser.add_argument("--particles", type=int, default=256)
    parser.add_argument("--last", type=int, default=5, help="iterations averaged for the final return")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures")
    parser.add_argument("--quick", action="store_true", help="CI-sized: 3 seeds, 4 iterations of 60 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.iterations, args.steps, args.episodes, args.particles, args.last = 3, 4, 60, 128, 128, 1
    config = ClosedLoopConfig(iterations=args.iterations, episodes_per_iteration=args.episodes,
                              steps_per_iteration=args.steps, num_particles=args.particles)
    model_config = PartialModelConfig(hidden=32, batch_size=256)
    t0 = time.time()
    results = run_arms(args.seeds, model_config, config)
    table, numbers = summarise(results, args.last)
    print(table)
    print(f"({args.seeds} seeds, {args.iterations} iterations of {args.episodes} episodes and {args.steps} Adam steps, "
          f"{time.time() - t0:.0f} s)")
    figure(results, args.out / "closed_loop.png")
    summary = {"table": table, "numbers": numbers, "random_return": results["random"],
               "curves": {name: {k: v.tolist() for k, v in results[name].items()} for name in ARMS},
               "config": {"agent": config.model_dump(), "model": model_config.model_dump(), "seeds": args.seeds}}
    (args.out / "closed_loop_results.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
