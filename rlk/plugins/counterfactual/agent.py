"""The CCA policy-gradient agent (Mesnard et al. 2021, arXiv 2011.09464) on the Agent contract,
and its control, the policy gradient with a state baseline, as the same agent with other losses.

One update per unroll (A2C-style, as the paper's illustrative experiments): Monte-Carlo returns
``G_t`` within the unroll (bootstrapped from the state value at its end where an episode is cut;
with ``unroll_length`` = the episode length, the default, every unroll is whole episodes), the
backward hindsight GRU over the unroll, then one gradient step (``rlk.learn.sgd_step``) on the run's
``LossSet``; CCA feeds ``PolicyInputs``, ``ValueInputs`` (``rlk.core.losses``) and ``CCAInputs``:

- ``cca`` (default): ``cca_policy`` (CCA-PG), ``cca_fc_critic``, ``cca_hindsight_classifier``,
  ``cca_independence`` (weight ``lambda``), plus the state value (for bootstrapping) and an entropy
  bonus. ``cca_fc_value`` (``V(X, Phi)``) is left out by default: CCA-PG does not use it, and its
  regression target depends on the action, so it teaches ``Phi`` to encode the action (measured
  on the bandit, README). Add it, with ``cca_fc_policy``, for FC-PG.
- ``pg_baseline``: ``policy_gradient`` with advantage ``G_t - V(X_t)``, ``value``, ``entropy``
  (the actor_critic plugin's losses, by name).

Stop-gradients route each loss to its parameters: the classifier sees ``sg(Phi)``; the independence
loss sees ``Phi`` through a classifier with stopped parameters and a stopped policy; the policy
losses see stopped critics; ``V(X, Phi)`` and ``Q(X, Phi, .)`` train ``Phi`` (it learns what in the
future predicts the return).

Two options beyond the paper's CCA-PG (README, round 3): ``critic_weighting='hindsight'`` weights the
all-action term by the hindsight classifier (``losses.cca_surrogate``: unbiased for any ``Phi`` when
``h`` is the true posterior), and ``hindsight_inputs='innovations'``/``'reward_innovations'`` feeds the
GRU the prediction errors of a one-step model ``m(X_t, A_t)`` (``hindsight_innovations``), so that
``Phi`` is mean-independent of the action by construction (not in the paper).

Hyperparameters are chosen for the small CPU experiments of this plugin (README), not copied
from the paper's tables (its agents are IMPALA-style with LSTMs and larger environments).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import rlax

from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent
from rlk.core.losses import LossSet, PolicyInputs, ValueInputs
from rlk.core.parallel import pmean, psum
from rlk.core.types import DiscreteSpec, EnvSpec, TimeStep, Trajectory
from rlk.learn.optim import make_optimiser
from rlk.learn.sgd import SGDState, sgd_step
from rlk.plugins.counterfactual.config import CCAConfig, CCAInputs
from rlk.plugins.counterfactual.losses import entropy, hindsight_classifier_loss, log_prob, sg
from rlk.plugins.counterfactual.networks import CCANetwork, hindsight_statistic, make_network


class CCAState(NamedTuple):
    params: CCANetwork
    opt_state: Any
    classifier_opt_state: Any
    updates: jax.Array
    model_stats: Any = ()  # model_fit='least_squares': running sums (sum z z^T, sum z y^T), z = [X; onehot(A); 1]


def param_labels(params: CCANetwork, separate_model: bool = False) -> CCANetwork:
    """The optimiser group of every parameter: 'hindsight' (the GRU), 'classifier' (h, trained by its own
    optimiser), 'model' (the one-step model m, with ``separate_model``) or 'main' (the rest)."""
    group = {"hindsight": "hindsight", "classifier": "classifier", **({"model": "model"} if separate_model else {})}
    return CCANetwork(**{f: jax.tree.map(lambda _, g=group.get(f, "main"): g, getattr(params, f))
                         for f in CCANetwork.__dataclass_fields__})


def discounted_returns(reward: jax.Array, discount: jax.Array, bootstrap: jax.Array) -> jax.Array:
    """``G_t [T, B]`` = ``r_{t+1} + discount_t G_{t+1}``, ``G_T = bootstrap [B]`` (rlax, per column)."""
    boot = jnp.broadcast_to(bootstrap[None], reward.shape)
    return jax.vmap(rlax.discounted_returns, in_axes=1, out_axes=1)(reward, discount, boot)


def hindsight_features(ts: TimeStep, hindsight_inputs: str = "all") -> tuple[jax.Array, jax.Array]:
    """What the hindsight GRU reads after each action: ``(features [T, B, ...], rewards [T, B])``
    (``info['hindsight']`` or the next observation, and the reward; one of them zeroed by ``hindsight_inputs``)."""
    features = ts.info["hindsight"][1:] if "hindsight" in ts.info else ts.observation[1:]
    rewards = ts.reward[1:]
    if hindsight_inputs == "reward":
        features = jnp.zeros_like(features)
    elif hindsight_inputs == "features":
        rewards = jnp.zeros_like(rewards)
    return features, rewards


def model_io(net: CCANetwork, ts: TimeStep, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The one-step model's inputs ``[X_t; onehot(A_t)]`` and targets ``y_{t+1} = [f_{t+1}; r_{t+1}]``,
    ``[T, B, D + A]`` and ``[T, B, F + 1]``."""
    features, rewards = hindsight_features(ts, "all")
    T, B = action.shape[:2]
    obs = ts.observation[:-1].reshape(T, B, -1).astype(jnp.float32)
    x_a = jnp.concatenate([obs, jax.nn.one_hot(action, net.model.layers[0].weight.shape[0] - obs.shape[-1])], -1)
    y = jnp.concatenate([features.reshape(T, B, -1).astype(jnp.float32), rewards[..., None]], -1)
    return x_a, y


def least_squares_stats(net: CCANetwork, ts: TimeStep, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(sum z z^T [d+1, d+1], sum z y^T [d+1, F+1])`` over the unroll's transitions, ``z = [X_t; onehot(A_t); 1]``
    and ``y`` the model's targets (``model_io``): the sufficient statistics of the linear model's least squares."""
    x_a, y = model_io(net, ts, action)
    z = x_a.reshape(-1, x_a.shape[-1])
    z = jnp.concatenate([z, jnp.ones((z.shape[0], 1), z.dtype)], -1)
    return z.T @ z, z.T @ y.reshape(z.shape[0], -1)


def least_squares_model(net: CCANetwork, stats: tuple[jax.Array, jax.Array], ridge: float) -> CCANetwork:
    """``net`` with its (linear) one-step model set to the ridge solution ``(Z^T Z + ridge I)^-1 Z^T Y``."""
    zz, zy = stats
    theta = jnp.linalg.solve(zz + ridge * jnp.eye(zz.shape[0], dtype=zz.dtype), zy)
    layer = net.model.layers[0]
    layer = eqx.tree_at(lambda l: (l.weight, l.bias), layer, (theta[:-1], theta[-1]))
    return eqx.tree_at(lambda n: n.model.layers[0], net, layer)


def hindsight_innovations(net: CCANetwork, ts: TimeStep, action: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(features [T, B, F], rewards [T, B], prediction [T, B, F + 1])``: what followed each action minus
    its one-step prediction ``sg m(X_t, A_t)`` (``hindsight_inputs='innovations'``; not in the paper).

    With ``y_{t+1} = [f_{t+1}; r_{t+1}]`` and ``m = E[y_{t+1} | X_t, A_t]``, the innovation
    ``e_{t'+1} = y_{t'+1} - m(X_{t'}, A_{t'})`` has ``E[e_{t'+1} | X_t, A_t] = 0`` for every ``t' >= t``
    (tower rule), so any statistic linear in the innovations is mean-independent of ``A_t`` given ``X_t``:
    the first-order leak that biases CCA-PG (README, point 3) is gone by construction, up to ``m``'s error.
    Deterministic consequences of the actions (Key-to-Door's moves, eaten apples' unit reward, the door)
    are predicted and drop out; the luck (apple noise, the bandit's ``eps``) stays.
    """
    x_a, y = model_io(net, ts, action)
    T, B = action.shape[:2]
    pred = net.model.batch(x_a.reshape(T * B, -1)).reshape(T, B, -1)
    e = y - sg(pred)
    return e[..., :-1], e[..., -1], pred


def hindsight_inputs_of(net: CCANetwork, ts: TimeStep, action: jax.Array, hindsight_inputs: str) -> tuple[jax.Array, jax.Array]:
    """What the hindsight GRU reads: ``hindsight_features`` or, for 'innovations', ``hindsight_innovations``."""
    if hindsight_inputs in INNOVATIONS:
        f, r, _ = hindsight_innovations(net, ts, action)
        return _drop_innovations(f, r, hindsight_inputs)
    return hindsight_features(ts, hindsight_inputs)


INNOVATIONS = ("innovations", "reward_innovations", "feature_innovations")


def _drop_innovations(features: jax.Array, rewards: jax.Array, hindsight_inputs: str) -> tuple[jax.Array, jax.Array]:
    """Zeroes the feature innovations ('reward_innovations') or the reward innovations ('feature_innovations')."""
    if hindsight_inputs == "reward_innovations":
        return jnp.zeros_like(features), rewards
    if hindsight_inputs == "feature_innovations":
        return features, jnp.zeros_like(rewards)
    return features, rewards


def forward(net: CCANetwork, traj: Trajectory, need_hindsight: bool, gamma: float,
            hindsight_inputs: str = "all", weight_classifier=None) -> dict[type, Any]:
    """The networks on an unroll, flattened to ``N = T * B`` steps: the losses' inputs by type.

    ``PolicyInputs`` (on-policy, one update per unroll: the behaviour log-probability is the current one,
    stopped; the advantage ``G_t - V(X_t)``), ``ValueInputs`` (``V(X_t)`` on ``G_t``) and, with
    ``need_hindsight``, ``CCAInputs``. ``weight_classifier`` (an MLP like ``net.classifier``, or None) adds
    ``hindsight_probs``, its stopped ``h(.|X_t, Phi_t)``, the weights of ``cca_policy``'s all-action term."""
    ts = traj.timestep
    T, B = traj.action.shape[:2]
    obs = ts.observation.reshape(T + 1, B, -1).astype(jnp.float32)
    flat_obs = obs[:-1].reshape(T * B, -1)
    logits = net.policy.batch(flat_obs)
    values = net.value.batch(obs.reshape((T + 1) * B, -1))[:, 0].reshape(T + 1, B)
    last = ts.last[1:]
    discount = gamma * ts.discount[1:] * (1.0 - last.astype(jnp.float32))
    returns = discounted_returns(ts.reward[1:], discount, sg(values[-1]))
    flat = lambda x: x.reshape((T * B,) + x.shape[2:])
    action, g = flat(traj.action), flat(returns)
    log_pi_a = log_prob(logits, action)
    inputs = {
        PolicyInputs: PolicyInputs(log_pi_a, entropy(logits), sg(log_pi_a), flat(sg(returns - values[:-1]))),
        ValueInputs: ValueInputs(flat(values[:-1]), g),
    }
    if not need_hindsight:
        return inputs
    model_pred = model_target = None
    if hindsight_inputs in INNOVATIONS:
        features, rewards, pred = hindsight_innovations(net, ts, traj.action)
        model_pred, model_target = flat(pred), flat(model_io(net, ts, traj.action)[1])
        features, rewards = _drop_innovations(features, rewards, hindsight_inputs)
    else:
        features, rewards = hindsight_features(ts, hindsight_inputs)
    phi = flat(hindsight_statistic(net.hindsight, features, rewards, last))
    x_phi = jnp.concatenate([flat_obs, phi], axis=-1)
    x_sg_phi = jnp.concatenate([flat_obs, sg(phi)], axis=-1)
    hindsight_probs = None
    if weight_classifier is not None:
        hindsight_probs = sg(jax.nn.softmax(weight_classifier.batch(x_sg_phi), -1))
    inputs[CCAInputs] = CCAInputs(
        logits, action, g, fc_value=net.fc_value.batch(x_phi)[:, 0], fc_q=net.fc_q.batch(x_phi),
        hindsight_logits=net.classifier.batch(x_sg_phi),
        independence_logits=jax.tree.map(sg, net.classifier).batch(x_phi),
        hindsight_probs=hindsight_probs, model_pred=model_pred, model_target=model_target)
    return inputs


def make_cca(config: CCAConfig, spec: EnvSpec, axis_name: Optional[str], losses: LossSet) -> Agent:
    """Builds the agent's pure functions for ``spec`` (discrete actions); the hindsight network and its
    heads only where a loss reads ``CCAInputs``."""
    c = config
    if not isinstance(spec.action, DiscreteSpec):
        raise RlkError(f"agent 'cca'/'pg_baseline' supports discrete actions only; env '{spec.name}' has "
                       f"{spec.action.kind} actions")
    owners = [name for name, _, loss in losses.terms if loss.init is not None]
    if owners:
        raise RlkError(f"agent 'cca'/'pg_baseline' does not train losses with parameters of their own: {', '.join(owners)}")
    unroll = c.unroll_length or spec.max_episode_steps
    need_hindsight = CCAInputs in losses.needs
    train_classifier = need_hindsight and "cca_hindsight_classifier" in {name for name, _, _ in losses.terms}
    least_squares = c.model_fit == "least_squares"
    if least_squares and c.model_hidden_sizes not in (None, ()):
        raise RlkError(f"agent.model_fit='least_squares' fits a linear model; agent.model_hidden_sizes must be "
                       f"unset or [], not {list(c.model_hidden_sizes)}")
    # one optimiser per parameter group, at its own step size, under one global clip
    group = lambda lr: make_optimiser(c.model_copy(update={"learning_rate": lr, "max_grad_norm": None}))
    groups = {"main": group(c.learning_rate), "hindsight": group(c.hindsight_learning_rate or c.learning_rate),
              "classifier": optax.set_to_zero()}  # trained by its own steps (classifier_update)
    if least_squares:  # set in closed form after each update, never by the optimiser
        groups["model"] = optax.set_to_zero()
    elif c.model_learning_rate is not None:  # its own group only when asked (the optimiser state is as before otherwise)
        groups["model"] = group(c.model_learning_rate)
    clip = [] if c.max_grad_norm is None else [optax.clip_by_global_norm(c.max_grad_norm)]
    optimiser = optax.chain(*clip, optax.multi_transform(
        groups, functools.partial(param_labels, separate_model=least_squares or c.model_learning_rate is not None)))
    classifier_optimiser = make_optimiser(c.model_copy(update={"learning_rate": c.classifier_learning_rate}),
                                          c.classifier_steps)
    obs_size = math.prod(spec.observation.shape)

    def init(key: jax.Array) -> CCAState:
        params = make_network(key, spec, obs_size, c.hidden_sizes, c.hindsight_size,
                              () if least_squares else c.model_hidden_sizes)
        stats = ()
        if least_squares:
            d = params.model.layers[0].weight.shape[0] + 1
            stats = (jnp.zeros((d, d), jnp.float32), jnp.zeros((d, params.model.layers[0].weight.shape[1]), jnp.float32))
            params = least_squares_model(params, stats, c.model_ridge)  # m = 0 until data arrives
        return CCAState(params, optimiser.init(params), classifier_optimiser.init(params.classifier), jnp.int32(0), stats)

    def _logits(params: CCANetwork, timestep: TimeStep) -> jax.Array:
        obs = timestep.observation
        return params.policy.batch(obs.reshape(obs.shape[0], -1).astype(jnp.float32))

    def act(params, actor_state, timestep: TimeStep, key: jax.Array):
        return jax.random.categorical(key, _logits(params, timestep)), actor_state, {}

    def eval_act(params, actor_state, timestep: TimeStep, key: jax.Array):
        del key
        return jnp.argmax(_logits(params, timestep), -1), actor_state, {}

    def loss_fn(params: CCANetwork, traj: Trajectory, weight_classifier, prepared: dict):
        inputs = forward(params, traj, need_hindsight, c.gamma, c.hindsight_inputs, weight_classifier)
        flat = lambda x: x.reshape((-1,) + x.shape[2:])
        loss, metrics = losses({}, inputs, jax.tree.map(flat, prepared))
        ended = traj.timestep.last[1:].astype(jnp.float32)
        # the reward of episode-ending transitions (Key-to-Door: the door; the bandit: the reward)
        metrics["terminal_reward"] = jnp.sum(traj.timestep.reward[1:] * ended) / jnp.maximum(jnp.sum(ended), 1.0)
        return loss, metrics

    gradient_step = sgd_step(loss_fn, optimiser, axis_name)
    classifier_step = sgd_step(lambda cls, x_phi, action: (hindsight_classifier_loss(cls.batch(x_phi), action)[0], {}),
                               classifier_optimiser, axis_name)

    def classifier_update(params: CCANetwork, cls_state, traj: Trajectory):
        """``classifier_steps`` steps of the classifier alone on the unroll (``Phi`` computed once)."""
        ts = traj.timestep
        T, B = traj.action.shape[:2]
        obs = ts.observation[:-1].reshape(T * B, -1).astype(jnp.float32)
        features, rewards = hindsight_inputs_of(params, ts, traj.action, c.hindsight_inputs)
        phi = sg(hindsight_statistic(params.hindsight, features, rewards, ts.last[1:])).reshape(T * B, -1)
        x_phi, action = jnp.concatenate([obs, phi], -1), traj.action.reshape(T * B)
        step = lambda sgd, _: (classifier_step(sgd, x_phi, action)[0], None)
        sgd, _ = jax.lax.scan(step, SGDState(params.classifier, cls_state), None, length=c.classifier_steps)
        return eqx.tree_at(lambda n: n.classifier, params, sgd.params), sgd.opt_state

    def update(state: CCAState, traj: Trajectory, key: jax.Array):
        del key
        params, cls_state = state.params, state.classifier_opt_state
        # the classifier before it sees this unroll: its h(.|X, Phi) does not depend on these actions
        weight_classifier = params.classifier if (need_hindsight and c.critic_weighting == "hindsight") else None
        if train_classifier:
            params, cls_state = classifier_update(params, cls_state, traj)
        sgd, metrics = gradient_step(SGDState(params, state.opt_state), traj, weight_classifier, losses.prepare(traj))
        params, stats = sgd.params, state.model_stats
        if least_squares:  # this unroll's innovations used the model before it; now it joins the fit
            # psum: the fit is over every device's transitions, so the ridge means the same on 1 or N devices
            batch_stats = psum(least_squares_stats(params, traj.timestep, traj.action), axis_name)
            stats = jax.tree.map(jnp.add, stats, batch_stats)
            params = least_squares_model(params, stats, c.model_ridge)
        return CCAState(params, sgd.opt_state, cls_state, state.updates + 1, stats), pmean(metrics, axis_name)

    return Agent(init, lambda batch_size: (), act, eval_act, update, c.num_envs, unroll)
