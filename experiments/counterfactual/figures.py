"""The plugin's experiments: ``python -m experiments.counterfactual.figures [--quick]``.

1. Learning curves, CCA vs the state-baseline PG, 3 seeds each (one compiled program per agent,
   seeds vmapped by Anakin), through ``rlk train`` on ``bandit-feedback`` and ``key-to-door``
   (high-variance apples): ``experiments/counterfactual/figures/counterfactual_curves.png``.
2. Gradient variance on the bandit (exact gradient known): oracle statistic ``Phi = eps`` and learned
   statistics for several independence weights and classifier training; bias against the exact
   gradient and the leak measured by a probe classifier.
3. Gradient variance on Key-to-Door (high-variance apples) along CCA training: per-episode
   policy-gradient estimates of CCA-PG and of the state-baseline PG on the same episodes, with the
   same agent's learned ``Q(X, Phi, .)`` and ``V(X)``.

Tables go to ``experiments/counterfactual/figures/results.json`` (``--out``) and are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.losses import ValueInputs, agent_losses
from rlk.core.types import Trajectory
from experiments.counterfactual import study
from rlk.plugins.counterfactual.agent import CCAConfig, forward, make_cca
from rlk.plugins.counterfactual.envs import BanditFeedback, BanditFeedbackConfig, KeyToDoor, KeyToDoorConfig
from rlk.plugins.counterfactual.losses import CCAInputs, baseline_surrogate, cca_surrogate
from rlk.core.wrappers import for_training

FIGURES = Path(__file__).resolve().parent / "figures"


# -- 1. learning curves -----------------------------------------------------------------------------
K2D_OPTIONS = ("env.apple_std=10",)  # apples=high (default) with std 10: the state-baseline PG struggles
RUNS = {  # label -> (agent, env, extra -o options)
    "cca/bandit-feedback": ("cca", "bandit-feedback", ()),
    "pg_baseline/bandit-feedback": ("pg_baseline", "bandit-feedback", ()),
    "cca/key-to-door": ("cca", "key-to-door", K2D_OPTIONS),
    "cca(reward-only Phi)/key-to-door": ("cca", "key-to-door", K2D_OPTIONS + ("agent.hindsight_inputs=reward",)),
    # Phi reads only the apple noise z of each step (eaten or not): independent of the actions by construction
    "cca(oracle)/key-to-door": ("cca", "key-to-door", K2D_OPTIONS + ("env.hindsight=noise",
                                                                    "agent.hindsight_inputs=features")),
    # Phi reads only the apple rewards (the door reward left out): what the key-phase steps should condition on
    "cca(apples)/key-to-door": ("cca", "key-to-door", K2D_OPTIONS + ("env.hindsight=apples",
                                                                    "agent.hindsight_inputs=features")),
    "pg_baseline/key-to-door": ("pg_baseline", "key-to-door", K2D_OPTIONS),
}


def train_runs(out: Path, steps: dict[str, int], seeds: int) -> dict[str, Path]:
    runs = {}
    for label, (agent, env, options) in RUNS.items():
        n = steps[env]
        run_dir = out / label.replace("/", "-").replace("(", "_").replace(")", "").replace(" ", "_")
        if not (run_dir / "summary.json").is_file():
            cmd = [sys.executable, "-m", "rlk.cli", "train", "--agent", agent, "--env", env,
                   "--steps", str(n), "--num-seeds", str(seeds), "-q", "--run-dir", str(run_dir),
                   "-o", f"log_every_steps={max(n // 30, 1000)}", "-o", "eval_episodes=1000"]
            for o in options:
                cmd += ["-o", o]
            print("  " + " ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=True)
        runs[label] = run_dir
    return runs


def plot_curves(runs: dict[str, Path], path: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlk.core.curves import read_series

    envs = sorted({k.split("/")[1] for k in runs})
    ylabels = {"episode_return": "episode return (training policy)",
               "terminal_reward": "reward of the last step (door / bandit reward)"}
    fig, axes = plt.subplots(2, len(envs), figsize=(5.5 * len(envs), 7.5), squeeze=False)
    finals = {}
    for row, y in enumerate(ylabels):
        for ax, env in zip(axes[row], envs):
            for agent in [k.split("/")[0] for k in runs if k.split("/")[1] == env]:
                d = runs[f"{agent}/{env}"]
                seeds = [(s.x, s.y) for s in read_series(d, "env_steps", y)]
                grid = seeds[0][0]
                ys = np.stack([np.interp(grid, x, v) for x, v in seeds])
                mean, std = ys.mean(0), ys.std(0)
                line, = ax.plot(grid, mean, label=f"{agent} ({len(ys)} seeds, mean +- std)")
                ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.2)
                summary = json.loads((d / "summary.json").read_text())
                finals.setdefault(f"{agent}/{env}", {"final_return_per_seed": summary["final_return_per_seed"]})
                finals[f"{agent}/{env}"][f"last_logged_{y}"] = float(mean[-1])
            ax.set_title(env + (" (apples=high, std 10)" if env == "key-to-door" else ""))
            ax.set_xlabel("env steps")
            ax.set_ylabel(ylabels[y])
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return finals


# -- 2. bandit ------------------------------------------------------------------------------------
def bandit_oracle(n: int = 20_000) -> dict:
    env = BanditFeedback()
    theta = 1.5 * jax.random.normal(jax.random.PRNGKey(0), (env.config.num_contexts, env.config.num_actions))
    s = study.sample(env, theta, jax.random.PRNGKey(1), n)
    exact = study.exact_gradient(theta, env.mu)
    v = jnp.sum(jax.nn.softmax(theta) * env.mu, -1)[s.x]
    noise = env.config.reward_noise * s.eps[:, 0]
    m = {"state": study.moments(study.per_sample_gradients(theta, s.x, s.a, s.r, baseline=v)),
         "fc": study.moments(study.per_sample_gradients(theta, s.x, s.a, s.r, baseline=v + noise)),
         "cca": study.moments(study.per_sample_gradients(theta, s.x, s.a, s.r, q=env.mu[s.x] + noise[:, None]))}
    return {k: {"total_variance": x.total_variance, "relative_bias": x.relative_bias(exact), "max_z": x.max_z(exact)}
            for k, x in m.items()}


def bandit_learned(quick: bool) -> list[dict]:
    """Learned statistics: the agent's defaults (classifier on its own optimiser, 5 steps at 1e-2 per
    joint step; hindsight GRU at 3e-4) for several independence weights, and the earlier setting
    (classifier trained in the joint step at the same pace, GRU at 1e-3) at lambda = 10."""
    old = dict(classifier_steps=1, classifier_learning_rate=1e-3, hindsight_learning_rate=None)
    grid = [(0.0, {}), (1.0, {}), (10.0, {}), (100.0, {}), (10.0, old)]
    steps = 300 if quick else 1000
    rows = []
    for lam, kw in grid[:3] if quick else grid:
        t = time.time()
        r = study.learned_hindsight_study(lam, steps, probe_steps=steps, **kw)
        print(f"  learned Phi: lambda={lam} {kw}: {time.time() - t:.0f}s", flush=True)
        rows.append(r)
    return rows


# -- 3. Key-to-Door gradient variance -------------------------------------------------------------
def key_to_door_variance(checkpoints: tuple[int, ...], batch: int = 256, seed: int = 0,
                         hindsight: str = "observation", hindsight_inputs: str = "reward") -> list[dict]:
    """Trains CCA on Key-to-Door (apples='high') with its default config and, at each checkpoint
    (updates), measures the per-episode policy-gradient estimates of CCA-PG and of the
    state-baseline PG on ``batch`` fresh episodes (trace of their covariance over episodes)."""
    env = KeyToDoor(KeyToDoorConfig(apples="high", apple_std=10.0, hindsight=hindsight))
    cfg = CCAConfig(hindsight_inputs=hindsight_inputs)
    agent = make_cca(cfg, env.spec, None, agent_losses("cca", cfg.loss_weights))
    train_env = for_training(env)
    T = agent.unroll_length

    def rollout(params, env_state, ts, key, n):
        def one(carry, k):
            env_state, ts = carry
            ak, ek = jax.random.split(k)
            action, _, _ = agent.act(params, (), ts, ak)
            env_state, nts = jax.vmap(train_env.step)(env_state, action, jax.random.split(ek, n))
            return (env_state, nts), (ts, action)

        (env_state, last), (tss, actions) = jax.lax.scan(one, (env_state, ts), jax.random.split(key, T))
        all_ts = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), tss, last)
        return env_state, last, Trajectory(all_ts, actions, {})

    def train_chunk(carry, _):
        state, env_state, ts, key = carry
        key, rk, uk = jax.random.split(key, 3)
        env_state, ts, traj = rollout(state.params, env_state, ts, rk, agent.num_envs)
        state, _ = agent.update(state, traj, uk)
        return (state, env_state, ts, key), None

    @jax.jit
    def measure(state, key):
        reset_key, rk = jax.random.split(key)
        env_state, ts = jax.vmap(train_env.reset)(jax.random.split(reset_key, batch))
        _, _, traj = rollout(state.params, env_state, ts, rk, batch)
        inputs = forward(state.params, traj, True, cfg.gamma, cfg.hindsight_inputs)
        cca = inputs[CCAInputs]
        per_ep = lambda x: x.reshape((T, batch) + x.shape[1:]).swapaxes(0, 1)  # [batch, T, ...]
        obs = per_ep(traj.timestep.observation[:-1].reshape(T * batch, -1))
        a, g = per_ep(cca.action), per_ep(cca.returns)
        q, v = per_ep(cca.fc_q), per_ep(inputs[ValueInputs].value)

        def grads(surrogate):
            def one(o, a, g, q, v):
                return jax.grad(lambda pol: jnp.sum(surrogate(pol.batch(o), a, g, q, v)))(state.params.policy)

            flat = jax.vmap(one)(obs, a, g, q, v)
            leaves = jnp.concatenate([x.reshape(batch, -1) for x in jax.tree.leaves(flat)], -1)
            return jnp.sum(jnp.var(leaves, axis=0, ddof=1)), jnp.linalg.norm(jnp.mean(leaves, 0))

        var_cca, norm_cca = grads(lambda lg, a, g, q, v: cca_surrogate(lg, a, g, q))
        var_pg, norm_pg = grads(lambda lg, a, g, q, v: baseline_surrogate(lg, a, g, v))
        door = jnp.mean(traj.timestep.reward[-1] > 0)
        return {"var_cca": var_cca, "var_state": var_pg, "mean_norm_cca": norm_cca, "mean_norm_state": norm_pg,
                "door_fraction": door}

    key = jax.random.PRNGKey(seed)
    init_key, reset_key, key = jax.random.split(key, 3)
    state = agent.init(init_key)
    env_state, ts = jax.vmap(train_env.reset)(jax.random.split(reset_key, agent.num_envs))
    chunk = jax.jit(lambda c, n: jax.lax.scan(train_chunk, c, None, length=n)[0], static_argnums=1)
    carry, done, rows = (state, env_state, ts, key), 0, []
    for target in checkpoints:
        if target > done:
            carry = chunk(carry, target - done)
            done = target
        m = {k: float(v) for k, v in measure(carry[0], jax.random.PRNGKey(1000 + target)).items()}
        rows.append({"updates": target, "env_steps": target * agent.num_envs * T, **m})
        print(f"  key-to-door variance at {target} updates: {rows[-1]}", flush=True)
    return rows


# -- tables -------------------------------------------------------------------------------------------
def markdown(results: dict) -> str:
    lines = ["Bandit with feedback, oracle statistic Phi = eps (20,000 samples):", "",
             "| estimator | total variance | relative bias | max z |", "|---|---|---|---|"]
    for k, v in results["bandit_oracle"].items():
        lines.append(f"| {k} | {v['total_variance']:.4f} | {v['relative_bias']:.3f} | {v['max_z']:.1f} |")
    lines += ["", "Bandit with feedback, Phi = eps_0 + c u[A] (a known leak), Bayes-optimal critic and classifier:", "",
              "| c | KL(pi\\|\\|h) | CCA relative bias (closed form) | max z | total variance |", "|---|---|---|---|---|"]
    for r in results["controlled_leak"]:
        lines.append(f"| {r['leak']:g} | {r['kl']:.4f} | {r['relative_bias']:.2f} ({r['predicted_bias']:.2f}) | "
                     f"{r['max_z']:.0f} | {r['total_variance']:.4f} |")
    lines += ["", "Bandit with feedback, learned statistic (20,000 samples; probe = fresh classifier on the final Phi):", "",
              "| lambda | classifier steps, lr | GRU lr | var state | var CCA | bias CCA (rel.) | max z CCA | "
              "KL(pi\\|\\|h) train | KL(pi\\|\\|h) probe | probe acc. (argmax pi: {:.2f}) |".format(
                  results["bandit_learned"][0]["acc_policy"]),
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["bandit_learned"]:
        lines.append(f"| {r['independence_weight']:g} | {r['classifier_steps']}, {r['classifier_learning_rate']:g} | "
                     f"{r['hindsight_learning_rate']:g} | {r['var_state']:.3f} | {r['var_cca']:.4f} | "
                     f"{r['bias_cca']:.2f} | {r['z_cca']:.0f} | {r['kl_train']:.3f} | {r['kl_probe']:.3f} | {r['acc_probe']:.2f} |")
    for name, title in (("key_to_door_variance", "CCA with a reward-only Phi"),
                        ("key_to_door_variance_apples", "CCA with Phi reading the apple rewards only")):
        if name not in results:
            continue
        lines += ["", f"Key-to-Door (apples=high, std 10; {title}), per-episode policy-gradient variance along "
                      "CCA training (256 episodes):", "",
                  "| updates | env steps | door reached with key | var state-baseline PG | var CCA-PG | ratio | "
                  "norm of mean gradient, state / CCA (noise floor) |", "|---|---|---|---|---|---|---|"]
        for r in results[name]:
            floor = (np.sqrt(r["var_state"] / 256), np.sqrt(r["var_cca"] / 256))
            lines.append(f"| {r['updates']} | {r['env_steps']:,} | {r['door_fraction']:.2f} | {r['var_state']:.1f} | "
                         f"{r['var_cca']:.1f} | {r['var_state'] / r['var_cca']:.1f}x | {r['mean_norm_state']:.2f} "
                         f"({floor[0]:.2f}) / {r['mean_norm_cca']:.2f} ({floor[1]:.2f}) |")
    if "learning" in results:
        lines += ["", f"Learning ({results.get('learning_steps')} env steps, 3 seeds; greedy return over 1,000 episodes "
                      "per seed; last logged training values, mean over seeds):", "",
                  "| agent / env | final greedy return per seed | last return (training) | last-step reward (training) |",
                  "|---|---|---|---|"]
        for k, v in results["learning"].items():
            per = ", ".join(f"{x:.2f}" for x in v["final_return_per_seed"])
            lines.append(f"| {k} | {per} | {v.get('last_logged_episode_return', float('nan')):.2f} | "
                         f"{v.get('last_logged_terminal_reward', float('nan')):.2f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small versions (minutes)")
    p.add_argument("--runs", default="runs/counterfactual", help="folder of the training runs")
    p.add_argument("--curves-only", action="store_true", help="only (re)plot the learning curves; keep results.json's tables")
    p.add_argument("--out", type=Path, default=FIGURES, help="folder for counterfactual_curves.png and results.json")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    steps = {"bandit-feedback": 100_000, "key-to-door": 200_000} if args.quick else \
        {"bandit-feedback": 300_000, "key-to-door": 1_000_000}
    if args.curves_only:
        results = json.loads(results_path.read_text())
        results["learning"] = plot_curves(train_runs(Path(args.runs), steps, seeds=3), args.out / "counterfactual_curves.png")
        results_path.write_text(json.dumps(results, indent=1))
        print(markdown(results))
        return
    results = {}
    print("bandit: oracle statistic", flush=True)
    results["bandit_oracle"] = bandit_oracle()
    print("bandit: learned statistic", flush=True)
    results["controlled_leak"] = study.controlled_leak_study((0.0, 0.01, 0.03, 0.1, 0.3))
    results["bandit_learned"] = bandit_learned(args.quick)
    print("key-to-door: gradient variance", flush=True)
    results["key_to_door_variance"] = key_to_door_variance((0, 50, 200) if args.quick else (0, 200, 700, 1400))
    results["key_to_door_variance_apples"] = key_to_door_variance(
        (0, 50, 200) if args.quick else (0, 200, 700), hindsight="apples", hindsight_inputs="features")
    print("learning curves", flush=True)
    runs = train_runs(Path(args.runs), steps, seeds=3)
    results["learning"] = plot_curves(runs, args.out / "counterfactual_curves.png")
    results["learning_steps"] = steps
    results_path.write_text(json.dumps(results, indent=1))
    print(markdown(results))


if __name__ == "__main__":
    main()
