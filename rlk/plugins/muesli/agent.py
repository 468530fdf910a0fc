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

from typing import Any, Literal, NamedTuple, Optional

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
from rlk.core.types import BoxSpec, DiscreteSpec, EnvSpec, TimeStep, Trajectory
from rlk.nn.masking import masked_logits
from rlk.nn.muzero_model import MuZeroModel
from rlk.nn.unroll_targets import model_targets
from rlk.nn.value_transforms import Support, logits_to_scalar, scalar_to_two_hot
from rlk.plugins.muesli.continuous import make_gaussian_muesli
from rlk.plugins.muesli.losses import cmpo_policy, sampled_cmpo_cross_entropy
from rlk.plugins.muesli.networks import apply_mlp
from rlk.plugins.muesli.replay import MuesliState, online_and_replayed, replay_item


class MuesliConfig(PluginConfig):
    """Muesli's options. Defaults: a toy setting that trains Catch, CartPole and MinAtar on a CPU in CI;
    each description gives the paper's Atari value where it differs ("paper": the appendix tables as cited
    by cleanrl's Muesli script, second-hand; "Fig. 1": the paper's own caption). The paper's values
    together: ``configs/atari_paper.yaml`` (``rlk train --config ...``)."""

    # Acting and data. Paper (Table 5, Atari): sequences of 30 steps, batch 96 of which 3/4 replayed.
    num_envs: int = Field(64, gt=0, description="parallel environments (online sequences per update; paper, Table 5: 24, "
                                                "i.e. a batch of 96 sequences with 3/4 replayed)")
    unroll_length: int = Field(16, gt=0, description="sequence length T (paper, Table 5: 30)")
    replay_fraction: float = Field(0.75, ge=0.0, lt=1.0, description="replay: fraction of each batch from the buffer (paper: 0.75; 0.95 large setting)")
    replay_capacity: int = Field(4096, gt=0, description="replay: sequences kept in the buffer (paper, Table 5: 6M frames, "
                                                         "~50k sequences of 30 agent steps at frameskip 4)")
    # Model.
    model_unroll: int = Field(5, ge=1, description="unroll: model steps K (paper: 5)")
    latent_size: int = Field(64, gt=0, description="model latent size (paper: an IMPALA network with an LSTM; size not in the sources read)")
    hidden_sizes: tuple[int, ...] = Field((128,), description="MLP hidden sizes of every model part (paper: LSTM dynamics; "
                                                              "sizes not in the sources read)")
    torso: Literal["auto", "mlp", "board", "dqn", "nature", "impala", "minatar"] = Field("mlp", description="representation torso: mlp, board (board games such as go_9x9: rlk.nn.muzero_model.BoardTorso), or for pixels dqn, nature, impala (the paper's Atari torso, Fig. 1: "
                                          "IMPALA's residual network), minatar (rlk.nn.conv); auto: nature for images of 32+ pixels, else mlp")
    num_atoms: int = Field(81, ge=3, description="categorical value/reward atoms (paper, Atari: MuZero's 601)")
    support_max: float = Field(20.0, gt=0, description="atoms span [-support_max, support_max] in h-space (paper, Atari: MuZero's 300)")
    # CMPO. Paper (section 4.2): clip c = 1, sampled KL with N = 16 samples and z_init = 1.
    cmpo_clip: float = Field(1.0, gt=0, description="cmpo: advantage clip c (paper: 1)")
    cmpo_exact: bool = Field(True, description="cmpo: exact KL over all actions (False: sampled estimator; paper, Table 5, Atari: sampled, 16 samples)")
    cmpo_samples: int = Field(16, ge=1, description="cmpo: samples N of the sampled estimator (paper: 16)")
    cmpo_z_init: float = Field(1.0, gt=0, description="cmpo: z_init of the sampled estimator (paper: 1)")
    adv_scale_decay: float = Field(0.99, gt=0, lt=1, description="decay of the moving advantage-variance estimate (sigma) "
                                                                  "(paper, Table 5: beta_var 0.99)")
    # Returns and optimisation.
    gamma: float = Field(0.99, ge=0, le=1, description="discount (paper, Table 5: 0.995)")
    retrace_lambda: float = Field(0.95, ge=0, le=1, description="Retrace lambda (paper: 0.95)")
    target_ema: float = Field(0.1, gt=0, le=1, description="target network step size alpha (EMA; paper, Table 5: 0.1)")
    learning_rate: float = Field(3e-3, gt=0, description="Adam step size (toy setting; tuned on Catch; paper, Table 5: 3e-4, "
                                                         "decayed linearly to 0 in cleanrl's reproduction)")
    max_grad_norm: float = Field(1.0, gt=0, description="global gradient-norm clip (paper, Supplement F.1 per cleanrl: the Adam "
                                                        "update is clipped elementwise at 1 instead)")
    value_loss_weight: float = Field(0.25, ge=0, description="weight of value cross-entropies (MuZero: 0.25; paper, Table 5: 0.25)")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"muesli_pg": 1.0, "muesli_cmpo": 1.0, "muesli_model": 1.0, "muesli_value": 1.0},
        description="named losses and weights (ablations: set muesli_cmpo or muesli_model to 0; paper: CMPO weight 1; "
                    "cleanrl weights the policy gradient 3, citing Table 9, not checked)",
    )


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


def _represent(net: MuZeroModel, obs: jax.Array) -> jax.Array:
    """The representation on a flat batch ``obs [M, *obs_shape]`` -> latents ``[M, D]``, as ``MuZeroModel.initial``
    computes per example: uint8 pixels (Atari) scaled to [0, 1] first (a no-op for float observations)."""
    if obs.dtype == jnp.uint8:
        obs = obs.astype(jnp.float32) / 255.0
    return apply_mlp(net.representation, obs, net.scale_latents)


def target_stats(net: MuZeroModel, obs: jax.Array, gamma: float, support: Support) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per state of ``obs [M, *obs_shape]``: prior logits ``[M, A]``, value ``[M]`` and q-values
    ``[M, A]`` by one-step look-ahead of the model, q(s, a) = r(s, a) + gamma v(s'(a)) (Muesli, section 4.1).
    Two-player games pass ``-gamma``: v(s'(a)) is the opponent's value (the player to move at s'), so the
    mover's q is r(s, a) - gamma v(s'(a)).

    All states of the batch go through each network part at once (flat ``[M, ...]`` batches):
    the representation on M states, the dynamics on M * A (state, action) pairs, the value head
    on the M states and their M * A successors in one call.
    """
    A, M = net.num_actions, obs.shape[0]
    s = _represent(net, obs)  # [M, D]
    prior = apply_mlp(net.policy_head, s)
    actions = jnp.repeat(jnp.arange(A), M)  # [A * M]: action-major
    nxt = apply_mlp(net.dynamics, jnp.concatenate([jnp.tile(s, (A, 1)), jax.nn.one_hot(actions, A)], -1),
                 net.scale_latents)
    r = logits_to_scalar(apply_mlp(net.reward_head, nxt), support).reshape(A, M)
    v_all = logits_to_scalar(apply_mlp(net.value_head, jnp.concatenate([s, nxt], 0)), support)
    v, v_next = v_all[:M], v_all[M:].reshape(A, M)
    q = (r + gamma * v_next).T  # [M, A]
    return prior, v, q


def model_outputs(net: MuZeroModel, obs: jax.Array, action: jax.Array, K: int) -> dict:
    """Predictions at s_j (k = 0) and after k = 1..K model steps with the actions taken, for j < T.

    ``obs [T+1, N, *obs_shape]``, ``action [T, N]``; returns ``logits [T, N, A]``, ``value_logits
    [T, N, atoms]`` and ``model_logits``, ``model_reward_logits``, ``model_value_logits [K, T, N, ...]``.

    The dynamics run K times in sequence (a Python loop: K is small and static, and XLA:CPU
    copies a ``lax.scan``'s stacked outputs at every step). Step k only unrolls the starts j <= T - k
    (the others have no target left in the sequence: their model outputs are zeros, always masked);
    the heads then see all unrolled latents in one call each.
    """
    A = net.num_actions
    T, N = action.shape
    latents = _represent(net, obs[:T].reshape((T * N,) + obs.shape[2:]))  # [T N, D]
    s, path = latents, [latents]
    for k in range(min(K, T)):  # from s_j after k steps (j <= T - k), with a_{j+k}
        rows = (T - k) * N
        a = jax.nn.one_hot(action[k:].reshape(rows), A)
        s = apply_mlp(net.dynamics, jnp.concatenate([s[:rows], a], -1), net.scale_latents)
        path.append(s)
    every = jnp.concatenate(path, 0)
    sizes = [p.shape[0] // N for p in path]  # [T, T, T-1, ..., T-K+1]

    def split(x):  # flat head outputs of steps 1..K -> [K, T, N, ...], zero rows where j > T - k
        parts, i = [], 0
        for n in sizes[1:]:
            part = x[i * N:(i + n) * N].reshape((n, N) + x.shape[1:])
            parts.append(jnp.pad(part, [(0, T - n)] + [(0, 0)] * (part.ndim - 1)))
            i += n
        out = jnp.stack(parts)
        return jnp.pad(out, [(0, K - out.shape[0])] + [(0, 0)] * (out.ndim - 1))

    p_logits = apply_mlp(net.policy_head, every)
    v_logits = apply_mlp(net.value_head, every)
    r_logits = apply_mlp(net.reward_head, every[T * N:])
    M = T * N
    return {"logits": p_logits[:M].reshape(T, N, A), "value_logits": v_logits[:M].reshape(T, N, -1),
            "model_logits": split(p_logits[M:]), "model_reward_logits": split(r_logits),
            "model_value_logits": split(v_logits[M:])}


class MuesliParts(NamedTuple):
    """The discrete-action agent and the pieces it is made of, for tests.

    targets: ``(learner state, ts [T+1, N], action [T, N], log_prob [T, N], key) -> (targets, (var_m, var_n))``:
      the target network's prior logits ``prior [T+1, N, A]`` (masked), value ``v [T+1, N]``, one-step q-values
      ``q [T+1, N, A]``, Retrace returns ``G [T-1, N]``, normalised advantages, CMPO probabilities ``cmpo``
      and the advantage scale ``sigma``; and the new advantage-variance statistics.
    policy_logits: ``(params, timestep [B]) -> [B, A]``: the acting policy's logits (illegal actions masked).
    """

    agent: Agent
    targets: Any
    policy_logits: Any


def _replay_buffer(c: MuesliConfig):
    n_replay = int(round(c.num_envs * c.replay_fraction / (1.0 - c.replay_fraction)))
    buffer = fbx.make_item_buffer(max_length=c.replay_capacity, min_length=1, sample_batch_size=max(n_replay, 1),
                                  add_sequences=True, add_batches=False)
    return buffer, n_replay


def make_muesli(config: MuesliConfig, spec: EnvSpec, axis_name: Optional[str] = None, loss_lookup=None) -> Agent:
    if spec.num_players > 2:
        raise RlkError(f"agent 'muesli' plays one- and two-player games; env '{spec.name}' has {spec.num_players} players")
    if isinstance(spec.action, BoxSpec):  # Gaussian policy, sampled CMPO (continuous.py)
        if spec.num_players != 1:
            raise RlkError(f"agent 'muesli' has no two-player self-play for continuous actions (env '{spec.name}')")
        buffer, n_replay = _replay_buffer(config)
        return make_gaussian_muesli(config, spec, axis_name, loss_lookup, buffer, n_replay)
    return make_muesli_parts(config, spec, axis_name, loss_lookup).agent


def make_muesli_parts(config: MuesliConfig, spec: EnvSpec, axis_name: Optional[str] = None, loss_lookup=None) -> MuesliParts:
    c = config
    if not isinstance(spec.action, DiscreteSpec):
        raise RlkError(f"agent 'muesli' does not support {spec.action.kind} actions (env '{spec.name}')")
    if spec.num_players > 2:
        raise RlkError(f"agent 'muesli' plays one- and two-player games; env '{spec.name}' has {spec.num_players} players")
    buffer, n_replay = _replay_buffer(c)
    A = spec.action.num_values
    T, K = c.unroll_length, c.model_unroll
    # Two-player games (players alternate): the next state's value is the opponent's, so it enters with
    # -gamma (as mctx's discount in rlk.plugins.muzero.agent). A Python float: one-player programs are unchanged.
    discount_scale = -c.gamma if spec.num_players == 2 else c.gamma
    masked = spec.has_legal_action_mask
    support = Support(-c.support_max, c.support_max, c.num_atoms)
    total_loss = core_losses.compose(c.loss_weights, loss_lookup or core_losses.registry_lookup)
    optimiser = optax.chain(optax.clip_by_global_norm(c.max_grad_norm), optax.adam(c.learning_rate))

    def init(key):
        net = MuZeroModel(key, spec.observation.shape, A, c.latent_size, c.hidden_sizes, c.num_atoms, torso=c.torso)
        obs = jnp.zeros(spec.observation.shape, spec.observation.dtype)
        mask = jnp.zeros((A,), jnp.bool_) if masked else None
        steps = lambda n, tree: jax.tree.map(lambda x: jnp.zeros((n,) + x.shape, x.dtype), tree)
        example = {"timestep": steps(T + 1, TimeStep(obs, jnp.float32(0), jnp.float32(1), jnp.bool_(False), mask)),
                   "action": jnp.zeros((T,), jnp.int32), "log_prob": jnp.zeros((T,), jnp.float32)}
        return MuesliState(net, net, optimiser.init(net), buffer.init(example), jnp.float32(0), jnp.float32(0), jnp.int32(0))

    def _policy_logits(net, obs):
        return apply_mlp(net.policy_head, _represent(net, obs))

    def policy_logits(params, timestep: TimeStep):
        """The acting policy pi(.|s): the policy head on the representation, illegal actions masked."""
        logits = _policy_logits(params, timestep.observation)
        return masked_logits(logits, timestep.legal_action_mask) if masked else logits

    def act(params, actor_state, timestep: TimeStep, key):
        logits = policy_logits(params, timestep)
        action = jax.random.categorical(key, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
        return action, actor_state, {"log_prob": log_prob}

    def eval_act(params, actor_state, timestep: TimeStep, key):
        del key
        return jnp.argmax(policy_logits(params, timestep), -1), actor_state, {}

    # -- targets from the target network ----------------------------------------------------
    def _targets(state: MuesliState, ts: TimeStep, action, log_prob, key):
        obs = ts.observation
        flat = target_stats(state.target_params, obs.reshape((-1,) + obs.shape[2:]), discount_scale, support)
        prior, v, q = (x.reshape(obs.shape[:2] + x.shape[1:]) for x in flat)  # [T+1, N, ...]
        if masked:  # pi_prior, and so pi_cmpo, Retrace's E_pi and the sampled estimator, on legal actions only
            prior = masked_logits(prior, ts.legal_action_mask)
        discount = discount_scale * ts.discount * (1.0 - ts.last.astype(jnp.float32))  # [T+1, N]; index j: into j
        pi = jax.nn.softmax(prior)
        G = retrace_returns(q, action, ts.reward, discount, pi, jnp.exp(log_prob), c.retrace_lambda)
        adv = G - v[:T - 1]
        var_m = c.adv_scale_decay * state.adv_var + (1 - c.adv_scale_decay) * pmean(jnp.mean(adv ** 2), axis_name)
        var_n = c.adv_scale_decay * state.adv_norm + (1 - c.adv_scale_decay)
        sigma = jnp.sqrt(var_m / var_n) + 1e-3
        cmpo = cmpo_policy(prior, (q - v[..., None]) / sigma, c.cmpo_clip)  # [T+1, N, A]
        return {"prior": prior, "v": v, "q": q, "G": G, "adv": adv / sigma, "cmpo": cmpo, "sigma": sigma,
                "cmpo_adv": (q - v[..., None]) / sigma}, (var_m, var_n)

    def update(state: MuesliState, traj: Trajectory, key):
        replay_key, cmpo_key = jax.random.split(key)
        replay, ts, action, log_prob = online_and_replayed(buffer, state.replay, replay_item(traj), n_replay, replay_key)
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
            out = model_outputs(net, ts.observation, action, K)
            outputs = {**out, "logits": out["logits"][:T - 1], "value_logits": out["value_logits"][:T - 1]}
            if masked:  # log pi(a|s) and the CMPO cross-entropy of the masked policy that acts
                outputs["logits"] = masked_logits(outputs["logits"], ts.legal_action_mask[:T - 1])
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

    agent = Agent(init, lambda b: (), act, eval_act, update, c.num_envs, c.unroll_length, replica_local)
    return MuesliParts(agent, _targets, policy_logits)
