"""How far the one-step model ``m`` of a saved bandit run is from the true mean of the feedback.

``hindsight_inputs='*innovations'`` feeds the GRU ``f - m(x, a)``; with the exact mean
``E[f | x, a] = W [x; a; 0]`` that is ``W_eps eps``, free of the action (``env.hindsight=mixed_noise``
gives it directly). For every seed of the run: the mean error norm ``||m_f(x, a) - W [x; a; 0]||`` over
all (context, action) pairs, its action-dependent part (the error minus its mean over the actions of a
context), the error weighted by the saved policy ``pi(a|x)`` and by ``1 - pi`` (the rarely taken
actions), and the greedy policy's exact return ``mean_x mu[x, argmax pi]``. Compare with
``E||W_eps eps|| ~ ||W_eps||_F``, the innovation's own size.

Usage: ``python -m experiments.counterfactual.model_error RUN_DIR [RUN_DIR ...]`` (README, round 6). A diagnostic
script, not part of the agent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.run import restored_run
from rlk.plugins.counterfactual.envs import BanditFeedbackConfig, bandit_tables


def model_error(run_dir: Path) -> dict:
    config, _, state = restored_run(run_dir)
    env = BanditFeedbackConfig(**config.env.model_dump(exclude={"name"}))
    mu, w = bandit_tables(env)
    C, A, F = env.num_contexts, env.num_actions, env.feedback_dim
    x, a = np.repeat(np.eye(C), A, 0), np.tile(np.eye(A), (C, 1))
    obs = np.concatenate([x, np.zeros((C * A, F))], 1)
    true = (w[:, :C + A] @ np.concatenate([x, a], 1).T).T  # E[f | x, a]
    rows = []
    for seed in range(config.num_seeds):
        net = jax.tree.map(lambda leaf: leaf[seed], state.learner.params)
        pred = np.asarray(net.model.batch(jnp.asarray(np.concatenate([obs, a], 1), jnp.float32)))[:, C:-1]
        err = (pred - true).reshape(C, A, F)
        norm = np.linalg.norm(err, axis=-1)
        action_part = np.linalg.norm(err - err.mean(1, keepdims=True), axis=-1)
        pi = np.asarray(jax.nn.softmax(net.policy.batch(jnp.asarray(np.concatenate([np.eye(C), np.zeros((C, F))], 1),
                                                                     jnp.float32))))
        rows.append({"error": float(norm.mean()), "action_part": float(action_part.mean()),
                     "error_pi": float((norm * pi).sum(1).mean()),
                     "error_rare": float((norm * (1 - pi)).sum(1).mean() / (A - 1)),
                     "greedy_return": float(mu[np.arange(C), pi.argmax(1)].mean())})
    return {"seeds": rows, "innovation_size": float(np.linalg.norm(w[:, C + A:])), "best_return": float(mu.max(1).mean())}


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        out = model_error(Path(arg))
        cols = {k: [round(r[k], 3) for r in out["seeds"]] for k in out["seeds"][0]}
        print(f"{arg}: ||W_eps||_F {out['innovation_size']:.2f}, best return {out['best_return']:.3f}")
        for k, v in cols.items():
            print(f"  {k:14s} mean {np.mean(v):.3f}  per seed {v}")
