"""IMPALA's V-trace actor-critic (Espeholt et al. 2018) on the Agent contract.

Off-policy corrected value targets and policy-gradient advantages from ``rlax.vtrace_td_error_and_advantage``
(eq. 1 and the policy-gradient term of section 4.2), one gradient step per trajectory batch.
Defaults after the paper's Table G.1 (unroll 20, discount 0.99, entropy 0.01, baseline 0.5,
rho and c clipped at 1), with Adam in place of RMSProp.

Optional HiMo (Guez et al. 2020, ``rlk.plugins.hindsight_value``; ``-o agent.himo.phi_size=3``): the value
bootstrapped by V-trace and regressed by the ``value`` loss becomes ``v_m(x, stop_grad(phi_hat(x)))``,
v+ regresses on the same V-trace targets, and the model loss is added (weights in ``himo``).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, Optional

import jax
import jax.numpy as jnp
import rlax
from pydantic import Field

from rlk.core import losses as core_losses
from rlk.core.interfaces import Agent
from rlk.core.parallel import pmean
from rlk.learn.optim import OptimConfig, make_optimiser
from rlk.learn.sgd import SGDState, sgd_step
from rlk.core.types import EnvSpec, TimeStep, Trajectory
from rlk.plugins.actor_critic.networks import apply_batch, make_actor_critic, masked_logits
from rlk.plugins.hindsight_value import himo as himo_lib


class VTraceConfig(OptimConfig):
    """V-trace's options; the optimiser's (``rlk.learn.OptimConfig``): Adam, global-norm clip 40."""

    num_envs: int = Field(64, gt=0, description="parallel environments (global batch)")
    unroll_length: int = Field(20, gt=0, description="steps per trajectory (IMPALA: 20)")
    learning_rate: float = Field(2e-3, gt=0, description="Adam step size (tuned on Catch)")
    gamma: float = Field(0.99, ge=0, le=1, description="discount")
    vtrace_lambda: float = Field(1.0, ge=0, le=1, description="V-trace lambda")
    clip_rho_threshold: float = Field(1.0, gt=0, description="rho-bar")
    clip_pg_rho_threshold: float = Field(1.0, gt=0, description="clip of the policy-gradient rho")
    max_grad_norm: Optional[float] = Field(40.0, gt=0, description="global gradient-norm clip")
    hidden_sizes: tuple[int, ...] = Field((64, 64), description="MLP hidden sizes (actor and critic)")
    torso: Literal["auto", "mlp", "dqn", "nature", "impala", "minatar"] = Field("mlp", description="mlp, or a convolutional torso for pixels: dqn, nature, impala, minatar (rlk.nn.conv); auto: nature for images of 32+ pixels, else mlp (default mlp: on a CPU a CNN makes Atari training and its greedy evaluation ~10x slower)")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"policy_gradient": 1.0, "value": 0.5, "entropy": 0.01},
        description="named losses and their weights",
    )
    himo: Optional[himo_lib.HiMoConfig] = Field(
        None, description="value-driven hindsight modelling (Guez et al. 2020); None: plain V-trace")


class VTraceState(NamedTuple):
    params: Any
    opt_state: Any
    updates: jax.Array


def make_vtrace(config: VTraceConfig, spec: EnvSpec, axis_name: Optional[str] = None, loss_lookup=None) -> Agent:
    c = config
    weights = dict(c.loss_weights)
    if c.himo is not None:
        weights["himo_hindsight_value"] = c.himo.hindsight_value_weight
        weights["himo_model"] = c.himo.model_weight
    total_loss = core_losses.compose(weights, loss_lookup or core_losses.registry_lookup)
    optimiser = make_optimiser(c)

    def init(key):
        params = make_actor_critic(key, spec, c.hidden_sizes, "vtrace", torso=c.torso)
        if c.himo is not None:
            params = {"ac": params, "himo": himo_lib.init_heads(jax.random.fold_in(key, 1), spec.observation.shape, c.himo)}
        return VTraceState(params, optimiser.init(params), jnp.int32(0))

    def _policy(params, timestep: TimeStep):
        if c.himo is not None:
            logits, _ = apply_batch(params["ac"], timestep.observation)
            value = himo_lib.model_value(params["himo"], timestep.observation)
        else:
            logits, value = apply_batch(params, timestep.observation)
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

    def loss_fn(params, traj: Trajectory):
        T, B = traj.action.shape[:2]
        flat_ts = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), traj.timestep._replace(info={}))
        logits, values = _policy(params, flat_ts)
        logits = logits.reshape((T + 1, B, -1))[:-1]
        values = values.reshape((T + 1, B))
        ts = traj.timestep
        log_pi = jnp.take_along_axis(jax.nn.log_softmax(logits), traj.action[..., None], -1)[..., 0]
        rho = jnp.exp(jax.lax.stop_gradient(log_pi) - traj.extras["log_prob"])
        discount = c.gamma * ts.discount[1:] * (1.0 - ts.last[1:].astype(jnp.float32))
        vt = jax.vmap(
            lambda v_tm1, v_t, r, d, rh: rlax.vtrace_td_error_and_advantage(
                v_tm1, v_t, r, d, rh, c.vtrace_lambda, c.clip_rho_threshold, c.clip_pg_rho_threshold),
            in_axes=1, out_axes=1,
        )(jax.lax.stop_gradient(values[:-1]), jax.lax.stop_gradient(values[1:]), ts.reward[1:], discount, rho)
        value_target = jax.lax.stop_gradient(values[:-1]) + vt.errors
        outputs = {"logits": logits.reshape((T * B, -1)), "value": values[:-1].reshape(-1)}
        if c.himo is not None:  # phi_t reads x_{t+k} of the same episode (hindsight, training only)
            future = himo_lib.gather_future(ts.observation, himo_lib.future_index(ts.last, c.himo.horizon))
            flat = lambda x: x.reshape((T * B,) + x.shape[2:])
            outputs.update(himo_lib.himo_outputs(params["himo"], flat(ts.observation[:-1]), flat(future)))
        batch = {"action": traj.action.reshape(-1), "advantage": vt.pg_advantage.reshape(-1),
                 "value_target": value_target.reshape(-1)}
        loss, metrics = total_loss(outputs, batch, c)
        return loss, {**metrics, "mean_rho": jnp.mean(rho)}

    gradient_step = sgd_step(loss_fn, optimiser, axis_name)

    def update(state: VTraceState, traj: Trajectory, key):
        del key
        sgd, metrics = gradient_step(SGDState(state.params, state.opt_state), traj)
        return VTraceState(sgd.params, sgd.opt_state, state.updates + 1), pmean(metrics, axis_name)

    return Agent(init, lambda b: (), act, eval_act, update, c.num_envs, c.unroll_length)
