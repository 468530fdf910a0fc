"""Search simulations per second: MuZero's acting step (``agent.act``) beside bare ``mctx.muzero_policy``
with the same network, in the same run (issue 6: the acting step within 1.3x of bare search).

Both are jitted and run on the same batch of Catch observations with the same (untrained) MuZero
network; the bare search's recurrent function is the plain model step (dynamics, reward, prediction),
and the agent's act adds what acting needs (Dirichlet noise, temperature sampling, the search policy
as an extra). Usage::

    python benchmarks/muzero_search.py [--batch 64] [--simulations 8 32] [--repeats 20]
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import mctx

from rlk.core.losses import agent_losses
from rlk.nn.value_transforms import Support, logits_to_scalar
from rlk.plugins.envs.catch import Catch
from rlk.plugins.muzero.agent import MuZeroConfig, make_muzero
from rlk.core.types import TimeStep


def timed(fn, *args, repeats: int) -> float:
    """Seconds per call after one compiling call (the best of ``repeats``, blocked on the result)."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best


def measure(batch: int, simulations: int, repeats: int) -> dict:
    env = Catch()
    config = MuZeroConfig(num_simulations=simulations, num_envs=batch)
    agent = make_muzero(config, env.spec, None, agent_losses("muzero", config.loss_weights))
    net = agent.init(jax.random.PRNGKey(0)).params
    _, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), batch))
    ts = TimeStep(ts.observation, ts.reward, ts.discount, ts.last)
    support = Support(-config.support_max, config.support_max, config.num_atoms)

    def recurrent_fn(params, rng, action, embedding):
        nxt, r_logits = jax.vmap(params.step)(embedding, action)
        p_logits, v_logits = jax.vmap(params.predict)(nxt)
        value = logits_to_scalar(v_logits, support)
        return mctx.RecurrentFnOutput(reward=logits_to_scalar(r_logits, support),
                                      discount=jnp.full_like(value, config.gamma), prior_logits=p_logits, value=value), nxt

    @jax.jit
    def bare(params, observation, key):
        latents = jax.vmap(params.initial)(observation)
        prior, v_logits = jax.vmap(params.predict)(latents)
        root = mctx.RootFnOutput(prior_logits=prior, value=logits_to_scalar(v_logits, support), embedding=latents)
        return mctx.muzero_policy(params, key, root, recurrent_fn, simulations).action

    act = jax.jit(lambda p, t, k: agent.act(p, (), t, k)[0])
    key = jax.random.PRNGKey(2)
    t_act = timed(act, net, ts, key, repeats=repeats)
    t_bare = timed(bare, net, ts.observation, key, repeats=repeats)
    sims = batch * simulations
    return {"batch": batch, "simulations": simulations, "act_sims_per_s": sims / t_act, "bare_sims_per_s": sims / t_bare,
            "ratio": t_act / t_bare}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--simulations", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = jax.devices()[0]
    print(f"# MuZero search on {device.platform} ({device.device_kind}, {platform.processor() or platform.machine()}), "
          f"jax {jax.__version__}, mctx {mctx.__version__}")
    print("| batch | simulations | agent act (sims/s) | bare muzero_policy (sims/s) | act time / bare time |")
    print("|---|---|---|---|---|")
    for n in args.simulations:
        r = measure(args.batch, n, args.repeats)
        print(f"| {r['batch']} | {r['simulations']} | {r['act_sims_per_s']:,.0f} | {r['bare_sims_per_s']:,.0f} | {r['ratio']:.2f}x |")


if __name__ == "__main__":
    main()
