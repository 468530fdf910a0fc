"""The paper's FuzzyBear experiment over seeds: value of a new policy, and planning, per model.

``python -m experiments.partial_models.experiment [--seeds 10] [--quick]`` 
prints a Markdown table and writes ``partial_models_values.png`` and ``partial_models_results.json``
into ``--out`` (default ``experiments/partial_models/figures``).

For each seed: the behaviour policy (which sees the bear) generates episodes; the naive model and the
two causal models (backdoor = action probabilities, or intention) are trained on them; each model
evaluates every open-loop plan from home (the new policies) and the planner picks the best. True
values come from the environment (exact enumeration of its definition, and the real return of the
chosen plan measured by rolling it out in the JAX environment).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core import stats
from rlk.plugins.partial_models.data import BehaviourConfig, collect
from rlk.plugins.partial_models.env import FuzzyBear, FuzzyBearConfig
from rlk.plugins.partial_models.models import PartialModelConfig, make_train, open_loop_plans, plan, simulate_value
from rlk.core.plotting import save_figure

MODELS = {"naive": "none", "causal (probs)": "probs", "causal (intention)": "intention"}
PLAN_NAMES = ["stay", "stay", "forest, hug", "forest, run"]  # open_loop_plans(2, 2) order; a_1 is moot after staying
FOREST_HUG = 2


def exact_plan_values(config: FuzzyBearConfig) -> np.ndarray:
    """The true value of each open-loop plan ``(a_0, a_1)`` from the environment's definition: ``[4]``."""
    c = config
    hug = (1 - c.p_grizzly) * c.hug_teddy_reward + c.p_grizzly * c.hug_grizzly_reward
    return np.array([v for a0, a1 in itertools.product(range(2), range(2))
                     for v in [c.stay_reward if a0 == 0 else (hug if a1 == 0 else c.run_reward)]])


def rollout_return(env: FuzzyBear, actions: jax.Array, key: jax.Array, episodes: int) -> jax.Array:
    """Mean return of the open-loop plan ``actions [K]`` played in the environment (Monte Carlo)."""

    def episode(key):
        state, ts = env.reset(key)

        def step(carry, a):
            state, done, total = carry
            state, ts = env.step(state, a, key)
            return (state, done | ts.last, total + jnp.where(done, 0.0, ts.reward)), None

        (_, _, total), _ = jax.lax.scan(step, (state, jnp.bool_(False), jnp.float32(0.0)), actions, unroll=True)
        return total

    return jnp.mean(jax.vmap(episode)(jax.random.split(key, episodes)))


def make_seed_run(env: FuzzyBear, behaviour: BehaviourConfig, model_config: PartialModelConfig,
                  num_episodes: int, num_particles: int):
    """``run(seed) -> dict``: data, training, the value of every plan (both estimators), the planner's choice."""
    collect_fn = jax.jit(lambda key: collect(env, behaviour, key, num_episodes))
    num_steps = env.spec.max_episode_steps
    trains = {}

    def evaluate(model, obs0, key):
        p_key, lr_key, r_key = jax.random.split(key, 3)
        values, best = plan(model, obs0, p_key, num_steps, num_particles, epsilon=behaviour.epsilon)
        lr = (jax.vmap(lambda p, k: simulate_value(model, obs0, p, k, num_particles, "likelihood_ratio", behaviour.epsilon))(
            open_loop_plans(num_steps, 2), jax.random.split(lr_key, 4)) if model.backdoor != "none" else jnp.full((4,), jnp.nan))
        root_value = model.value(model.initial_state(obs0))[0]  # the behaviour's value, as the model predicts it
        return values, lr, best, rollout_return(env, best, r_key, 20000), root_value

    for name, backdoor in MODELS.items():
        train = make_train(model_config.model_copy(update={"backdoor": backdoor, "epsilon": behaviour.epsilon}), 4, 2)
        trains[name] = jax.jit(lambda key, data, train=train: (lambda m: (m[1], *evaluate(m[0], data["obs0"][0], key)))(train(key, data)))

    def run(seed: int) -> dict:
        data_key, key = jax.random.split(jax.random.PRNGKey(seed))
        data = collect_fn(data_key)
        out = {}
        for i, (name, fn) in enumerate(trains.items()):
            metrics, values, lr, best, real, root_value = fn(jax.random.fold_in(key, i), data)
            out[name] = {"plan_values": np.asarray(values).tolist(), "plan_values_lr": np.asarray(lr).tolist(),
                         "best_plan": np.asarray(best).tolist(), "first_action": int(best[0]),
                         "real_return_of_plan": float(real), "final_loss": float(np.mean(metrics["loss"][-100:])),
                         "root_value": float(root_value)}
        return out

    return run


def summarise(results: list[dict], true_values: np.ndarray) -> str:
    """A Markdown table over seeds: means with 95% percentile bootstrap intervals (``rlk.core.stats``)."""
    rows = ["| model | V(forest, hug) [true %.2f] | V(stay) [true %.2f] | V_LR(forest, hug) | picks stay | real return of its plan |"
            % (true_values[FOREST_HUG], true_values[0]), "|---|---|---|---|---|---|"]

    def ms(x) -> str:
        point, ci = stats.interval(np.asarray(x, float)[:, None], stats.STATS["mean"], 2000, 0)
        return f"{point[0]:.3f} [{ci[0, 0]:.3f}, {ci[1, 0]:.3f}]"

    for name in MODELS:
        v = np.array([r[name]["plan_values"] for r in results])
        lr = np.array([r[name]["plan_values_lr"] for r in results])
        stay = np.mean([r[name]["first_action"] == 0 for r in results])
        real = [r[name]["real_return_of_plan"] for r in results]
        rows.append(f"| {name} | {ms(v[:, FOREST_HUG])} | {ms(v[:, 0])} | "
                    f"{'n/a' if np.isnan(lr).all() else ms(lr[:, FOREST_HUG])} | {stay * len(results):.0f}/{len(results)} | {ms(real)} |")
    return "\n".join(rows)


def figure(results: list[dict], true_values: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    plans = [0, 2, 3]
    width = 0.25
    for j, name in enumerate(MODELS):
        v = np.array([r[name]["plan_values"] for r in results])[:, plans]
        x = np.arange(len(plans)) + (j - 1) * width
        ax.bar(x, v.mean(0), width, yerr=v.std(0), label=name, capsize=3)
        ax.scatter(np.repeat(x[None], len(v), 0), v, s=6, c="k", zorder=3)
    ax.hlines(true_values[plans], np.arange(len(plans)) - 0.4, np.arange(len(plans)) + 0.4, colors="r", zorder=4,
              label="true value (exact)")
    ax.set_xticks(np.arange(len(plans)), [PLAN_NAMES[p] for p in plans])
    ax.set_ylabel("model's value of the open-loop plan")
    ax.set_title(f"FuzzyBear: value of new policies ({len(results)} seeds)")
    ax.legend(fontsize=8, loc="upper right")
    real = [[r[name]["real_return_of_plan"] for r in results] for name in MODELS]
    ax2.bar(np.arange(len(MODELS)), [np.mean(r) for r in real], yerr=[np.std(r) for r in real], capsize=3,
            color=["C0", "C1", "C2"])
    ax2.axhline(true_values.max(), color="r", ls="--", lw=1, label="best open-loop plan (stay)")
    ax2.set_xticks(np.arange(len(MODELS)), list(MODELS), fontsize=8)
    ax2.set_ylim(0, 0.8)
    ax2.set_ylabel("real return of the planner's choice")
    ax2.set_title("planning with each model")
    ax2.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=8192)
    parser.add_argument("--particles", type=int, default=4096)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures")
    parser.add_argument("--quick", action="store_true", help="CI-sized: 2 seeds, 600 gradient steps")
    parser.add_argument("--summarise", type=Path, help="print the table of a saved partial_models_results.json and stop")
    args = parser.parse_args(argv)
    if args.summarise:
        saved = json.loads(args.summarise.read_text())
        table = summarise(saved["seeds"], np.array(saved["true_plan_values"]))
        print(table)
        return {"table": table}
    return run_experiment(args.seeds if not args.quick else 2, args.episodes, args.particles, args.out,
                          PartialModelConfig(steps=600, hidden=32, batch_size=256) if args.quick else PartialModelConfig())


def run_experiment(seeds: int, episodes: int, particles: int, out: Path, model_config: PartialModelConfig) -> dict:
    env_config, behaviour = FuzzyBearConfig(), BehaviourConfig()
    env = FuzzyBear(env_config)
    run = make_seed_run(env, behaviour, model_config, episodes, particles)
    t0 = time.time()
    results = [run(s) for s in range(seeds)]
    true_values = exact_plan_values(env_config)
    table = summarise(results, true_values)
    print(table)
    print(f"({seeds} seeds, {episodes} episodes each, {model_config.steps} steps, {time.time() - t0:.0f} s)")
    figure(results, true_values, out / "partial_models_values.png")
    summary = {"table": table, "true_plan_values": true_values.tolist(), "seeds": results,
               "config": {"env": env_config.model_dump(), "behaviour": behaviour.model_dump(),
                          "model": model_config.model_dump(), "episodes": episodes, "particles": particles}}
    (out / "partial_models_results.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
