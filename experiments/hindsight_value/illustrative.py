"""The paper's illustrative policy-evaluation task (Guez et al. 2020, Sec. 4.1): HiMo vs model-free
vs model-based value prediction on a one-step Markov reward process.

The task (exact definition used here; ``D = 32``, ``D1 = 28`` distractor and ``D2 = 4`` informative dims):
  x = [x1, x2] ~ N(0, I_D)                         (the present observation, x1 in R^28, x2 in R^4)
  x' = [x1', x2'],  x1' = step(x1 W1 + b1)        (distractor part of the next observation: predictable
                                                    but irrelevant; W1 [28, 28] ~ N(0, 1/28), b1 ~ N(0, 1);
                                                    ``--distractor noise``: x1' ~ N(0, I_28) instead)
                    x2' = step(x2 W + b)           (informative part; W [4, 4], b [4] ~ N(0, 1), fixed
                                                    per seed; step(u) = 1[u > 0] elementwise)
  r = sum(x1) * sum(x2') / sqrt(D)                 (the one reward; the episode ends after it)
The value ``v(x) = E[r | x]`` equals ``r``: it is a deterministic function of ``x``, but one that is
hard to fit directly (a product with a discontinuous function of a projection), while given the
future (``sum(x2')``, one number) it is easy: hindsight helps.

Methods (each MLP two hidden layers of 16 ReLU units; Adam 4e-3, batch 64, 8000 iterations, 10 seeds,
as in the paper's example):
- HiMo: ``phi(tau)`` in R^3 over the future trajectory, here the one step ``x'`` (the plugin's backward
  GRU over a window of one), ``v+(x, phi)``, ``phi_hat = g(x)``, ``v_m(x, stop_grad(phi_hat))``, trained
  by ``L_vm + L_v+ + L_model`` (the three named losses of ``losses.py``);
- HiMo (frame phi): the same with ``phi(x')`` an MLP (``phi_input="frame"``, the plugin's ablation);
- model-free, capacity-matched: HiMo's own networks with the hindsight losses off
  (``model_free_control``): ``v_m(x, g(x))`` trained by ``L_vm`` end to end through ``g``;
- model-free, small: a stand-alone ``v(x)`` (one MLP) regressed on ``r`` (the earlier control);
- model-based: a model ``m(x) ~ x'`` (all 32 dims, squared error) and ``v(x, stop_grad(m(x)))`` on ``r``.
The value-prediction loss reported is ``E[(v(x) - r)^2]`` of the value each method would use
(model-free ``v``, model-based ``v(x, m(x))``, HiMo ``v_m``) on a held-out batch of 4096 samples.

Run the full experiment (one jitted, seed-vmapped program), print the table and write the PNG:
``python -m experiments.hindsight_value.illustrative`` (``--seeds``, ``--iterations`` to shrink it).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import BaseModel, Field

from rlk.core.losses import StateInputs
from rlk.nn.torsos import MLP
from rlk.core import stats
from rlk.plugins.hindsight_value.himo import FutureWindow, HiMoConfig, HiMoHeads, model_value
from rlk.plugins.hindsight_value.losses import make_himo

METHODS = ("himo", "himo_frame", "model_free_matched", "model_free_small", "model_based")
LABELS = {"himo": "HiMo", "himo_frame": "HiMo, frame phi (ablation)", "model_free_matched": "model-free, capacity-matched",
          "model_free_small": "model-free, small stand-alone net", "model_based": "model-based"}


class IllustrativeConfig(BaseModel):
    """Defaults: the paper's illustrative example (Guez et al. 2020, Sec. 4.1 and its appendix)."""

    distractor_dims: int = Field(28, gt=0)
    informative_dims: int = Field(4, gt=0)
    distractor: Literal["step", "noise"] = Field(
        "step", description="x1' = step(x1 W1 + b1) (predictable, irrelevant), or noise N(0, I)")
    hidden: tuple[int, ...] = Field((16, 16), description="hidden sizes of every MLP (paper: 16 units)")
    phi_size: int = Field(3, gt=0, description="hindsight feature size (paper: 3)")
    learning_rate: float = Field(4e-3, gt=0, description="Adam (paper: 4e-3)")
    batch_size: int = Field(64, gt=0, description="paper: 64")
    iterations: int = Field(8000, gt=0, description="paper: 8000")
    eval_every: int = Field(100, gt=0)
    eval_size: int = Field(4096, gt=0)

    @property
    def dims(self) -> int:
        return self.distractor_dims + self.informative_dims


class Task(NamedTuple):
    w: jax.Array  # [D2, D2]
    b: jax.Array  # [D2]
    w1: jax.Array  # [D1, D1]
    b1: jax.Array  # [D1]


def make_task(key: jax.Array, c: IllustrativeConfig) -> Task:
    kw, kb, kw1, kb1 = jax.random.split(key, 4)
    d1, d2 = c.distractor_dims, c.informative_dims
    return Task(jax.random.normal(kw, (d2, d2)), jax.random.normal(kb, (d2,)),
                jax.random.normal(kw1, (d1, d1)) / math.sqrt(d1), jax.random.normal(kb1, (d1,)))


def sample(task: Task, key: jax.Array, n: int, c: IllustrativeConfig) -> dict:
    """``n`` transitions: ``x [n, D]``, ``x_next [n, D]``, ``reward [n]`` (definition in the module doc)."""
    kx, kn = jax.random.split(key)
    x = jax.random.normal(kx, (n, c.dims))
    x1, x2 = x[:, : c.distractor_dims], x[:, c.distractor_dims:]
    informative = (x2 @ task.w + task.b > 0).astype(jnp.float32)
    if c.distractor == "noise":
        distractor = jax.random.normal(kn, (n, c.distractor_dims))
    else:
        distractor = (x1 @ task.w1 + task.b1 > 0).astype(jnp.float32)
    reward = jnp.sum(x1, -1) * jnp.sum(informative, -1) / math.sqrt(c.dims)
    return {"x": x, "x_next": jnp.concatenate([distractor, informative], -1), "reward": reward}


class ModelFree(eqx.Module):
    v: MLP


class ModelBased(eqx.Module):
    model: MLP
    v: MLP


def init_params(key: jax.Array, method: str, c: IllustrativeConfig):
    D, h = c.dims, tuple(c.hidden)
    k1, k2 = jax.random.split(key)
    relu = jax.nn.relu
    if method in ("himo", "model_free_matched"):
        return HiMoHeads(key, D, c.phi_size, h, activation=relu)
    if method == "himo_frame":
        return HiMoHeads(key, D, c.phi_size, h, activation=relu, phi_input="frame")
    if method == "model_free_small":
        return ModelFree(MLP(k1, D, h, 1, activation=relu))
    return ModelBased(MLP(k1, D, h, D, activation=relu), MLP(k2, 2 * D, h, 1, activation=relu))


# HiMo's loss with v_m trained by its own L_vm: L_v+ + L_model + L_vm, all weights 1 (Sec. 4.1); the heads
# are made here (init_params), so only the loss's weights, as_critic and model_free_control matter.
_HIMO_LOSS = make_himo(HiMoConfig(as_critic=False))
_CONTROL_LOSS = make_himo(HiMoConfig(as_critic=False, model_free_control=True))


def loss_fn(params, batch: dict, method: str) -> tuple[jax.Array, jax.Array]:
    """(training loss, value-prediction squared error ``mean((v - r)^2)`` of the value used)."""
    x, r = batch["x"], batch["reward"]
    if method in ("himo", "himo_frame"):  # the one-step episode's future trajectory is x'
        x_next = batch["x_next"]
        future = x_next if method == "himo_frame" else FutureWindow(x_next[:, None], jnp.ones((x.shape[0], 1), bool))
        loss, _ = _HIMO_LOSS.apply(params, StateInputs(x, r), future)
        return loss, jnp.mean(jnp.square(model_value(params, x) - r))
    if method == "model_free_matched":
        loss, _ = _CONTROL_LOSS.apply(params, StateInputs(x, r), None)
        return loss, jnp.mean(jnp.square(model_value(params, x, through_model=True) - r))
    if method == "model_free_small":
        v = params.v.batch(x)[:, 0]
        err = jnp.mean(jnp.square(v - r))
        return 0.5 * err, err
    x_hat = params.model.batch(x)
    v = params.v.batch(jnp.concatenate([x, jax.lax.stop_gradient(x_hat)], -1))[:, 0]
    err = jnp.mean(jnp.square(v - r))
    model = jnp.mean(jnp.sum(jnp.square(x_hat - batch["x_next"]), -1))
    return 0.5 * err + model, err


def train_one(key: jax.Array, method: str, c: IllustrativeConfig) -> jax.Array:
    """One seed of one method: the held-out value-prediction loss every ``eval_every`` iterations
    ``[iterations // eval_every + 1]`` (the first entry before any update)."""
    k_task, k_init, k_eval, k_train = jax.random.split(key, 4)
    task = make_task(k_task, c)  # the same task for all methods of a seed
    params = init_params(k_init, method, c)
    test = sample(task, k_eval, c.eval_size, c)
    opt = optax.adam(c.learning_rate)
    opt_state = opt.init(eqx.filter(params, eqx.is_array))

    def evaluate(p):
        return loss_fn(p, test, method)[1]

    def step(carry, k):
        p, s = carry
        grads = jax.grad(lambda q: loss_fn(q, sample(task, k, c.batch_size, c), method)[0])(p)
        updates, s = opt.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), None

    def block(carry, k):
        carry, _ = jax.lax.scan(step, carry, jax.random.split(k, c.eval_every))
        return carry, evaluate(carry[0])

    n_blocks = c.iterations // c.eval_every
    _, curve = jax.lax.scan(block, (params, opt_state), jax.random.split(k_train, n_blocks))
    return jnp.concatenate([evaluate(params)[None], curve])


def run(seeds: int, c: IllustrativeConfig, methods: tuple[str, ...] = METHODS) -> dict[str, np.ndarray]:
    """``methods`` over ``seeds`` seeds in one jitted program: ``{method: curves [seeds, n_evals]}``."""
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds))

    @jax.jit
    def all_methods(keys):
        return {m: jax.vmap(lambda k, m=m: train_one(k, m, c))(keys) for m in methods}

    return {m: np.asarray(v) for m, v in all_methods(keys).items()}


def table(curves: dict[str, np.ndarray], c: IllustrativeConfig, reps: int = 2000) -> str:
    """Markdown table of the final held-out value loss: mean and IQM with 95% bootstrap CIs over seeds,
    and each method's loss over HiMo's on the same seed (paired; > 1: HiMo better) with the seeds HiMo wins."""
    seeds = curves["himo"].shape[0]
    himo_final = curves["himo"][:, -1]
    lines = [f"| method ({seeds} seeds, {c.iterations} it., {c.distractor} distractor) | final value loss, mean [95% CI] | "
             "IQM [95% CI] | loss / HiMo's, same seed: mean [95% CI] | seeds HiMo lower |", "|---|---|---|---|---|"]
    for m in curves:
        final = curves[m][:, -1]
        (iqm, mean), ci = stats.iqm_and_mean(final, reps, seed=0)
        (_, r_mean), r_ci = stats.iqm_and_mean(final / himo_final, reps, seed=0)
        paired = "-" if m == "himo" else f"{r_mean:.2f} [{r_ci[0, 1]:.2f}, {r_ci[1, 1]:.2f}]"
        wins = "-" if m == "himo" else f"{int(np.sum(himo_final < final))}/{seeds}"
        lines.append(f"| {LABELS[m]} | {mean:.4f} [{ci[0, 1]:.4f}, {ci[1, 1]:.4f}] | {iqm:.4f} [{ci[0, 0]:.4f}, "
                     f"{ci[1, 0]:.4f}] | {paired} | {wins} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=8000)
    parser.add_argument("--distractor", default="step", choices=["step", "noise"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "figures" / "hindsight_value_illustrative"))
    args = parser.parse_args(argv)
    c = IllustrativeConfig(iterations=args.iterations, distractor=args.distractor)
    if "himo" not in args.methods:
        parser.error("--methods must include himo (the paired ratios are against it)")
    curves = run(args.seeds, c, tuple(args.methods))
    steps = np.arange(curves["himo"].shape[1]) * c.eval_every
    print(table(curves, c))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = dict(zip(METHODS, ("C3", "C1", "C0", "C9", "C2")))
    for m in curves:
        colour = colours[m]
        centre, low, high = stats.band(curves[m], "iqm", reps=2000, seed=0)
        ax.plot(steps, centre, color=colour, label=LABELS[m])
        ax.fill_between(steps, low, high, color=colour, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("value-prediction loss (held-out MSE)")
    ax.set_title(f"HiMo illustrative task ({c.distractor} distractor), IQM and 95% CI over {args.seeds} seeds", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print(f"wrote {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
