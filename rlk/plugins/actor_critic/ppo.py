"""PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms") on the Agent contract.

Clipped surrogate (eq. 7), GAE(lambda) advantages (Schulman et al. 2016, via rlax), several epochs
of minibatch SGD per rollout. Defaults follow the classic-control settings of CleanRL/PureJaxRL
(gamma 0.99, lambda 0.95, clip 0.2, 4 epochs x 4 minibatches, Adam 2.5e-4 annealed,
grad-norm 0.5), with more parallel environments than the paper's Table 3 so a 2-core CPU is busy.

Discrete actions use a categorical policy over the actor's logits. Continuous actions (a
``BoxSpec``) use a diagonal Gaussian with a learned state-independent log-std (paper, section 6.1;
``networks.GaussianActorCritic``): ``act`` samples unclipped actions and records the log-probability
of that unclipped sample, ``eval_act`` returns the mean, and the environment clips to its bounds.
The losses see ``log_prob`` and ``entropy`` in their ``outputs`` either way.

Optional HiMo (Guez et al. 2020, ``rlk.plugins.hindsight_value``; ``-o agent.himo.phi_size=3`` or
``-o 'agent.himo={}'``): the value used for acting, GAE bootstrapping and the ``ppo_value`` loss becomes
``v_m(x, stop_grad(phi_hat(x)))``, and the hindsight-value and model losses are added with the
``himo`` weights (the critic MLP is then unused). Without ``himo`` (the default) nothing changes.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, Optional

import jax
import jax.numpy as jnp
import rlax
from pydantic import Field

from rlk.core import losses as core_losses
from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent
from rlk.core.parallel import pmean
from rlk.learn.optim import OptimConfig, make_optimiser
from rlk.learn.sgd import SGDState, sgd_step
from rlk.core.types import DiscreteSpec, EnvSpec, TimeStep, Trajectory
from rlk.nn import shuffle
from rlk.plugins.actor_critic.networks import Categorical, apply_batch, make_actor_critic, policy_and_value
from rlk.plugins.hindsight_value import himo as himo_lib


class PPOConfig(OptimConfig):
    """PPO's options; the optimiser's (``rlk.learn.OptimConfig``) with CleanRL's classic-control values:
    Adam (eps 1e-5), global-norm clip 0.5; ``-o agent.lr_schedule=linear`` anneals to 0 over ``lr_decay_updates``."""

    num_envs: int = Field(64, gt=0, description="parallel environments (global batch, split over devices)")
    unroll_length: int = Field(16, gt=0, description="steps per environment per update")
    learning_rate: float = Field(2.5e-3, gt=0, description="Adam step size")
    gamma: float = Field(0.99, ge=0, le=1, description="discount")
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE lambda")
    clip_eps: float = Field(0.2, gt=0, description="PPO clip epsilon (also clips the value)")
    num_epochs: int = Field(4, gt=0, description="epochs of SGD per rollout")
    num_minibatches: int = Field(4, gt=0, description="minibatches per epoch")
    max_grad_norm: Optional[float] = Field(0.5, gt=0, description="global gradient-norm clip")
    adam_eps: float = Field(1e-5, gt=0, description="Adam epsilon (CleanRL/PureJaxRL)")
    normalize_advantages: bool = Field(True, description="normalise advantages per minibatch")
    hidden_sizes: tuple[int, ...] = Field((64, 64), description="MLP hidden sizes (actor and critic)")
    torso: Literal["auto", "mlp", "dqn", "nature", "impala", "minatar"] = Field("mlp", description="mlp, or a convolutional torso for pixels: dqn, nature, impala, minatar (rlk.nn.conv); auto: nature for images of 32+ pixels, else mlp (default mlp: on a CPU a CNN makes Atari training and its greedy evaluation ~10x slower)")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"ppo_policy": 1.0, "ppo_value": 0.5, "entropy": 0.01},
        description="named losses and their weights (any registered loss may be added)",
    )
    himo: Optional[himo_lib.HiMoConfig] = Field(
        None, description="value-driven hindsight modelling (Guez et al. 2020); None: plain PPO")


class PPOState(NamedTuple):
    params: Any
    opt_state: Any
    updates: jax.Array


def gae_advantages(params, traj: Trajectory, config: PPOConfig) -> tuple[jax.Array, jax.Array]:
    """GAE(lambda) advantages and value targets ``[T, B]`` (Schulman et al. 2016, eq. 16).

    The trace is cut wherever an episode ended (terminated or truncated): the discount is
    ``gamma * discount_t * (1 - last_t)``, which treats a time-limit truncation as a termination,
    as PureJaxRL and CleanRL do.
    """
    if isinstance(params, dict):  # HiMo: bootstrap from v_m(x, phi_hat(x))
        bootstrap = himo_lib.model_value(params["himo"], traj.timestep.observation[-1])
    else:
        _, bootstrap = apply_batch(params, traj.timestep.observation[-1])
    values = jnp.concatenate([traj.extras["value"], bootstrap[None]], axis=0)
    ts = traj.timestep
    discount = config.gamma * ts.discount[1:] * (1.0 - ts.last[1:].astype(jnp.float32))
    gae = jax.vmap(
        lambda r, d, v: rlax.truncated_generalized_advantage_estimation(r, d, config.gae_lambda, v),
        in_axes=1, out_axes=1,
    )(ts.reward[1:], discount, values)
    return gae, gae + values[:-1]


def make_ppo(config: PPOConfig, spec: EnvSpec, axis_name: Optional[str] = None, loss_lookup=None) -> Agent:
    """Builds PPO's pure functions for ``spec``; ``axis_name`` averages gradients over replicas."""
    c = config
    if (c.num_envs * c.unroll_length) % c.num_minibatches:
        raise RlkError(f"agent.num_minibatches={c.num_minibatches} must divide num_envs * unroll_length "
                       f"= {c.num_envs * c.unroll_length}")
    weights = dict(c.loss_weights)
    if c.himo is not None:
        weights["himo_hindsight_value"] = c.himo.hindsight_value_weight
        weights["himo_model"] = c.himo.model_weight
    total_loss = core_losses.compose(weights, loss_lookup or core_losses.registry_lookup)
    optimiser = make_optimiser(c, steps_per_update=c.num_epochs * c.num_minibatches)

    def init(key: jax.Array) -> PPOState:
        params = make_actor_critic(key, spec, c.hidden_sizes, "ppo", continuous=True, torso=c.torso)
        if c.himo is not None:
            params = {"ac": params, "himo": himo_lib.init_heads(jax.random.fold_in(key, 1), spec.observation.shape, c.himo)}
        return PPOState(params, optimiser.init(params), jnp.int32(0))

    def initial_actor_state(batch_size: int) -> tuple:
        del batch_size
        return ()

    def _policy(params, timestep: TimeStep):
        if c.himo is not None:
            dist, _ = policy_and_value(params["ac"], timestep.observation, timestep.legal_action_mask)
            return dist, himo_lib.model_value(params["himo"], timestep.observation)
        return policy_and_value(params, timestep.observation, timestep.legal_action_mask)

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

    def loss_fn(params, batch: dict):
        dist, value = _policy(params, batch["timestep"])
        adv = batch["advantage"]
        if c.normalize_advantages:
            mean = pmean(jnp.mean(adv), axis_name)
            var = pmean(jnp.mean(jnp.square(adv - mean)), axis_name)
            adv = (adv - mean) / (jnp.sqrt(var) + 1e-8)
        outputs = {"value": value, "log_prob": dist.log_prob(_flat_action(batch["action"])), "entropy": dist.entropy()}
        if c.himo is not None:
            outputs.update(himo_lib.himo_outputs(params["himo"], batch["timestep"].observation, batch["future_observation"]))
            outputs["value"] = outputs["himo_v_m"]
        if isinstance(dist, Categorical):
            outputs["logits"] = dist.logits
        loss, metrics = total_loss(outputs, {**batch, "advantage": adv}, c)
        if not isinstance(dist, Categorical):
            metrics = {**metrics, "policy_std": jnp.mean(jnp.exp(dist.log_std))}
        return loss, metrics

    minibatch_step = sgd_step(loss_fn, optimiser, axis_name)

    def update(state: PPOState, traj: Trajectory, key: jax.Array):
        adv, target = gae_advantages(state.params, traj, c)
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
        }
        if c.himo is not None:  # phi_t reads x_{t+k} of the same episode (hindsight, training only)
            index = himo_lib.future_index(traj.timestep.last, c.himo.horizon)
            data["future_observation"] = flat(himo_lib.gather_future(traj.timestep.observation, index))
        n_mb = c.num_minibatches

        def epoch(sgd: SGDState, epoch_key):
            perm = shuffle.permutation(epoch_key, T * B)  # top_k, not a sort: ~7% of an update on CPU
            shuffled = jax.tree.map(lambda x: x[perm].reshape((n_mb, -1) + x.shape[1:]), data)
            return jax.lax.scan(minibatch_step, sgd, shuffled)

        sgd, metrics = jax.lax.scan(epoch, SGDState(state.params, state.opt_state), jax.random.split(key, c.num_epochs))
        metrics = pmean(jax.tree.map(jnp.mean, metrics), axis_name)
        return PPOState(sgd.params, sgd.opt_state, state.updates + 1), metrics

    return Agent(init, initial_actor_state, act, eval_act, update, c.num_envs, c.unroll_length)
