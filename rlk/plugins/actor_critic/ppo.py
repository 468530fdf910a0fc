"""PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms") on the Agent contract.

Clipped surrogate (eq. 7), GAE(lambda) advantages (Schulman et al. 2016, via rlax), several epochs
of minibatch SGD per rollout. Defaults follow the classic-control settings of CleanRL/PureJaxRL
(gamma 0.99, lambda 0.95, clip 0.2, 4 epochs x 4 minibatches, Adam, grad-norm 0.5), with more
parallel environments than the paper's Table 3 so a 2-core CPU is busy.

Discrete actions use a categorical policy over the actor's logits. Continuous actions (a
``BoxSpec``) use a diagonal Gaussian with a learned state-independent log-std (paper, section 6.1;
``networks.GaussianActorCritic``): ``act`` samples unclipped actions and records the log-probability
of that unclipped sample, ``eval_act`` returns the mean, and the environment clips to its bounds.

The losses are the run's ``LossSet`` (``agent.loss_weights``); PPO feeds ``PolicyInputs``,
``ValueInputs``, ``ClippedValueInputs`` and ``StateInputs``. A loss that offers a value function (HiMo's
``v_m``) replaces the critic for acting, GAE bootstrapping and the value losses.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import rlax

from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent
from rlk.core.losses import ClippedValueInputs, LossSet, PolicyInputs, StateInputs, ValueInputs
from rlk.core.parallel import pmean
from rlk.core.types import DiscreteSpec, EnvSpec, TimeStep, Trajectory
from rlk.learn.optim import make_optimiser
from rlk.learn.sgd import SGDState, sgd_step
from rlk.nn import shuffle
from rlk.plugins.actor_critic.config import PPOConfig
from rlk.plugins.actor_critic.networks import ActorCriticParams, Gaussian, apply_batch, make_actor_critic, policy_and_value, policy_network


class PPOState(NamedTuple):
    params: ActorCriticParams
    opt_state: Any
    updates: jax.Array


def gae_advantages(values: jax.Array, traj: Trajectory, gamma: float, lambda_: float) -> tuple[jax.Array, jax.Array]:
    """GAE(lambda) advantages and value targets ``[T, B]`` (Schulman et al. 2016, eq. 16) from
    ``values [T+1, B]`` of the trajectory's observations.

    The trace is cut wherever an episode ended (terminated or truncated): the discount is
    ``gamma * discount_t * (1 - last_t)``, which treats a time-limit truncation as a termination,
    as PureJaxRL and CleanRL do.
    """
    ts = traj.timestep
    discount = gamma * ts.discount[1:] * (1.0 - ts.last[1:].astype(jnp.float32))
    gae = jax.vmap(
        lambda r, d, v: rlax.truncated_generalized_advantage_estimation(r, d, lambda_, v),
        in_axes=1, out_axes=1,
    )(ts.reward[1:], discount, values)
    return gae, gae + values[:-1]


def make_ppo(config: PPOConfig, spec: EnvSpec, axis_name: Optional[str], losses: LossSet) -> Agent:
    """Builds PPO's pure functions for ``spec``; ``axis_name`` averages gradients over replicas."""
    c = config
    if (c.num_envs * c.unroll_length) % c.num_minibatches:
        raise RlkError(f"agent.num_minibatches={c.num_minibatches} must divide num_envs * unroll_length "
                       f"= {c.num_envs * c.unroll_length}")
    optimiser = make_optimiser(c, steps_per_update=c.num_epochs * c.num_minibatches)
    offered_value = losses.value

    def init(key: jax.Array) -> PPOState:
        net = make_actor_critic(key, spec, c.hidden_sizes, "ppo", continuous=True, torso=c.torso)
        params = ActorCriticParams(net, losses.init(key, spec))
        return PPOState(params, optimiser.init(params), jnp.int32(0))

    def _policy(params: ActorCriticParams, timestep: TimeStep):
        dist, value = policy_and_value(params.net, timestep.observation, timestep.legal_action_mask)
        if offered_value is not None:
            value = offered_value(params.losses, timestep.observation)
        return dist, value

    def _value(params: ActorCriticParams, observation: jax.Array) -> jax.Array:
        if offered_value is not None:
            return offered_value(params.losses, observation)
        return apply_batch(params.net, observation)[1]

    def _env_action(flat: jax.Array) -> jax.Array:
        """Flat Gaussian samples ``[N, D]`` in the environment's action shape ``[N, *shape]``."""
        return flat if isinstance(spec.action, DiscreteSpec) else flat.reshape(flat.shape[:1] + tuple(spec.action.shape))

    def _flat_action(action: jax.Array) -> jax.Array:
        return action if isinstance(spec.action, DiscreteSpec) else action.reshape(action.shape[0], -1)

    def act(params, actor_state, timestep: TimeStep, key: jax.Array):
        dist, value = _policy(params, timestep)
        action = dist.sample(key)
        log_prob = dist.log_prob(action)  # of the unclipped sample; the environment clips
        return _env_action(action), actor_state, {"log_prob": log_prob, "value": value}

    def eval_act(params, actor_state, timestep: TimeStep, key: jax.Array):
        del key
        dist, _ = _policy(params, timestep)
        return _env_action(dist.mode()), actor_state, {}

    def loss_fn(params: ActorCriticParams, batch: dict):
        dist, value = _policy(params, batch["timestep"])
        adv = batch["advantage"]
        if c.normalize_advantages:
            # the first two moments in one collective (one all-reduce per minibatch, not two)
            mean, mean_square = pmean((jnp.mean(adv), jnp.mean(jnp.square(adv))), axis_name)
            var = jnp.maximum(mean_square - jnp.square(mean), 0.0)
            adv = (adv - mean) / (jnp.sqrt(var) + 1e-8)
        target = batch["value_target"]
        inputs = {
            PolicyInputs: PolicyInputs(dist.log_prob(_flat_action(batch["action"])), dist.entropy(),
                                       batch["behaviour_log_prob"], adv),
            ValueInputs: ValueInputs(value, target),
            ClippedValueInputs: ClippedValueInputs(value, target, batch["behaviour_value"]),
            StateInputs: StateInputs(batch["timestep"].observation, target),
        }
        loss, metrics = losses(params.losses, inputs, batch["prepared"])
        if isinstance(dist, Gaussian):
            metrics = {**metrics, "policy_std": jnp.mean(jnp.exp(dist.log_std))}
        return loss, metrics

    minibatch_step = sgd_step(loss_fn, optimiser, axis_name)

    def update(state: PPOState, traj: Trajectory, key: jax.Array):
        values = jnp.concatenate([traj.extras["value"], _value(state.params, traj.timestep.observation[-1])[None]], 0)
        adv, target = gae_advantages(values, traj, c.gamma, c.gae_lambda)
        T, B = traj.action.shape[:2]
        flat = lambda x: x.reshape((T * B,) + x.shape[2:])
        data = {
            # only what the policy reads is shuffled into minibatches (each field costs a gather)
            "timestep": jax.tree.map(lambda x: flat(x[:-1]), TimeStep(
                traj.timestep.observation, None, None, None, traj.timestep.legal_action_mask)),
            "action": flat(traj.action),
            "behaviour_log_prob": flat(traj.extras["log_prob"]),
            "behaviour_value": flat(traj.extras["value"]),
            "advantage": flat(adv),
            "value_target": flat(target),
            "prepared": jax.tree.map(flat, losses.prepare(traj)),  # e.g. HiMo's future observations
        }
        n_mb = c.num_minibatches

        def epoch(sgd: SGDState, epoch_key):
            perm = shuffle.permutation(epoch_key, T * B)  # top_k, not a sort: ~7% of an update on CPU
            shuffled = jax.tree.map(lambda x: x[perm].reshape((n_mb, -1) + x.shape[1:]), data)
            return jax.lax.scan(minibatch_step, sgd, shuffled)

        sgd, metrics = jax.lax.scan(epoch, SGDState(state.params, state.opt_state), jax.random.split(key, c.num_epochs))
        metrics = pmean(jax.tree.map(jnp.mean, metrics), axis_name)
        return PPOState(sgd.params, sgd.opt_state, state.updates + 1), metrics

    return Agent(init, lambda batch_size: (), act, eval_act, update, c.num_envs, c.unroll_length,
                 policy_network=lambda params: policy_network(params.net, spec, c.torso, c.hidden_sizes))
