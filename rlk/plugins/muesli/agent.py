"""The Muesli agent (Hessel et al. 2021) on rlk's Agent contract.

One update, for a batch of online sequences ``[T+1, B]`` (the architecture's rollout):

1. the sequences go into the replay buffer kept in the learner state (flashbax item buffer);
   ``B * f / (1 - f)`` sequences are sampled back (replay fraction ``f``) and joined to the batch;
2. the target network (an EMA of the online one) gives, at every state, the prior policy, the
   value v(s) and one-step model look-ahead Q-values q(s, a) = r(s, a) + gamma v(s'(a));
3. Retrace over the sequence with those q-values gives returns G_t for (s_t, a_t); the advantages
   G_t - v(s_t) are normalised by a moving scale sigma (kept in the learner state);
4. the loss is the named losses' weighted sum: clipped-importance policy gradient, CMPO regulariser
   (exact KL for small discrete action spaces, or the sampled estimator), the model loss over
   k = 1..K unrolled steps (CMPO policy, reward and value targets at t + k), and the value loss.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import flashbax as fbx
import jax
import jax.numpy as jnp
import optax
import rlax
from pydantic import Field

from rlk.core import losses as core_losses
from rlk.core.config import PluginConfig
from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent
from rlk.core.parallel import pmean
from rlk.core.types import DiscreteSpec, EnvSpec, TimeStep, Trajectory
from rlk.nn.muzero_model import MuZeroModel
from rlk.nn.unroll_targets import model_targets
from rlk.nn.value_transforms import Support, logits_to_scalar, scalar_to_two_hot
from rlk.plugins.muesli.losses import cmpo_policy, sampled_cmpo_cross_entropy


class MuesliConfig(PluginConfig):
    # Acting and data. Paper (Table 5, Atari): sequences of 30 steps, batch 96 of which 3/4 replayed.
    num_envs: int = Field(64, gt=0, description="parallel environments (online sequences per update)")
    unroll_length: int = Field(16, gt=0, description="sequence length T")
    replay_fraction: float = Field(0.75, ge=0.0, lt=1.0, description="replay: fraction of each batch from the buffer (paper: 0.75; 0.95 large setting)")
    replay_capacity: int = Field(4096, gt=0, description="replay: sequences kept in the buffer")
    # Model.
    model_unroll: int = Field(5, ge=1, description="unroll: model steps K (paper: 5)")
    latent_size: int = Field(64, gt=0, description="model latent size")
    hidden_sizes: tuple[int, ...] = Field((128,), description="MLP hidden sizes of every model part")
    num_atoms: int = Field(81, ge=3, description="categorical value/reward atoms (Atari: 601)")
    support_max: float = Field(20.0, gt=0, description="atoms span [-support_max, support_max] in h-space (Atari: 300)")
    # CMPO. Paper (section 4.2): clip c = 1, sampled KL with N = 16 samples and z_init = 1.
    cmpo_clip: float = Field(1.0, gt=0, description="cmpo: advantage clip c")
    cmpo_exact: bool = Field(True, description="cmpo: exact KL over all actions (False: sampled estimator)")
    cmpo_samples: int = Field(16, ge=1, description="cmpo: samples N of the sampled estimator")
    cmpo_z_init: float = Field(1.0, gt=0, description="cmpo: z_init of the sampled estimator")
    adv_scale_decay: float = Field(0.99, gt=0, lt=1, description="decay of the moving advantage-variance estimate (sigma)")
    # Returns and optimisation.
    gamma: float = Field(0.99, ge=0, le=1, description="discount")
    retrace_lambda: float = Field(0.95, ge=0, le=1, description="Retrace lambda")
    target_ema: float = Field(0.1, gt=0, le=1, description="target network step size alpha (EMA)")
    learning_rate: float = Field(3e-3, gt=0, description="Adam step size (toy setting; tuned on Catch)")
    max_grad_norm: float = Field(1.0, gt=0, description="global gradient-norm clip")
    value_loss_weight: float = Field(0.25, ge=0, description="weight of value cross-entropies (MuZero: 0.25)")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"muesli_pg": 1.0, "muesli_cmpo": 1.0, "muesli_model": 1.0, "muesli_value": 1.0},
        description="named losses and weights (ablations: set muesli_cmpo or muesli_model to 0)",
    )


class MuesliState(NamedTuple):
    params: Any
    target_params: Any
    opt_state: Any
    replay: Any
    adv_var: jax.Array  # debiased EMA of E[adv^2]: numerator and normaliser
    adv_norm: jax.Array
    updates: jax.Array


def _replay_item(traj: Trajectory) -> dict:
    """A trajectory as buffer items ``[B, T+1, ...]`` (batch-major), without episode statistics."""
    ts = traj.timestep._replace(info={})
    swap = lambda x: jnp.swapaxes(x, 0, 1)
    return {"timestep": jax.tree.map(swap, ts), "action": swap(traj.action),
            "log_prob": swap(traj.extras["log_prob"])}


def _from_items(items: dict) -> tuple[TimeStep, jax.Array, jax.Array]:
    swap = lambda x: jnp.swapaxes(x, 0, 1)
    return jax.tree.map(swap, items["timestep"]), swap(items["action"]), swap(items["log_prob"])


def retrace_returns(q: jax.Array, action: jax.Array, reward: jax.Array, discount: jax.Array, pi: jax.Array,
                    mu: jax.Array, lambda_: float) -> jax.Array:
    """Retrace returns (Munos et al. 2016) for ``(s_j, a_j)``, ``j < T - 1``, from model q-values.

    Args (time-major, ``N`` sequences): q ``[T+1, N, A]`` q-values at every state; action ``[T, N]``;
    reward, discount ``[T+1, N]`` (index ``j`` holds the transition into step ``j``); pi ``[T+1, N, A]``
    the target policy; mu ``[T, N]`` the behaviour probability of each taken action.
    Returns ``G [T-1, N]`` (rlax.retrace's error plus q(s_j, a_j)).
    """
    T = action.shape[0]
    err = jax.vmap(
        lambda q_tm1, q_t, a_tm1, a_t, r_t, d_t, pi_t, mu_t: rlax.retrace(q_tm1, q_t, a_tm1, a_t, r_t, d_t, pi_t, mu_t, lambda_),
        in_axes=1, out_axes=1,
    )(q[:T - 1], q[1:T], action[:T - 1], action[1:T], reward[1:T], discount[1:T], pi[1:T], mu[1:T])
    return err + jnp.take_along_axis(q[:T - 1], action[:T - 1, :, None], -1)[..., 0]


def make_muesli(config: MuesliConfig, spec: EnvSpec, axis_name: Optional[str] = None, loss_lookup=None) -> Agent:
    c = config
    if not isinstance(spec.action, DiscreteSpec):
        raise RlkError(f"agent 'muesli' supports discrete actions in this version; env '{spec.name}' has {spec.action.kind} actions")
    if spec.num_players != 1:
        raise RlkError(f"agent 'muesli' has no self-play for {spec.num_players}-player games in this version (env '{spec.name}')")
    A = spec.action.num_values
    T, K = c.unroll_length, c.model_unroll
    support = Support(-c.support_max, c.support_max, c.num_atoms)
    total_loss = core_losses.compose(c.loss_weights, loss_lookup or core_losses.registry_lookup)
    optimiser = optax.chain(optax.clip_by_global_norm(c.max_grad_norm), optax.adam(c.learning_rate))
    n_replay = int(round(c.num_envs * c.replay_fraction / (1.0 - c.replay_fraction)))
    buffer = fbx.make_item_buffer(max_length=c.replay_capacity, min_length=1, sample_batch_size=max(n_replay, 1),
                                  add_sequences=True, add_batches=False)

    def init(key):
        net = MuZeroModel(key, spec.observation.shape, A, c.latent_size, c.hidden_sizes, c.num_atoms)
        obs = jnp.zeros(spec.observation.shape, jnp.float32)
        steps = lambda n, tree: jax.tree.map(lambda x: jnp.zeros((n,) + x.shape, x.dtype), tree)
        example = {"timestep": steps(T + 1, TimeStep(obs, jnp.float32(0), jnp.float32(1), jnp.bool_(False))),
                   "action": jnp.zeros((T,), jnp.int32), "log_prob": jnp.zeros((T,), jnp.float32)}
        return MuesliState(net, net, optimiser.init(net), buffer.init(example), jnp.float32(0), jnp.float32(0), jnp.int32(0))

    def _policy_logits(net, obs):
        return jax.vmap(lambda o: net.predict(net.initial(o))[0])(obs)

    def act(params, actor_state, timestep: TimeStep, key):
        logits = _policy_logits(params, timestep.observation)
        action = jax.random.categorical(key, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
        return action, actor_state, {"log_prob": log_prob}

    def eval_act(params, actor_state, timestep: TimeStep, key):
        del key
        return jnp.argmax(_policy_logits(params, timestep.observation), -1), actor_state, {}

    # -- targets from the target network ----------------------------------------------------
    def _target_stats(net, obs):
        """Per state: prior logits [A], v [], q [A] by one-step look-ahead of the model."""

        def one(o):
            s = net.initial(o)
            prior, v_logits = net.predict(s)
            v = logits_to_scalar(v_logits, support)
            nxt, r_logits = jax.vmap(lambda a: net.step(s, a))(jnp.arange(A))
            v_next = logits_to_scalar(jax.vmap(lambda z: net.predict(z)[1])(nxt), support)
            q = logits_to_scalar(r_logits, support) + c.gamma * v_next
            return prior, v, q

        return jax.vmap(jax.vmap(one))(obs)

    def _targets(state: MuesliState, ts: TimeStep, action, log_prob, key):
        prior, v, q = _target_stats(state.target_params, ts.observation)  # [T+1, N, ...]
        discount = c.gamma * ts.discount * (1.0 - ts.last.astype(jnp.float32))  # [T+1, N]; index j: into j
        pi = jax.nn.softmax(prior)
        G = retrace_returns(q, action, ts.reward, discount, pi, jnp.exp(log_prob), c.retrace_lambda)
        adv = G - v[:T - 1]
        var_m = c.adv_scale_decay * state.adv_var + (1 - c.adv_scale_decay) * pmean(jnp.mean(adv ** 2), axis_name)
        var_n = c.adv_scale_decay * state.adv_norm + (1 - c.adv_scale_decay)
        sigma = jnp.sqrt(var_m / var_n) + 1e-3
        cmpo = cmpo_policy(prior, (q - v[..., None]) / sigma, c.cmpo_clip)  # [T+1, N, A]
        return {"prior": prior, "G": G, "adv": adv / sigma, "cmpo": cmpo, "sigma": sigma,
                "cmpo_adv": (q - v[..., None]) / sigma}, (var_m, var_n)

    def _model_outputs(net, obs, action):
        """Online predictions: at s_j (k = 0) and after k = 1..K model steps, for j < T."""
        latents = jax.vmap(jax.vmap(net.initial))(obs[:T])  # [T, N, D]
        logits, v_logits = jax.vmap(jax.vmap(net.predict))(latents)
        acts = jnp.concatenate([action, jnp.zeros((K,) + action.shape[1:], action.dtype)], 0)  # [T+K, N]
        seq = jnp.stack([acts[k:k + T] for k in range(K)])  # [K, T, N]: a_{j+k}

        def unroll(s, a):
            nxt, r_logits = jax.vmap(jax.vmap(net.step))(s, a)
            p_logits, val_logits = jax.vmap(jax.vmap(net.predict))(nxt)
            return nxt, (p_logits, r_logits, val_logits)

        _, (m_logits, m_reward, m_value) = jax.lax.scan(unroll, latents, seq)
        return {"logits": logits, "value_logits": v_logits, "model_logits": m_logits,
                "model_reward_logits": m_reward, "model_value_logits": m_value}

    def update(state: MuesliState, traj: Trajectory, key):
        replay_key, cmpo_key = jax.random.split(key)
        replay = buffer.add(state.replay, _replay_item(traj))
        ts, action, log_prob = traj.timestep._replace(info={}), traj.action, traj.extras["log_prob"]
        if n_replay > 0:
            r_ts, r_action, r_log_prob = _from_items(buffer.sample(replay, replay_key).experience)
            cat = lambda a, b: jnp.concatenate([a, b], axis=1)
            ts = jax.tree.map(cat, ts, r_ts)
            action, log_prob = cat(action, r_action), cat(log_prob, r_log_prob)
        N = action.shape[1]
        tg, (var_m, var_n) = _targets(state, ts, action, log_prob, key)
        batch = {
            "action": action[:T - 1], "behaviour_log_prob": log_prob[:T - 1],
            "pg_advantage": jax.lax.stop_gradient(tg["adv"]), "pg_mask": jnp.ones((T - 1, N)),
            "cmpo_probs": tg["cmpo"][:T - 1], "state_mask": jnp.ones((T - 1, N)),
            "value_target": scalar_to_two_hot(tg["G"], support), "value_mask": jnp.ones((T - 1, N)),
            **model_targets(ts, tg["cmpo"], tg["G"], support, K),
        }
        batch = jax.lax.stop_gradient(batch)

        def loss_fn(net):
            out = _model_outputs(net, ts.observation, action)
            outputs = {**out, "logits": out["logits"][:T - 1], "value_logits": out["value_logits"][:T - 1]}
            if not c.cmpo_exact:
                keys = jax.random.split(cmpo_key, (T - 1) * N).reshape((T - 1, N, -1))
                outputs["cmpo_ce_sampled"] = jax.vmap(jax.vmap(
                    lambda k, p, a, l: sampled_cmpo_cross_entropy(k, p, a, l, c.cmpo_clip, c.cmpo_samples, c.cmpo_z_init)
                ))(keys, tg["prior"][:T - 1], tg["cmpo_adv"][:T - 1], outputs["logits"])
            return total_loss(outputs, batch, c)

        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        grads = pmean(grads, axis_name)
        updates, opt_state = optimiser.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        target = optax.incremental_update(params, state.target_params, c.target_ema)
        metrics = pmean({"loss": loss, **metrics, "adv_sigma": tg["sigma"]}, axis_name)
        return MuesliState(params, target, opt_state, replay, var_m, var_n, state.updates + 1), metrics

    def replica_local(state: MuesliState):
        """The replay buffer's items are per replica (axis 1 of flashbax's experience)."""
        axes = jax.tree.map(lambda _: None, state)
        return axes._replace(replay=axes.replay.replace(experience=jax.tree.map(lambda _: 1, state.replay.experience)))

    return Agent(init, lambda b: (), act, eval_act, update, c.num_envs, c.unroll_length, replica_local)
