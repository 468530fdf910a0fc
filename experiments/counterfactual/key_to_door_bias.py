"""Bias of CCA's gradient estimators on Key-to-Door against the exact policy gradient (issue 32).

``python -m experiments.counterfactual.key_to_door_bias [--train-steps 400] [--eval-episodes 20000] [--seeds 0 1 2]``

**The exact gradient.** Key-to-Door has a finite state: the agent's cell, the items on the cells (the key,
then the apples) and whether it holds the key; the time ``t`` is known. So ``J(theta) = E[sum of rewards]``
of any policy on its observations is an exact backward recursion over all ``R^2 * 2^(R^2) * 2`` states
(``exact_return``; 9,216 states on the 3x3 room), and ``jax.grad`` of it is the exact gradient. The apples'
noise ``apple_std * z`` has mean zero and is independent of everything, so it changes no expectation: the
exact gradient is the same for every ``apple_std`` (only the estimators' variance depends on it).

**The estimators** (per episode, summed over its steps, with respect to the parameters of the policy's output
layer ``W, b``; ``agent.forward`` builds their inputs):

- ``state``: ``grad log pi(A_t|X_t) (G_t - V(X_t))``, the ``pg_baseline`` estimator with its learned ``V``;
- ``cca``: ``grad log pi(A_t|X_t) (G_t - Q(X_t, Phi_t, A_t)) + sum_a grad pi(a|X_t) Q(X_t, Phi_t, a)`` (CCA-PG);
- ``cca_h``: the same with the all-action term weighted by the classifier ``h(a|X_t, Phi_t)``.

``bias_study`` trains the agent's own networks (``agent.make_cca``'s ``update``: the same losses, optimisers and
classifier steps) on episodes of a *fixed* policy (no policy loss, so the policy does not move), then measures
each estimator on fresh episodes: relative bias ``||E g - grad J|| / ||grad J||``, the largest component's
z-score ``|E g - grad J| / s.e.``, the total variance, and the relative bias an unbiased estimator would show
from sampling noise alone at that sample size (``floor``: ``sqrt(sum s.e.^2) / ||grad J||``).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from experiments.counterfactual.study import Moments
from rlk.core.losses import PolicyInputs, agent_losses
from rlk.core.types import Trajectory
from rlk.nn.torsos import MLP
from rlk.plugins.counterfactual.agent import forward, make_cca
from rlk.plugins.counterfactual.config import CCAConfig, CCAInputs, KeyToDoorConfig
from rlk.plugins.counterfactual.envs import MOVES, KeyToDoor
from rlk.plugins.counterfactual.losses import baseline_surrogate, cca_surrogate

OUT = Path(__file__).resolve().parent / "figures" / "counterfactual_k2d_bias.json"


# -- the exact expected return -----------------------------------------------------------------------------
def _tables(c: KeyToDoorConfig) -> dict[str, np.ndarray]:
    """Every state ``s = (pos * 2^n + items) * 2 + has_key`` of an ``n = R^2``-cell room: its cell, items and key,
    and for each action the next state and whether the agent stepped on an item (phases 1 and 2)."""
    n, r = c.room_size ** 2, c.room_size
    s = np.arange(n * 2 ** n * 2)
    pos, items, key = s // (2 * 2 ** n), (s // 2) % 2 ** n, s % 2
    bits = (items[:, None] >> np.arange(n)[None]) & 1
    nxt, on = [], []
    for a in range(4):
        row = np.clip(pos // r + MOVES[a, 0], 0, r - 1)
        col = np.clip(pos % r + MOVES[a, 1], 0, r - 1)
        p = row * r + col
        item = (items >> p) & 1
        nxt.append((p * 2 ** n + (items & ~(1 << p))) * 2 + key)
        on.append(item)
    return {"pos": pos, "bits": bits.astype(np.float32), "key": key, "next": np.stack(nxt), "on": np.stack(on),
            "n": n}


def exact_return(policy: MLP, c: KeyToDoorConfig) -> jax.Array:
    """``J = E[sum_t r_t]`` of the policy ``softmax(policy(X_t))`` on Key-to-Door, exactly (module docstring).

    ``V_t(s) = sum_a pi(a|X_t(s)) (r_t(s, a) + V_{t+1}(s'))``, backwards from ``V_L = 0``; where the episode enters
    the apple room (``t + 1 = key_steps``) ``V_{t+1}`` is averaged over the new cell and apples; where it enters the
    door room the items are cleared. ``J`` averages ``V_0`` over the start cell and the key's cell.
    """
    tb = _tables(c)
    n, length = tb["n"], c.key_steps + c.apple_steps + 1
    pos, key, nxt = tb["pos"], tb["key"], tb["next"]
    base = np.concatenate([np.eye(n, dtype=np.float32)[pos], tb["bits"]], -1)
    key_f = key.astype(np.float32)
    # the apple room: a uniform cell, an apple on every other cell with probability apple_prob
    at_pos = np.arange(n)[None] == pos[:, None]
    p_room = (np.prod(np.where(at_pos, 1.0, np.where(tb["bits"] > 0, c.apple_prob, 1 - c.apple_prob)), -1)
              * (tb["bits"][np.arange(len(pos)), pos] == 0) / n)
    cleared = (pos * 2 ** n) * 2 + key  # the same cell and key, no items
    # next state after the move, with the key picked up in the key room
    nxt_key = (nxt // 2) * 2 + np.maximum(key[None], tb["on"])
    v = jnp.zeros(len(pos))
    for t in reversed(range(length)):
        phase = 0 if t < c.key_steps else (1 if t < c.key_steps + c.apple_steps else 2)
        obs = np.concatenate([base, np.tile(np.eye(3, dtype=np.float32)[phase], (len(pos), 1)), key_f[:, None],
                              np.full((len(pos), 1), t / length, np.float32)], -1)
        pi = jax.nn.softmax(policy.batch(jnp.asarray(obs)), -1)
        if phase == 2:
            q = jnp.broadcast_to((c.door_reward * key_f)[:, None], pi.shape)
        else:
            w = v
            if t + 1 == c.key_steps:  # a fresh apple room: V averaged over it, given the key
                by_key = jnp.stack([jnp.sum(jnp.where(key == k, p_room, 0.0) * v) for k in (0, 1)])
                w = by_key[key]
            elif t + 1 == c.key_steps + c.apple_steps:  # the door room is empty
                w = v[cleared]
            table = nxt_key if phase == 0 else nxt
            reward = 0.0 if phase == 0 else c.apple_reward * tb["on"].T
            q = reward + w[table.T]
        v = jnp.sum(pi * q, -1)
    # start: a uniform cell, the key on a uniform other cell, no key held
    start = (np.arange(n)[:, None] * 2 ** n + (1 << np.arange(n))[None]) * 2
    p0 = (np.arange(n)[None] != np.arange(n)[:, None]) / (n * (n - 1))
    return jnp.sum(p0 * v[start])


# -- episodes of a fixed policy ------------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnums=(0, 3))
def rollout(env: KeyToDoor, policy: MLP, key: jax.Array, n: int) -> Trajectory:
    """``n`` whole episodes of ``softmax(policy(X_t))``: a ``Trajectory`` ``[L + 1, n]`` (no auto-reset)."""
    reset_key, key = jax.random.split(key)
    state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, n))

    def step(carry, k):
        state, ts = carry
        act_key, step_key = jax.random.split(k)
        a = jax.random.categorical(act_key, policy.batch(ts.observation))
        state, ts_next = jax.vmap(env.step)(state, a, jax.random.split(step_key, n))
        return (state, ts_next), (ts_next, a)

    _, (tss, actions) = jax.lax.scan(step, (state, ts), jax.random.split(key, env.length))
    timesteps = jax.tree.map(lambda first, rest: jnp.concatenate([first[None], rest]), ts, tss)
    return Trajectory(timesteps, actions, {})


def output_layer(policy: MLP) -> tuple[jax.Array, jax.Array]:
    """The parameters the gradients are taken with respect to: the policy's output layer ``(W, b)``."""
    return policy.layers[-1].weight, policy.layers[-1].bias


def _with_output(policy: MLP, wb) -> MLP:
    import equinox as eqx
    return eqx.tree_at(lambda p: (p.layers[-1].weight, p.layers[-1].bias), policy, wb)


def exact_gradient(policy: MLP, c: KeyToDoorConfig) -> np.ndarray:
    """``grad J`` with respect to ``output_layer(policy)``, flattened as ``episode_gradients``."""
    g = jax.jit(jax.grad(lambda wb: exact_return(_with_output(policy, wb), c)))(output_layer(policy))
    return np.asarray(ravel_pytree(g)[0], np.float64)


def episode_gradients(policy: MLP, obs: jax.Array, surrogate) -> jax.Array:
    """``[B, P]``: per episode, ``grad sum_t surrogate(logits)[:, t]`` with respect to ``output_layer(policy)``
    (flattened as ``ravel_pytree((W, b))``); ``obs [B, T, D]``, ``surrogate(logits [B, T, A]) -> [B, T]``.

    Each logit enters one term only, so one backward pass gives ``d/dlogits [B, T, A]``; the output layer's
    per-episode gradient is then ``sum_t h_t (d/dlogits_t)^T`` and ``sum_t d/dlogits_t`` (``h`` its input)."""
    x = obs.reshape(-1, obs.shape[-1]).astype(jnp.float32)
    for layer in policy.layers[:-1]:
        x = policy.activation(layer(x))
    h = x.reshape(obs.shape[:2] + (-1,))
    logits = policy.layers[-1](h)
    d = jax.grad(lambda lg: jnp.sum(surrogate(lg)))(logits)
    return jnp.concatenate([jnp.einsum("bth,bta->bha", h, d).reshape(d.shape[0], -1), jnp.sum(d, 1)], -1)


class Accumulator:
    """Running sums of per-episode gradients ``[B, P]`` -> ``Moments`` (mean, s.e., variance)."""

    def __init__(self):
        self.n, self.s1, self.s2 = 0, 0.0, 0.0

    def add(self, g) -> None:
        g = np.asarray(g, np.float64)
        self.n, self.s1, self.s2 = self.n + len(g), self.s1 + g.sum(0), self.s2 + np.square(g).sum(0)

    def moments(self) -> Moments:
        mean = self.s1 / self.n
        var = (self.s2 - self.n * mean ** 2) / (self.n - 1)
        return Moments(mean, np.sqrt(var / self.n), var)


def bias_row(m: Moments, exact: np.ndarray) -> dict:
    """Relative bias, largest z, total variance, and the relative bias of sampling noise alone (``floor``)."""
    norm = np.linalg.norm(exact)
    return {"relative_bias": m.relative_bias(exact), "z": m.max_z(exact), "variance": m.total_variance,
            "floor": float(np.sqrt(np.sum(np.square(m.stderr))) / norm)}


def reinforce_moments(env: KeyToDoor, policy: MLP, key: jax.Array, episodes: int, chunk: int = 4096) -> Moments:
    """The score-function estimator ``grad log pi(A_t|X_t) G_t`` (no baseline) on ``episodes`` episodes."""
    acc = Accumulator()
    for i in range(0, episodes, chunk):
        traj = rollout(env, policy, jax.random.fold_in(key, i), min(chunk, episodes - i))
        acc.add(_reinforce(policy, traj))
    return acc.moments()


@jax.jit
def _reinforce(policy: MLP, traj: Trajectory) -> jax.Array:
    ts = traj.timestep
    g = jnp.cumsum(ts.reward[1:][::-1], 0)[::-1].T  # [B, T] rewards to go
    obs, a = jnp.swapaxes(ts.observation[:-1], 0, 1), traj.action.T
    return episode_gradients(policy, obs, lambda logits: baseline_surrogate(logits, a, g, jnp.zeros_like(g)))


# -- the learned statistic at a fixed policy -------------------------------------------------------------------
def bias_study(hindsight_inputs: str = "reward_innovations", independence_weight: float = 1.0,
               train_steps: int = 400, eval_episodes: int = 20_000, seed: int = 0, batch: int = 64,
               env_config: KeyToDoorConfig | None = None, policy_scale: float = 100.0, env_hindsight: str | None = None,
               chunk: int = 2048) -> dict:
    """Trains the ``cca`` agent's statistic, critics, classifier (and one-step model) on ``train_steps`` unrolls of
    ``batch`` episodes of a fixed policy, then measures ``state``, ``cca`` and ``cca_h`` on ``eval_episodes`` fresh
    episodes against the exact gradient. The fixed policy is the agent's initial policy network with its output
    layer scaled by ``policy_scale`` (the initial one is near-uniform). Returns ``{estimator: bias_row}`` and
    ``kl_train`` (the classifier's ``KL(pi || h)``), ``j`` (the exact expected return), ``key_rate``."""
    c = (env_config or KeyToDoorConfig()).model_copy(update={"hindsight": env_hindsight or "observation"})
    env = KeyToDoor(c)
    weights = {"cca_fc_critic": 0.5, "cca_hindsight_classifier": 1.0, "cca_independence": float(independence_weight),
               "value": 0.5, "cca_hindsight_model": 1.0}
    config = CCAConfig(num_envs=batch, hindsight_inputs=hindsight_inputs, loss_weights=weights)
    agent = make_cca(config, env.spec, None, agent_losses("cca", weights))
    init_key, train_key, eval_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    state = agent.init(init_key)
    policy = state.params.policy
    policy = _with_output(policy, tuple(policy_scale * x for x in output_layer(policy)))
    import equinox as eqx
    state = state._replace(params=eqx.tree_at(lambda p: p.policy, state.params, policy))

    @jax.jit
    def train(state, key):
        def step(state, k):
            roll_key, update_key = jax.random.split(k)
            traj = rollout(env, state.params.policy, roll_key, batch)
            return agent.update(state, traj, update_key)

        return jax.lax.scan(step, state, jax.random.split(key, train_steps))

    t0 = time.time()
    state, metrics = train(state, train_key)
    params = state.params
    assert np.allclose(ravel_pytree(params.policy)[0], ravel_pytree(policy)[0]), "the policy moved"
    train_s = time.time() - t0

    @jax.jit
    def estimates(traj: Trajectory):
        inputs = forward(params, traj, True, 1.0, hindsight_inputs, params.classifier)
        T, B = traj.action.shape
        to_bt = lambda x: jnp.swapaxes(x.reshape((T, B) + x.shape[1:]), 0, 1)
        cca, adv = inputs[CCAInputs], to_bt(inputs[PolicyInputs].advantage)
        a, g, q, h = to_bt(cca.action), to_bt(cca.returns), to_bt(cca.fc_q), to_bt(cca.hindsight_probs)
        obs = jnp.swapaxes(traj.timestep.observation[:-1], 0, 1)
        grads = {
            "state": episode_gradients(params.policy, obs, lambda lg: baseline_surrogate(lg, a, adv, jnp.zeros_like(adv))),
            "cca": episode_gradients(params.policy, obs, lambda lg: cca_surrogate(lg, a, g, q)),
            "cca_h": episode_gradients(params.policy, obs, lambda lg: cca_surrogate(lg, a, g, q, h)),
        }
        pi_logits, h_logits = cca.logits, jnp.log(cca.hindsight_probs + 1e-12)
        kl = jnp.mean(jnp.sum(jax.nn.softmax(pi_logits) * (jax.nn.log_softmax(pi_logits) - h_logits), -1))
        return grads, kl, jnp.mean(traj.timestep.reward[-1] > 0)

    accs = {k: Accumulator() for k in ("state", "cca", "cca_h")}
    kls, keys_held = [], []
    for i in range(0, eval_episodes, chunk):
        grads, kl, key_rate = estimates(rollout(env, params.policy, jax.random.fold_in(eval_key, i),
                                                min(chunk, eval_episodes - i)))
        for k, g in grads.items():
            accs[k].add(g)
        kls.append(float(kl))
        keys_held.append(float(key_rate))
    exact = exact_gradient(params.policy, c)
    out = {k: bias_row(acc.moments(), exact) for k, acc in accs.items()}
    out.update({"kl_train": float(np.mean(kls)), "key_rate": float(np.mean(keys_held)),
                "j": float(exact_return(params.policy, c)), "grad_norm": float(np.linalg.norm(exact)),
                "hindsight_inputs": hindsight_inputs, "independence_weight": float(independence_weight),
                "env_hindsight": c.hindsight, "apple_std": c.apple_std, "train_steps": train_steps,
                "eval_episodes": eval_episodes, "seed": seed, "train_s": round(train_s, 1)})
    return out


SETTINGS = {  # name -> (hindsight_inputs, lambda, env hindsight)
    "cca_all": ("all", 1.0, None),
    "cca_all_l0": ("all", 0.0, None),
    "cca_ri": ("reward_innovations", 1.0, None),
    "cca_ri_l0": ("reward_innovations", 0.0, None),
    "oracle_apples": ("features", 1.0, "apples"),
}


def markdown(rows: list[dict]) -> str:
    """The bias table: per setting (and seed) each estimator's relative bias (z) [floor], beyond noise, variance."""
    beyond = lambda r: float(np.sqrt(max(r["relative_bias"] ** 2 - r["floor"] ** 2, 0.0)))
    cell = lambda r: f"{r['relative_bias']:.2f} ({r['z']:.1f}) [{r['floor']:.2f}]"
    lines = ["| statistic | lambda | seed | `KL(pi \\|\\| h)` | CCA-PG bias (z) [floor] | beyond noise | CCA-PG variance | "
             "hindsight-weighted bias (z) | state baseline bias (z) [floor] | state variance |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        stat = r["hindsight_inputs"] + (f" (env.hindsight={r['env_hindsight']})" if r["env_hindsight"] != "observation" else "")
        lines.append(f"| {stat} | {r['independence_weight']:g} | {r['seed']} | {r['kl_train']:.3f} | {cell(r['cca'])} | "
                     f"{beyond(r['cca']):.2f} | {r['cca']['variance']:.3g} | {r['cca_h']['relative_bias']:.2f} "
                     f"({r['cca_h']['z']:.0f}) | {cell(r['state'])} | {r['state']['variance']:.3g} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--train-steps", type=int, default=400)
    p.add_argument("--eval-episodes", type=int, default=20_000)
    p.add_argument("--apple-std", type=float, default=20.0)
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--table", action="store_true", help="only print the table of the results in --out")
    args = p.parse_args(argv)
    if args.table:
        print(markdown(json.loads(Path(args.out).read_text())))
        return
    rows = []
    for name in args.settings:
        inputs, lam, env_h = SETTINGS[name]
        for seed in args.seeds:
            t = time.time()
            r = bias_study(inputs, lam, args.train_steps, args.eval_episodes, seed,
                           env_config=KeyToDoorConfig(apple_std=args.apple_std), env_hindsight=env_h)
            r["setting"] = name
            rows.append(r)
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()
                              if not isinstance(v, dict)}), {k: {kk: round(vv, 4) for kk, vv in r[k].items()}
                                                            for k in ("state", "cca", "cca_h")},
                  f"{time.time() - t:.0f}s", flush=True)
            Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
