"""IMPALA's V-trace actor-critic (Espeholt et al. 2018) on the Agent contract.

Off-policy corrected value targets and policy-gradient advantages from ``rlax.vtrace_td_error_and_advantage``
(eq. 1 and the policy-gradient term of section 4.2), one gradient step per trajectory batch.
Defaults after the paper's Table G.1 (unroll 20, discount 0.99, entropy 0.01, baseline 0.5,
rho and c clipped at 1), with Adam in place of RMSProp.

The losses are the run's ``LossSet`` (``agent.loss_weights``); V-trace feeds ``PolicyInputs`` (the
advantage is V-trace's policy-gradient advantage), ``ValueInputs`` (the V-trace targets) and
``StateInputs``. A loss that offers a value function (HiMo's ``v_m``) replaces the critic.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import rlax

from rlk.core.interfaces import Agent
from rlk.core.losses import LossSet, PolicyInputs, StateInputs, ValueInputs
from rlk.core.parallel import pmean
from rlk.core.types import EnvSpec, TimeStep, Trajectory
from rlk.learn.optim import make_optimiser
from rlk.learn.sgd import SGDState, sgd_step
from rlk.nn.masking import masked_logits
from rlk.plugins.actor_critic.config import VTraceConfig
from rlk.plugins.actor_critic.networks import ActorCriticParams, Categorical, apply_batch, make_actor_critic, policy_network


class VTraceState(NamedTuple):
    params: ActorCriticParams
    opt_state: Any
    updates: jax.Array


def make_vtrace(config: VTraceConfig, spec: EnvSpec, axis_name: Optional[str], losses: LossSet) -> Agent:
    c = config
    optimiser = make_optimiser(c)
    offered_value = losses.value

    def init(key):
        net = make_actor_critic(key, spec, c.hidden_sizes, "vtrace", torso=c.torso)
        params = ActorCriticParams(net, losses.init(key, spec))
        return VTraceState(params, optimiser.init(params), jnp.int32(0))

    def _policy(params: ActorCriticParams, timestep: TimeStep):
        logits, value = apply_batch(params.net, timestep.observation)
        if offered_value is not None:
            value = offered_value(params.losses, timestep.observation)
        return masked_logits(logits, timestep.legal_action_mask), value

    def act(params, actor_state, timestep, key):
        logits, _ = _policy(params, timestep)
        action = jax.random.categorical(key, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
        return action, actor_state, {"log_prob": log_prob}

    def eval_act(params, actor_state, timestep, key):
        del key
        logits, _ = _policy(params, timestep)
        return jnp.argmax(logits, -1), actor_state, {}

    def loss_fn(params: ActorCriticParams, traj: Trajectory, prepared: dict):
        T, B = traj.action.shape[:2]
        flat_ts = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), traj.timestep._replace(info={}))
        logits, values = _policy(params, flat_ts)
        logits = logits.reshape((T + 1, B, -1))[:-1]
        values = values.reshape((T + 1, B))
        ts = traj.timestep
        pi = Categorical(logits)
        log_pi = pi.log_prob(traj.action)
        rho = jnp.exp(jax.lax.stop_gradient(log_pi) - traj.extras["log_prob"])
        discount = c.gamma * ts.discount[1:] * (1.0 - ts.last[1:].astype(jnp.float32))
        vt = jax.vmap(
            lambda v_tm1, v_t, r, d, rh: rlax.vtrace_td_error_and_advantage(
                v_tm1, v_t, r, d, rh, c.vtrace_lambda, c.clip_rho_threshold, c.clip_pg_rho_threshold),
            in_axes=1, out_axes=1,
        )(jax.lax.stop_gradient(values[:-1]), jax.lax.stop_gradient(values[1:]), ts.reward[1:], discount, rho)
        value_target = jax.lax.stop_gradient(values[:-1]) + vt.errors
        flat = lambda x: x.reshape((T * B,) + x.shape[2:])
        inputs = {
            PolicyInputs: PolicyInputs(flat(log_pi), flat(pi.entropy()), flat(traj.extras["log_prob"]), flat(vt.pg_advantage)),
            ValueInputs: ValueInputs(flat(values[:-1]), flat(value_target)),
            StateInputs: StateInputs(flat(ts.observation[:-1]), flat(value_target)),
        }
        loss, metrics = losses(params.losses, inputs, jax.tree.map(flat, prepared))
        return loss, {**metrics, "mean_rho": jnp.mean(rho)}

    gradient_step = sgd_step(loss_fn, optimiser, axis_name)

    def update(state: VTraceState, traj: Trajectory, key):
        del key
        sgd, metrics = gradient_step(SGDState(state.params, state.opt_state), traj, losses.prepare(traj))
        return VTraceState(sgd.params, sgd.opt_state, state.updates + 1), pmean(metrics, axis_name)

    return Agent(init, lambda batch_size: (), act, eval_act, update, c.num_envs, c.unroll_length,
                 policy_network=lambda params: policy_network(params.net, spec, c.torso, c.hidden_sizes))
