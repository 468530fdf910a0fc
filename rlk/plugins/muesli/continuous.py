"""Muesli for continuous actions (Hessel et al. 2021, section 4.3 and the MuJoCo experiments).

The policy is a diagonal Gaussian (state-dependent mean and log-std from the policy head); the model's
dynamics take the action vector, scaled to ``[-1, 1]`` by the action bounds. CMPO is only reachable
through samples: at every state ``S`` actions (``cmpo_samples``, paper: 16) are drawn from the prior
(the target network's policy) and scored by one-step look-ahead, q(s, a_i) = r(s, a_i) + gamma v(s'(a_i)).
The sampled estimator weights each by ``exp(clip(adv_i / sigma, -c, c)) / z_i`` with the leave-one-out
normaliser ``z_i = (z_init + sum_{l != i} w_l) / S`` (``cmpo_z_init``, paper: 1); the regulariser and the
model's policy loss are ``-mean_i (w_i / z_i) log pi(a_i | s)``. Retrace runs on the same q-values:
E_pi q(s, .) is the mean over the prior's samples, q(s_t, a_t) is the look-ahead of the taken action.
"""

from __future__ import annotations

import math
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import lax

from rlk.core import losses as core_losses
from rlk.core.interfaces import Agent
from rlk.core.parallel import pmean
from rlk.core.types import BoxSpec, EnvSpec, TimeStep, Trajectory
from rlk.nn.torsos import MLP
from rlk.nn.unroll_targets import model_targets
from rlk.nn.value_transforms import Support, logits_to_scalar, scalar_to_two_hot
from rlk.plugins.muesli.networks import apply_mlp
from rlk.plugins.muesli.replay import MuesliState, online_and_replayed, replay_item

LOG_STD_MIN, LOG_STD_MAX = -5.0, 1.0


class GaussianModel(eqx.Module):
    """The MuZero-style model of ``rlk.nn.muzero_model`` with a Gaussian policy head and vector actions."""

    representation: MLP
    dynamics: MLP
    reward_head: MLP
    policy_head: MLP  # -> [2 D]: mean, log-std (clipped to [LOG_STD_MIN, LOG_STD_MAX])
    value_head: MLP
    action_dim: int = eqx.field(static=True)
    scale_latents: bool = eqx.field(static=True)

    def __init__(self, key, obs_shape, action_dim: int, latent_size: int, hidden, num_atoms: int):
        keys = jax.random.split(key, 5)
        act = jax.nn.relu
        self.action_dim = action_dim
        self.scale_latents = True
        self.representation = MLP(keys[0], math.prod(obs_shape), hidden, latent_size, activation=act)
        self.dynamics = MLP(keys[1], latent_size + action_dim, hidden, latent_size, activation=act)
        self.reward_head = MLP(keys[2], latent_size, hidden, num_atoms, activation=act, out_scale=0.01)
        self.policy_head = MLP(keys[3], latent_size, hidden, 2 * action_dim, activation=act, out_scale=0.01)
        self.value_head = MLP(keys[4], latent_size, hidden, num_atoms, activation=act, out_scale=0.01)


def gaussian_params(head_out: jax.Array) -> tuple[jax.Array, jax.Array]:
    mean, log_std = jnp.split(head_out, 2, axis=-1)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """``log N(action; mean, exp(log_std)^2)`` summed over the last (action) axis."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)


def sampled_cmpo_weights(adv: jax.Array, clip: float, z_init: float) -> jax.Array:
    """``[..., S]`` normalised advantages of S prior samples -> weights ``w_i / z_i`` (Muesli, section 4.3)."""
    S = adv.shape[-1]
    w = jnp.exp(jnp.clip(adv, -clip, clip))
    z = (z_init + jnp.sum(w, axis=-1, keepdims=True) - w) / S
    return w / z


def retrace_from_expectations(q_taken: jax.Array, exp_q: jax.Array, reward: jax.Array, discount: jax.Array,
                              c: jax.Array) -> jax.Array:
    """Retrace returns (Munos et al. 2016, eq. 3) from q(s_j, a_j) and E_pi q(s_j, .), time-major.

    ``q_taken, c [T, N]`` (c_j = lambda min(1, pi(a_j|s_j) / mu(a_j|s_j))), ``exp_q, reward, discount
    [T+1, N]`` (index j: the transition into step j). Returns ``G [T-1, N]`` for (s_j, a_j), j < T - 1:
    G_j = r_{j+1} + d_{j+1} (E q_{j+1} + c_{j+1} (G_{j+1} - q(s_{j+1}, a_{j+1}))), G_{T-2} bootstrapping on
    E q_{T-1} alone (the same recursion as ``rlax.retrace`` for discrete actions).
    """
    T = q_taken.shape[0]
    last = reward[T - 1] + discount[T - 1] * exp_q[T - 1]

    def back(g_next, j):
        g = reward[j + 1] + discount[j + 1] * (exp_q[j + 1] + c[j + 1] * (g_next - q_taken[j + 1]))
        return g, g

    _, rest = lax.scan(back, last, jnp.arange(T - 3, -1, -1))
    return jnp.concatenate([rest[::-1], last[None]], 0)


def make_gaussian_muesli(c, spec: EnvSpec, axis_name: Optional[str], loss_lookup, buffer, n_replay: int) -> Agent:
    """Muesli's pure functions for a ``BoxSpec`` action (``c``: a ``MuesliConfig``)."""

    assert isinstance(spec.action, BoxSpec)
    shape = tuple(spec.action.shape)
    D = math.prod(shape)
    lo, hi = spec.action.low, spec.action.high
    T, K, S = c.unroll_length, c.model_unroll, c.cmpo_samples
    support = Support(-c.support_max, c.support_max, c.num_atoms)
    total_loss = core_losses.compose(c.loss_weights, loss_lookup or core_losses.registry_lookup)
    optimiser = optax.chain(optax.clip_by_global_norm(c.max_grad_norm), optax.adam(c.learning_rate))
    encode = lambda a: jnp.clip((a - (hi + lo) / 2) / ((hi - lo) / 2), -1.0, 1.0)  # dynamics input

    def init(key):
        net = GaussianModel(key, spec.observation.shape, D, c.latent_size, c.hidden_sizes, c.num_atoms)
        obs = jnp.zeros(spec.observation.shape, jnp.float32)
        steps = lambda n, tree: jax.tree.map(lambda x: jnp.zeros((n,) + x.shape, x.dtype), tree)
        example = {"timestep": steps(T + 1, TimeStep(obs, jnp.float32(0), jnp.float32(1), jnp.bool_(False))),
                   "action": jnp.zeros((T, D), jnp.float32), "log_prob": jnp.zeros((T,), jnp.float32)}
        return MuesliState(net, net, optimiser.init(net), buffer.init(example), jnp.float32(0), jnp.float32(0), jnp.int32(0))

    def _policy(net, obs):
        return gaussian_params(apply_mlp(net.policy_head, apply_mlp(net.representation, obs, True)))

    def act(params, actor_state, timestep: TimeStep, key):
        mean, log_std = _policy(params, timestep.observation)
        action = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        log_prob = gaussian_log_prob(mean, log_std, action)  # of the unclipped sample; the env clips
        return action.reshape((-1,) + shape), actor_state, {"log_prob": log_prob}

    def eval_act(params, actor_state, timestep: TimeStep, key):
        return _policy(params, timestep.observation)[0].reshape((-1,) + shape), actor_state, {}

    def _look_ahead(net, s, a):
        """Latents ``[M, L]`` and actions ``[M, D]`` -> q ``[M]``."""
        nxt = apply_mlp(net.dynamics, jnp.concatenate([s, encode(a)], -1), True)
        r = logits_to_scalar(apply_mlp(net.reward_head, nxt), support)
        return r + c.gamma * logits_to_scalar(apply_mlp(net.value_head, nxt), support)

    def _targets(state, ts: TimeStep, action, log_prob, key):
        net = state.target_params
        obs = ts.observation
        L1, N = obs.shape[:2]
        M = L1 * N
        s = apply_mlp(net.representation, obs.reshape((M,) + obs.shape[2:]), True)
        mean, log_std = gaussian_params(apply_mlp(net.policy_head, s))
        v = logits_to_scalar(apply_mlp(net.value_head, s), support)
        samples = mean[:, None] + jnp.exp(log_std)[:, None] * jax.random.normal(key, (M, S, D))  # [M, S, D]
        q_s = _look_ahead(net, jnp.repeat(s, S, 0), samples.reshape(M * S, D)).reshape(M, S)
        q_a = _look_ahead(net, s[:T * N], action.reshape(T * N, D)).reshape(T, N)
        pi_log_prob = gaussian_log_prob(mean[:T * N], log_std[:T * N], action.reshape(T * N, D)).reshape(T, N)
        trace_c = c.retrace_lambda * jnp.minimum(1.0, jnp.exp(pi_log_prob - log_prob))
        discount = c.gamma * ts.discount * (1.0 - ts.last.astype(jnp.float32))
        v, q_s = v.reshape(L1, N), q_s.reshape(L1, N, S)
        G = retrace_from_expectations(q_a, jnp.mean(q_s, -1), ts.reward, discount, trace_c)
        adv = G - v[:T - 1]
        var_m = c.adv_scale_decay * state.adv_var + (1 - c.adv_scale_decay) * pmean(jnp.mean(adv ** 2), axis_name)
        var_n = c.adv_scale_decay * state.adv_norm + (1 - c.adv_scale_decay)
        sigma = jnp.sqrt(var_m / var_n) + 1e-3
        weights = sampled_cmpo_weights((q_s - v[..., None]) / sigma, c.cmpo_clip, c.cmpo_z_init)  # [T+1, N, S]
        return {"G": G, "adv": adv / sigma, "weights": weights, "samples": samples.reshape(L1, N, S, D),
                "sigma": sigma}, (var_m, var_n)

    def _outputs(net, obs, action):
        """As ``agent.model_outputs`` with vector actions: latents ``[T N, L]`` and after k = 1..K steps."""
        N = action.shape[1]
        s = apply_mlp(net.representation, obs[:T].reshape((T * N,) + obs.shape[2:]), True)
        path = [s]
        for k in range(min(K, T)):
            rows = (T - k) * N
            s = apply_mlp(net.dynamics, jnp.concatenate([s[:rows], encode(action[k:].reshape(rows, D))], -1), True)
            path.append(s)
        return path

    def update(state, traj: Trajectory, key):
        replay_key, target_key = jax.random.split(key)
        item = replay_item(traj._replace(action=traj.action.reshape(traj.action.shape[:2] + (D,))))
        replay, ts, action, log_prob = online_and_replayed(buffer, state.replay, item, n_replay, replay_key)
        N = action.shape[1]
        tg, (var_m, var_n) = _targets(state, ts, action, log_prob, target_key)
        # CMPO weights and their samples at every step, aligned to t + k like a policy target
        packed = jnp.concatenate([tg["weights"], tg["samples"].reshape(T + 1, N, S * D)], -1)
        mt = model_targets(ts, packed, tg["G"], support, K)
        batch = {
            "action": action[:T - 1], "behaviour_log_prob": log_prob[:T - 1],
            "pg_advantage": tg["adv"], "pg_mask": jnp.ones((T - 1, N)), "state_mask": jnp.ones((T - 1, N)),
            "value_target": scalar_to_two_hot(tg["G"], support), "value_mask": jnp.ones((T - 1, N)),
            **{k: v for k, v in mt.items() if k != "model_policy"},
        }
        batch = lax.stop_gradient(batch)
        aligned = lax.stop_gradient(mt["model_policy"])  # [K, T, N, S + S D]
        weights_k, samples_k = aligned[..., :S], aligned[..., S:].reshape(aligned.shape[:3] + (S, D))

        def sampled_ce(head_out, samples, weights):  # -mean_i (w_i / z_i) log pi(a_i | s)
            mean, log_std = gaussian_params(head_out)
            return -jnp.mean(weights * gaussian_log_prob(mean[..., None, :], log_std[..., None, :], samples), -1)

        def loss_fn(net):
            path = _outputs(net, ts.observation, action)
            sizes = [p.shape[0] // N for p in path]
            every = jnp.concatenate(path, 0)
            M = T * N
            p_out, v_logits = apply_mlp(net.policy_head, every), apply_mlp(net.value_head, every)
            r_logits = apply_mlp(net.reward_head, every[M:])

            def split(x):  # steps 1..K -> [K, T, N, ...], zeros where j > T - k (masked)
                parts, i = [], 0
                for n in sizes[1:]:
                    part = x[i * N:(i + n) * N].reshape((n, N) + x.shape[1:])
                    parts.append(jnp.pad(part, [(0, T - n)] + [(0, 0)] * (part.ndim - 1)))
                    i += n
                out = jnp.stack(parts)
                return jnp.pad(out, [(0, K - out.shape[0])] + [(0, 0)] * (out.ndim - 1))

            p0 = p_out[:M].reshape(T, N, -1)[:T - 1]
            mean0, log_std0 = gaussian_params(p0)
            outputs = {
                "log_prob": gaussian_log_prob(mean0, log_std0, action[:T - 1]),
                "cmpo_ce_sampled": sampled_ce(p0, tg["samples"][:T - 1], tg["weights"][:T - 1]),
                "value_logits": v_logits[:M].reshape(T, N, -1)[:T - 1],
                "model_policy_ce": sampled_ce(split(p_out[M:]), samples_k, weights_k),
                "model_reward_logits": split(r_logits), "model_value_logits": split(v_logits[M:]),
            }
            loss, metrics = total_loss(outputs, batch, c)
            return loss, {**metrics, "policy_std": jnp.mean(jnp.exp(log_std0))}

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        grads = pmean(grads, axis_name)
        updates, opt_state = optimiser.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        target = optax.incremental_update(params, state.target_params, c.target_ema)
        metrics = pmean({"loss": loss, **metrics, "adv_sigma": tg["sigma"]}, axis_name)
        return MuesliState(params, target, opt_state, replay, var_m, var_n, state.updates + 1), metrics

    def replica_local(state):
        axes = jax.tree.map(lambda _: None, state)
        return axes._replace(replay=axes.replay.replace(experience=jax.tree.map(lambda _: 1, state.replay.experience)))

    return Agent(init, lambda b: (), act, eval_act, update, c.num_envs, c.unroll_length, replica_local)
