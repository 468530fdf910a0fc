"""The Muesli agent (Hessel et al. 2021) on rlk's Agent contract: categorical policies.

One update, for a batch of online sequences ``[T+1, B]`` (the architecture's rollout; ``learner.py``):

1. the sequences go into the replay buffer kept in the learner state (``rlk.learn.replay``);
   ``B * f / (1 - f)`` sequences are sampled back (replay fraction ``f``) and joined to the batch;
2. the target network (an EMA of the online one) gives, at every state, the prior policy, the
   value v(s) and one-step model look-ahead Q-values q(s, a) = r(s, a) + gamma v(s'(a)) (``target_stats``);
3. Retrace over the sequence with those q-values gives returns G_t for (s_t, a_t); the advantages
   G_t - v(s_t) are normalised by a moving scale sigma (kept in the learner state);
4. the loss is the run's ``LossSet`` over ``PolicyInputs`` and ``MuesliInputs`` (``losses.py``): clipped-importance
   policy gradient, CMPO regulariser (exact KL for small discrete action spaces, or the sampled estimator), the
   model loss over k = 1..K unrolled steps (CMPO policy, reward and value targets at t + k), and the value loss.

Continuous actions (a ``BoxSpec``) are handled by ``continuous.py``: Gaussian policy, sampled CMPO.

Two-player games (``spec.num_players == 2``, players alternating, e.g. pgx ``go_9x9``; the paper also reports
9x9 Go, abstract): self-play with the MuZero plugin's conventions (``rlk.plugins.muzero.agent``):
``TimeStep.reward`` is the mover's reward and every value is the player to move's, so the value of the
next state is the *opponent's* and enters with the discount ``-gamma``: in the one-step look-ahead
q(s, a) = r(s, a) - gamma v(s'(a)), and in Retrace's recursion (the same ``target_stats`` and
``retrace_returns``, given ``-gamma``). The legal-action mask (``TimeStep.legal_action_mask``) masks the
acting and greedy policies, the prior (so pi_cmpo, Retrace's E_pi and the sampled estimator's samples
are on legal actions only) and the online policy in the losses (log pi(a|s), the CMPO cross-entropy).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import rlax

from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent
from rlk.core.losses import LossSet, PolicyInputs
from rlk.core.types import BoxSpec, DiscreteSpec, EnvSpec, TimeStep
from rlk.learn.replay import Sequences, replica_local
from rlk.nn.masking import masked_logits
from rlk.nn.muzero_model import MuZeroModel
from rlk.nn.unroll_targets import model_targets
from rlk.nn.value_transforms import Support, cross_entropy, logits_to_scalar, scalar_to_two_hot
from rlk.plugins.muesli.config import MuesliConfig, MuesliInputs
from rlk.plugins.muesli.continuous import make_gaussian_muesli
from rlk.plugins.muesli.learner import AdvantageScale, MuesliState, advantage_scale, make_learner
from rlk.plugins.muesli.losses import cmpo_policy, sampled_cmpo_cross_entropy
from rlk.plugins.muesli.networks import apply_mlp, dynamics_every_action, per_step, represent, unroll


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


def target_stats(net: MuZeroModel, obs: jax.Array, gamma: float, support: Support) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per state of ``obs [M, *obs_shape]``: prior logits ``[M, A]``, value ``[M]`` and q-values
    ``[M, A]`` by one-step look-ahead of the model, q(s, a) = r(s, a) + gamma v(s'(a)) (Muesli, section 4.1).
    Two-player games pass ``-gamma``: v(s'(a)) is the opponent's value (the player to move at s'), so the
    mover's q is r(s, a) - gamma v(s'(a)).

    All states of the batch go through each network part at once (flat ``[M, ...]`` batches):
    the representation on M states, the dynamics on M * A (state, action) pairs (its first layer's
    product with the latent once per state: ``networks.dynamics_every_action``), the value head
    on the M states and their M * A successors in one call.
    """
    A, M = net.num_actions, obs.shape[0]
    s = represent(net, obs)  # [M, D]
    prior = apply_mlp(net.policy_head, s)
    nxt = dynamics_every_action(net, s)  # [A * M, D]: action-major
    r = logits_to_scalar(apply_mlp(net.reward_head, nxt), support).reshape(A, M)
    v_all = logits_to_scalar(apply_mlp(net.value_head, jnp.concatenate([s, nxt], 0)), support)
    v, v_next = v_all[:M], v_all[M:].reshape(A, M)
    q = (r + gamma * v_next).T  # [M, A]
    return prior, v, q


def model_outputs(net: MuZeroModel, obs: jax.Array, action: jax.Array, K: int) -> dict:
    """Predictions at s_j (k = 0) and after k = 1..K model steps with the actions taken, for j < T.

    ``obs [T+1, N, *obs_shape]``, ``action [T, N]``; returns ``logits [T, N, A]``, ``value_logits
    [T, N, atoms]`` and ``model_logits``, ``model_reward_logits``, ``model_value_logits [K, T, N, ...]``
    (zeros where a start was not unrolled: ``networks.unroll``); the heads see all latents in one call each.
    """
    A = net.num_actions
    T, N = action.shape
    path = unroll(net, represent(net, obs[:T].reshape((T * N,) + obs.shape[2:])), jax.nn.one_hot(action, A), K)
    every = jnp.concatenate(path, 0)
    sizes = [p.shape[0] // N for p in path[1:]]  # [T, T-1, ..., T-K+1]
    p_logits = apply_mlp(net.policy_head, every)
    v_logits = apply_mlp(net.value_head, every)
    r_logits = apply_mlp(net.reward_head, every[T * N:])
    M = T * N
    return {"logits": p_logits[:M].reshape(T, N, A), "value_logits": v_logits[:M].reshape(T, N, -1),
            "model_logits": per_step(p_logits[M:], sizes, T, N, K),
            "model_reward_logits": per_step(r_logits, sizes, T, N, K),
            "model_value_logits": per_step(v_logits[M:], sizes, T, N, K)}


class Targets(NamedTuple):
    """The target network's quantities on a batch of ``N`` sequences ``[T+1, N]``.

    Attributes:
      prior: ``[T+1, N, A]`` pi_prior logits (illegal actions masked); v: ``[T+1, N]`` v(s);
      q: ``[T+1, N, A]`` one-step look-ahead q-values; G: ``[T-1, N]`` Retrace returns;
      adv: ``[T-1, N]`` (G - v) / sigma; cmpo_adv: ``[T+1, N, A]`` (q - v) / sigma;
      cmpo: ``[T+1, N, A]`` pi_cmpo probabilities; sigma: ``[]`` the advantage scale.
    """

    prior: jax.Array
    v: jax.Array
    q: jax.Array
    G: jax.Array
    adv: jax.Array
    cmpo_adv: jax.Array
    cmpo: jax.Array
    sigma: jax.Array


class MuesliParts(NamedTuple):
    """The categorical agent and the pieces it is made of, for tests.

    targets: ``(learner state, ts [T+1, N], action [T, N], log_prob [T, N]) -> (Targets, AdvantageScale)``.
    policy_logits: ``(params, timestep [B]) -> [B, A]``: the acting policy's logits (illegal actions masked).
    """

    agent: Agent
    targets: Any
    policy_logits: Any


def make_muesli(config: MuesliConfig, spec: EnvSpec, axis_name: Optional[str], losses: LossSet) -> Agent:
    """Muesli for ``spec``: categorical (here) or Gaussian (``continuous.py``) policies; ``losses`` the run's."""
    if spec.num_players > 2:
        raise RlkError(f"agent 'muesli' plays one- and two-player games; env '{spec.name}' has {spec.num_players} players")
    if isinstance(spec.action, BoxSpec):  # Gaussian policy, sampled CMPO (continuous.py)
        if spec.num_players != 1:
            raise RlkError(f"agent 'muesli' has no two-player self-play for continuous actions (env '{spec.name}')")
        return make_gaussian_muesli(config, spec, axis_name, losses)
    return make_muesli_parts(config, spec, axis_name, losses).agent


def make_muesli_parts(config: MuesliConfig, spec: EnvSpec, axis_name: Optional[str], losses: LossSet) -> MuesliParts:
    c = config
    if not isinstance(spec.action, DiscreteSpec):
        raise RlkError(f"agent 'muesli' does not support {spec.action.kind} actions (env '{spec.name}')")
    if spec.num_players > 2:
        raise RlkError(f"agent 'muesli' plays one- and two-player games; env '{spec.name}' has {spec.num_players} players")
    A = spec.action.num_values
    T, K = c.unroll_length, c.model_unroll
    # Two-player games (players alternate): the next state's value is the opponent's, so it enters with
    # -gamma (as mctx's discount in rlk.plugins.muzero.agent). A Python float: one-player programs are unchanged.
    discount_scale = -c.gamma if spec.num_players == 2 else c.gamma
    masked = spec.has_legal_action_mask
    support = Support(-c.support_max, c.support_max, c.num_atoms)

    def policy_logits(params, timestep: TimeStep):
        """The acting policy pi(.|s): the policy head on the representation, illegal actions masked."""
        logits = apply_mlp(params.policy_head, represent(params, timestep.observation))
        return masked_logits(logits, timestep.legal_action_mask) if masked else logits

    def act(params, actor_state, timestep: TimeStep, key):
        logits = policy_logits(params, timestep)
        action = jax.random.categorical(key, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
        return action, actor_state, {"log_prob": log_prob}

    def eval_act(params, actor_state, timestep: TimeStep, key):
        del key
        return jnp.argmax(policy_logits(params, timestep), -1), actor_state, {}

    def targets(state: MuesliState, ts: TimeStep, action, log_prob) -> tuple[Targets, AdvantageScale]:
        obs = ts.observation
        flat = target_stats(state.target_params, obs.reshape((-1,) + obs.shape[2:]), discount_scale, support)
        prior, v, q = (x.reshape(obs.shape[:2] + x.shape[1:]) for x in flat)  # [T+1, N, ...]
        if masked:  # pi_prior, and so pi_cmpo, Retrace's E_pi and the sampled estimator, on legal actions only
            prior = masked_logits(prior, ts.legal_action_mask)
        discount = discount_scale * ts.discount * (1.0 - ts.last.astype(jnp.float32))  # [T+1, N]; index j: into j
        G = retrace_returns(q, action, ts.reward, discount, jax.nn.softmax(prior), jnp.exp(log_prob), c.retrace_lambda)
        adv = G - v[:T - 1]
        scale = advantage_scale(state.adv_var, state.adv_norm, adv, c.adv_scale_decay, axis_name)
        cmpo_adv = (q - v[..., None]) / scale.sigma
        cmpo = cmpo_policy(prior, cmpo_adv, c.cmpo_clip)  # [T+1, N, A]
        return Targets(prior, v, q, G, adv / scale.sigma, cmpo_adv, cmpo, scale.sigma), scale

    def batch_targets(state: MuesliState, seq: Sequences, key):
        tg, scale = targets(state, seq.timestep, seq.action, seq.extras["log_prob"])
        return (tg, scalar_to_two_hot(tg.G, support), model_targets(seq.timestep, tg.cmpo, tg.G, support, K)), scale

    def loss_fn(net, seq: Sequences, batch, key):
        tg, value_target, mt = batch
        ts, action = seq.timestep, seq.action
        N = action.shape[1]
        out = model_outputs(net, ts.observation, action, K)
        logits = out["logits"][:T - 1]
        if masked:  # log pi(a|s) and the CMPO cross-entropy of the masked policy that acts
            logits = masked_logits(logits, ts.legal_action_mask[:T - 1])
        if c.cmpo_exact:
            cmpo_ce = cross_entropy(logits, tg.cmpo[:T - 1])
        else:
            keys = jax.random.split(key, (T - 1) * N).reshape((T - 1, N, -1))
            cmpo_ce = jax.vmap(jax.vmap(
                lambda k, p, a, l: sampled_cmpo_cross_entropy(k, p, a, l, c.cmpo_clip, c.cmpo_samples, c.cmpo_z_init)
            ))(keys, tg.prior[:T - 1], tg.cmpo_adv[:T - 1], logits)
        log_pi = jax.nn.log_softmax(logits)
        flat = lambda x: x.reshape(-1)
        inputs = {
            PolicyInputs: PolicyInputs(flat(jnp.take_along_axis(log_pi, action[:T - 1, :, None], -1)[..., 0]),
                                       flat(-jnp.sum(jnp.exp(log_pi) * log_pi, -1)),
                                       flat(seq.extras["log_prob"][:T - 1]), flat(tg.adv)),
            MuesliInputs: MuesliInputs(
                cmpo_ce, out["value_logits"][:T - 1], value_target,
                cross_entropy(out["model_logits"], mt["model_policy"]), mt["model_policy_mask"],
                out["model_reward_logits"], mt["model_reward"], mt["model_reward_mask"],
                out["model_value_logits"], mt["model_value"], mt["model_value_mask"]),
        }
        return losses({}, inputs, {})

    learner = make_learner(c, spec, axis_name, losses, batch_targets, loss_fn)

    def init(key):
        return learner.init(MuZeroModel(key, spec.observation.shape, A, c.latent_size, c.hidden_sizes, c.num_atoms, torso=c.torso))

    agent = Agent(init, lambda b: (), act, eval_act, learner.update, c.num_envs, c.unroll_length, replica_local)
    return MuesliParts(agent, targets, policy_logits)
