"""PPO in one file, PureJaxRL style (Lu et al. 2022, "Discovered Policy Optimisation"; the
purejaxrl ``ppo.py``): the peer that ``rlk bench`` compares rlk's Anakin PPO with.

``make_train(config, env) -> train(key)``: the rollout, GAE, epochs and minibatches are nested
``lax.scan``s and the whole of training is one ``jit``. Several seeds: ``jax.vmap(train)(keys)``.

Same network and hyperparameters as rlk's PPO (``rlk.plugins.actor_critic.ppo.PPOConfig``
defaults): separate actor and critic MLPs, 64x64 tanh, orthogonal init (gain sqrt(2) hidden,
0.01 policy head, 1.0 value head, zero biases); 64 envs x 16 steps, 4 epochs x 4 minibatches,
Adam 2.5e-3 (eps 1e-5) after a global-norm clip of 0.5, gamma 0.99, GAE lambda 0.95, clip 0.2 for
the policy and the value, value weight 0.5, entropy weight 0.01, advantages normalised per
minibatch.

The environment is passed in: any object with pure ``reset(key) -> (state, ts)`` and
``step(state, action, key) -> (state, ts)``, where ``ts`` has ``observation``, ``reward``,
``last`` (the transition ended the episode; the observation is already the next episode's) and
``info["episode_return"]`` (of the episode that ended there). The benchmark passes an rlk
environment wrapped with ``rlk.core.wrappers.for_training`` so that both sides step the
very same environment code; nothing else of rlk is used here.

    python benchmarks/peer_ppo.py --env catch --steps 100000
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

CONFIG = {
    "NUM_ENVS": 64,
    "NUM_STEPS": 16,
    "NUM_UPDATES": 50,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "LR": 2.5e-3,
    "ANNEAL_LR": False,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "HIDDEN": (64, 64),
}


# -- network: two MLPs as plain pytrees ---------------------------------------------------------
def orthogonal(key, shape, gain):
    """``jax.nn.initializers.orthogonal(gain)`` by Gram-Schmidt instead of LAPACK's QR.

    Same distribution (the Q of the QR of a Gaussian matrix, signs fixed so that diag(R) > 0). Why not
    LAPACK: under ``vmap`` (several seeds) two batched ``geqrf`` calls running at once deadlock
    XLA:CPU's intra-op thread pool in jaxlib 0.10 on a 2-core machine, and this init runs inside
    ``train``, at every call.
    """
    rows, cols = shape
    n, k = max(rows, cols), min(rows, cols)
    a = jax.random.normal(key, (n, k), jnp.float32)

    def column(i, q):
        v = q[:, i]
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to float precision
            coeffs = jnp.where(jnp.arange(k) < i, q.T @ v, 0.0)
            v = v - q @ coeffs
        return q.at[:, i].set(v / jnp.linalg.norm(v))

    q = jax.lax.fori_loop(0, k, column, a)
    return gain * (q if rows >= cols else q.T)


def init_mlp(key, sizes, out_scale):
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, d_in, d_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        gain = out_scale if i == len(sizes) - 2 else math.sqrt(2.0)
        layers.append({"w": orthogonal(k, (d_in, d_out), gain), "b": jnp.zeros((d_out,), jnp.float32)})
    return layers


def mlp(layers, x):
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def init_network(key, obs_size, num_actions, hidden):
    k_actor, k_critic = jax.random.split(key)
    return {
        "actor": init_mlp(k_actor, [obs_size, *hidden, num_actions], 0.01),
        "critic": init_mlp(k_critic, [obs_size, *hidden, 1], 1.0),
    }


def network(params, obs):
    """``[N, ...obs]`` -> (logits ``[N, A]``, value ``[N]``)."""
    x = obs.reshape((obs.shape[0], -1)).astype(jnp.float32)
    return mlp(params["actor"], x), mlp(params["critic"], x)[:, 0]


class Transition(NamedTuple):
    done: jax.Array
    action: jax.Array
    value: jax.Array
    reward: jax.Array
    log_prob: jax.Array
    obs: jax.Array
    episode_return: jax.Array


# -- GAE and the loss ---------------------------------------------------------------------------
def gae_advantages(traj: Transition, last_val, config: dict):
    """GAE(lambda) advantages and value targets ``[T, B]``, the trace cut at every episode end."""

    def _gae(carry, t):
        gae, next_value = carry
        not_done = 1.0 - t.done.astype(jnp.float32)
        delta = t.reward + config["GAMMA"] * next_value * not_done - t.value
        gae = delta + config["GAMMA"] * config["GAE_LAMBDA"] * not_done * gae
        return (gae, t.value), gae

    _, advantages = jax.lax.scan(_gae, (jnp.zeros_like(last_val), last_val), traj, reverse=True)
    return advantages, advantages + traj.value


def ppo_loss(params, traj: Transition, gae, targets, config: dict, net=None):
    """Clipped surrogate + 0.5 clipped value loss - 0.01 entropy on one minibatch; (total, aux)."""
    logits, value = (net or network)(params, traj.obs)
    log_p = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_p, traj.action[:, None], -1)[:, 0]
    v_clipped = traj.value + jnp.clip(value - traj.value, -config["CLIP_EPS"], config["CLIP_EPS"])
    value_loss = 0.5 * jnp.mean(jnp.maximum(jnp.square(value - targets), jnp.square(v_clipped - targets)))
    ratio = jnp.exp(log_prob - traj.log_prob)
    adv = (gae - gae.mean()) / (gae.std() + 1e-8)
    clipped = jnp.clip(ratio, 1.0 - config["CLIP_EPS"], 1.0 + config["CLIP_EPS"])
    actor_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
    entropy = jnp.mean(-jnp.sum(jnp.exp(log_p) * log_p, axis=-1))
    total = actor_loss + config["VF_COEF"] * value_loss - config["ENT_COEF"] * entropy
    return total, (value_loss, actor_loss, entropy)


# -- training -----------------------------------------------------------------------------------
def make_train(config: dict, env: Any):
    config = {**CONFIG, **config}
    num_envs, num_steps = config["NUM_ENVS"], config["NUM_STEPS"]
    batch_size = num_envs * num_steps
    minibatch_size = batch_size // config["NUM_MINIBATCHES"]
    assert minibatch_size * config["NUM_MINIBATCHES"] == batch_size, "minibatches must divide the batch"
    spec = env.spec
    obs_size = math.prod(spec.observation.shape)
    num_actions = spec.action.num_values

    if config["ANNEAL_LR"]:
        n = config["NUM_UPDATES"] * config["UPDATE_EPOCHS"] * config["NUM_MINIBATCHES"]
        lr = optax.linear_schedule(config["LR"], 0.0, n)
    else:
        lr = config["LR"]
    tx = optax.chain(optax.clip_by_global_norm(config["MAX_GRAD_NORM"]), optax.adam(lr, eps=1e-5))

    def train(rng):
        rng, net_key, reset_key = jax.random.split(rng, 3)
        params = init_network(net_key, obs_size, num_actions, config["HIDDEN"])
        opt_state = tx.init(params)
        env_state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))

        def _update_step(runner_state, _):
            # 1. rollout
            def _env_step(runner_state, _):
                params, opt_state, env_state, last_obs, rng = runner_state
                rng, act_key, env_key = jax.random.split(rng, 3)
                logits, value = network(params, last_obs)
                action = jax.random.categorical(act_key, logits)
                log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
                env_state, ts = jax.vmap(env.step)(env_state, action, jax.random.split(env_key, num_envs))
                transition = Transition(ts.last, action, value, ts.reward, log_prob, last_obs,
                                        ts.info["episode_return"])
                return (params, opt_state, env_state, ts.observation, rng), transition

            runner_state, traj = jax.lax.scan(_env_step, runner_state, None, num_steps)
            params, opt_state, env_state, last_obs, rng = runner_state

            # 2. advantages (GAE, cut at every episode end)
            _, last_val = network(params, last_obs)
            advantages, targets = gae_advantages(traj, last_val, config)

            # 3. epochs of minibatch SGD
            def _update_epoch(update_state, _):
                def _update_minibatch(carry, batch):
                    params, opt_state = carry
                    traj, gae, targets = batch

                    def _loss_fn(params):
                        return ppo_loss(params, traj, gae, targets, config)

                    (loss, aux), grads = jax.value_and_grad(_loss_fn, has_aux=True)(params)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), loss

                params, opt_state, traj, advantages, targets, rng = update_state
                rng, perm_key = jax.random.split(rng)
                perm = jax.random.permutation(perm_key, batch_size)
                batch = (traj, advantages, targets)
                batch = jax.tree.map(lambda x: x.reshape((batch_size,) + x.shape[2:]), batch)
                batch = jax.tree.map(
                    lambda x: jnp.take(x, perm, axis=0).reshape((config["NUM_MINIBATCHES"], -1) + x.shape[1:]), batch)
                (params, opt_state), losses = jax.lax.scan(_update_minibatch, (params, opt_state), batch)
                return (params, opt_state, traj, advantages, targets, rng), losses

            update_state = (params, opt_state, traj, advantages, targets, rng)
            update_state, losses = jax.lax.scan(_update_epoch, update_state, None, config["UPDATE_EPOCHS"])
            params, opt_state, _, _, _, rng = update_state

            done = traj.done.astype(jnp.float32)
            metric = {"episode_return_sum": jnp.sum(traj.episode_return * done), "episodes": jnp.sum(done),
                      "loss": jnp.mean(losses)}
            return (params, opt_state, env_state, last_obs, rng), metric

        rng, run_key = jax.random.split(rng)
        runner_state = (params, opt_state, env_state, ts.observation, run_key)
        runner_state, metrics = jax.lax.scan(_update_step, runner_state, None, config["NUM_UPDATES"])
        return {"runner_state": runner_state, "metrics": metrics}

    return train


def mean_returns(metrics, window: int = 5):
    """Mean return of the episodes that ended in the last ``window`` updates (per seed if vmapped;
    NaN where none ended)."""
    total = jnp.sum(metrics["episode_return_sum"][..., -window:], axis=-1)
    count = jnp.sum(metrics["episodes"][..., -window:], axis=-1)
    return jnp.where(count > 0, total / jnp.maximum(count, 1.0), jnp.nan)


if __name__ == "__main__":  # a learning check: python benchmarks/peer_ppo.py --env catch --steps 100000
    import argparse
    import time

    from rlk.core.registry import default_registry  # only to build the environment
    from rlk.core.wrappers import for_training

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="catch")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    env = for_training(default_registry().get("env", args.env).factory())
    num_updates = max(1, args.steps // (CONFIG["NUM_ENVS"] * CONFIG["NUM_STEPS"]))
    train = jax.jit(jax.vmap(make_train({"NUM_UPDATES": num_updates}, env)))
    keys = jax.random.split(jax.random.PRNGKey(0), args.seeds)
    t0 = time.perf_counter()
    compiled = train.lower(keys).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    t2 = time.perf_counter()
    steps = num_updates * CONFIG["NUM_ENVS"] * CONFIG["NUM_STEPS"] * args.seeds
    window = max(5, num_updates // 5)
    print(f"{args.env}: mean return of the episodes ended in the last {window} updates "
          f"{mean_returns(out['metrics'], window)}, "
          f"{steps:,} steps in {t2 - t1:.2f}s ({steps / (t2 - t1):,.0f} steps/s), compile {t1 - t0:.1f}s")
