"""Muesli for continuous actions (Hessel et al. 2021, section 4.3 and the MuJoCo experiments).

The policy is a diagonal Gaussian (state-dependent mean and log-std from the policy head; ``networks.GaussianModel``);
the model's dynamics take the action vector, scaled to ``[-1, 1]`` by the action bounds. CMPO is only reachable
through samples: at every state ``S`` actions (``cmpo_samples``, paper: 16) are drawn from the prior
(the target network's policy) and scored by one-step look-ahead, q(s, a_i) = r(s, a_i) + gamma v(s'(a_i)).
The sampled estimator weights each by ``exp(clip(adv_i / sigma, -c, c)) / z_i`` with the leave-one-out
normaliser ``z_i = (z_init + sum_{l != i} w_l) / S`` (``cmpo_z_init``, paper: 1); the regulariser and the
model's policy loss are ``-mean_i (w_i / z_i) log pi(a_i | s)``. Retrace runs on the same q-values:
E_pi q(s, .) is the mean over the prior's samples, q(s_t, a_t) is the look-ahead of the taken action.
The learner (replay, advantage scale, gradient step, target EMA) is the categorical agent's (``learner.py``).
"""

from __future__ import annotations

import math
from typing import Optional

import jax
import jax.numpy as jnp
from jax import lax

from rlk.core.interfaces import Agent
from rlk.core.losses import LossSet, PolicyInputs
from rlk.core.types import BoxSpec, EnvSpec, TimeStep
from rlk.learn.replay import Sequences, replica_local
from rlk.nn.unroll_targets import model_targets
from rlk.nn.value_transforms import Support, logits_to_scalar, scalar_to_two_hot
from rlk.plugins.muesli.config import MuesliConfig
from rlk.plugins.muesli.learner import MuesliState, advantage_scale, make_learner
from rlk.plugins.muesli.config import MuesliInputs
from rlk.plugins.muesli.losses import sampled_cmpo_weights, weighted_sample_cross_entropy
from rlk.plugins.muesli.networks import (GaussianModel, apply_mlp, gaussian_entropy, gaussian_log_prob, gaussian_params,
                                         per_step, represent, unroll)


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


def make_gaussian_muesli(c: MuesliConfig, spec: EnvSpec, axis_name: Optional[str], losses: LossSet) -> Agent:
    """Muesli's pure functions for a ``BoxSpec`` action."""
    assert isinstance(spec.action, BoxSpec)
    shape = tuple(spec.action.shape)
    D = math.prod(shape)
    lo, hi = spec.action.low, spec.action.high
    T, K, S = c.unroll_length, c.model_unroll, c.cmpo_samples
    support = Support(-c.support_max, c.support_max, c.num_atoms)
    encode = lambda a: jnp.clip((a - (hi + lo) / 2) / ((hi - lo) / 2), -1.0, 1.0)  # dynamics input

    def _policy(net, obs):
        return gaussian_params(apply_mlp(net.policy_head, represent(net, obs)))

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

    def targets(state: MuesliState, seq: Sequences, key):
        """Retrace returns, normalised advantages and the sampled CMPO weights of the prior's samples at every step,
        and the model targets (the weights and their samples aligned to j + k like a policy target)."""
        net, ts, log_prob = state.target_params, seq.timestep, seq.extras["log_prob"]
        obs, action = ts.observation, seq.action.reshape(seq.action.shape[:2] + (D,))
        L1, N = obs.shape[:2]
        M = L1 * N
        s = represent(net, obs.reshape((M,) + obs.shape[2:]))
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
        scale = advantage_scale(state.adv_var, state.adv_norm, adv, c.adv_scale_decay, axis_name)
        weights = sampled_cmpo_weights((q_s - v[..., None]) / scale.sigma, c.cmpo_clip, c.cmpo_z_init)  # [T+1, N, S]
        samples = samples.reshape(L1, N, S, D)
        mt = model_targets(ts, jnp.concatenate([weights, samples.reshape(L1, N, S * D)], -1), G, support, K)
        aligned = mt["model_policy"]  # [K, T, N, S + S D]
        weights_k, samples_k = aligned[..., :S], aligned[..., S:].reshape(aligned.shape[:3] + (S, D))
        batch = (adv / scale.sigma, weights, samples, scalar_to_two_hot(G, support), weights_k, samples_k, mt)
        return batch, scale

    def sampled_ce(head_out, samples, weights):  # -mean_i (w_i / z_i) log pi(a_i | s)
        mean, log_std = gaussian_params(head_out)
        return weighted_sample_cross_entropy(weights, gaussian_log_prob(mean[..., None, :], log_std[..., None, :], samples))

    def loss_fn(net, seq: Sequences, batch, key):
        adv, weights, samples, value_target, weights_k, samples_k, mt = batch
        obs, action = seq.timestep.observation, seq.action.reshape(seq.action.shape[:2] + (D,))
        N = action.shape[1]
        path = unroll(net, represent(net, obs[:T].reshape((T * N,) + obs.shape[2:])), encode(action), K)
        sizes = [p.shape[0] // N for p in path[1:]]
        every = jnp.concatenate(path, 0)
        M = T * N
        p_out, v_logits = apply_mlp(net.policy_head, every), apply_mlp(net.value_head, every)
        r_logits = apply_mlp(net.reward_head, every[M:])
        p0 = p_out[:M].reshape(T, N, -1)[:T - 1]
        mean0, log_std0 = gaussian_params(p0)
        flat = lambda x: x.reshape(-1)
        inputs = {
            PolicyInputs: PolicyInputs(flat(gaussian_log_prob(mean0, log_std0, action[:T - 1])),
                                       flat(gaussian_entropy(log_std0)), flat(seq.extras["log_prob"][:T - 1]), flat(adv)),
            MuesliInputs: MuesliInputs(
                sampled_ce(p0, samples[:T - 1], weights[:T - 1]), v_logits[:M].reshape(T, N, -1)[:T - 1], value_target,
                sampled_ce(per_step(p_out[M:], sizes, T, N, K), samples_k, weights_k), mt["model_policy_mask"],
                per_step(r_logits, sizes, T, N, K), mt["model_reward"], mt["model_reward_mask"],
                per_step(v_logits[M:], sizes, T, N, K), mt["model_value"], mt["model_value_mask"]),
        }
        loss, metrics = losses({}, inputs, {})
        return loss, {**metrics, "policy_std": jnp.mean(jnp.exp(log_std0))}

    learner = make_learner(c, spec, axis_name, losses, targets, loss_fn)

    def init(key):
        return learner.init(GaussianModel(key, spec.observation.shape, D, c.latent_size, c.hidden_sizes, c.num_atoms))

    return Agent(init, lambda b: (), act, eval_act, learner.update, c.num_envs, c.unroll_length, replica_local)
