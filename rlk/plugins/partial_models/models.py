"""Partial models of FuzzyBear: naive and causally correct (Rezende et al. 2020, Sections 3-5).

A partial model predicts rewards (and the behaviour's values) from the first observation and a
sequence of actions, without modelling the observations in between. Unrolled over ``K`` steps from
``h_0 = f(o_0)``:

- **naive** (Section 3): ``r_k = R(h_k, a_k)``, ``h_{k+1} = T(h_k, a_k)``. Trained on the behaviour's
  data it learns ``E[r | o_0, a_{<=k}]``, which is confounded by what the behaviour saw (the bear) and
  the model does not: it is not ``E[r | o_0, do(a_{<=k})]``.
- **causal** (Section 4, the backdoor family): the model also predicts the behaviour's backdoor
  variable ``z_k ~ q(z | h_k)`` and conditions on it, ``r_k = R(h_k, z_k, a_k)``,
  ``h_{k+1} = T(h_k, z_k, a_k)``. Since ``z_k`` blocks every backdoor path into ``a_k``,
  ``p(r | h, z, a) = p(r | h, z, do(a))`` (backdoor adjustment, Pearl 2009, Thm 3.3.2), and a new
  policy is simulated by sampling ``z`` from the model and intervening on ``a``.
  ``backdoor="probs"``: ``z`` is the behaviour's action probabilities, on a grid (``p(a=0)`` in steps
  of ``1 / (num_bins - 1)``; two actions; exact for FuzzyBear's behaviour, whose probabilities lie
  on the grid), with a categorical ``q(z | h)``; ``backdoor="intention"``: ``z`` is the sampled
  intended action (categorical). (A mixture of Gaussians over continuous log-probabilities was
  tried first: on 2 of 10 seeds one wide component covered both bears' modes, and ``z`` sampled
  between them made the reward model extrapolate.)

Every model also has a value head ``v(h_k)`` (the behaviour's return-to-go). Losses (Section 5):
squared errors of rewards and values plus ``-log q(z_k | h_k)``.

Simulating a new policy ``pi`` (Section 5): ``intervene`` samples ``a_k ~ pi``; ``likelihood_ratio``
samples ``a_k ~ m(a | z_k)``, the behaviour's own action distribution given the backdoor, and weights
``r_k`` by ``prod_{j<=k} pi(a_j) / m(a_j | z_j)``; both estimate the same value.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from pydantic import Field

from rlk.core.config import PluginConfig
from rlk.nn.torsos import MLP
from rlk.plugins.partial_models.data import executed_action_probs

Backdoor = Literal["none", "probs", "intention"]
LOG_PROB_FLOOR = 1e-4


class PartialModelConfig(PluginConfig):
    backdoor: Backdoor = Field("probs", description="'none' (naive), 'probs' or 'intention' (causally correct)")
    hidden: int = Field(64, ge=1, description="width of every MLP and of the model state h")
    num_bins: int = Field(21, ge=2, description="grid of p(a=0) for the 'probs' backdoor (21: steps of 0.05)")
    # The paper gives no FuzzyBear training details; toy settings, measured in the README.
    learning_rate: float = Field(1e-2, gt=0.0, description="Adam learning rate (cosine decay to 0)")
    steps: int = Field(3000, ge=1, description="gradient steps")
    batch_size: int = Field(512, ge=1, description="episodes per gradient step")
    epsilon: float = Field(0.2, gt=0.0, le=1.0, description="the behaviour's action noise: m(a | z) for the likelihood ratio")


def probs_feature(probs: jax.Array) -> jax.Array:
    """``[..., A] -> [..., A]``: centred log-probabilities (the 'probs' backdoor as the model sees it)."""
    logp = jnp.log(jnp.maximum(probs, LOG_PROB_FLOOR))
    return logp - jnp.mean(logp, axis=-1, keepdims=True)


class PartialModel(eqx.Module):
    """A recurrent partial model; ``backdoor`` chooses naive (``"none"``) or causal."""

    encoder: MLP
    transition: MLP
    reward: MLP
    value: MLP
    z_head: MLP | None
    backdoor: str = eqx.field(static=True)
    num_actions: int = eqx.field(static=True)
    num_bins: int = eqx.field(static=True)

    def __init__(self, key: jax.Array, config: PartialModelConfig, obs_dim: int, num_actions: int):
        if config.backdoor == "probs" and num_actions != 2:
            raise ValueError(f"the 'probs' backdoor grids p(a=0) and needs 2 actions, not {num_actions}")
        self.backdoor, self.num_actions, self.num_bins = config.backdoor, num_actions, config.num_bins
        h, a = config.hidden, num_actions
        z_dim = {"none": 0, "probs": a, "intention": a}[config.backdoor]
        z_out = {"none": 0, "probs": config.num_bins, "intention": a}[config.backdoor]
        k = jax.random.split(key, 5)
        self.encoder = MLP(k[0], obs_dim, [h], h)
        self.transition = MLP(k[1], h + z_dim + a, [h], h)
        self.reward = MLP(k[2], h + z_dim + a, [h], 1, out_scale=0.01)
        self.value = MLP(k[3], h, [h], 1, out_scale=0.01)
        self.z_head = MLP(k[4], h, [h], z_out, out_scale=0.01) if z_out else None

    def initial_state(self, obs0: jax.Array) -> jax.Array:
        return jnp.tanh(self.encoder(obs0))

    def grid_probs(self, z: jax.Array) -> jax.Array:
        """'probs' backdoor: grid index ``z`` -> the action probabilities ``[p(a=0), p(a=1)]``."""
        p0 = z.astype(jnp.float32) / (self.num_bins - 1)
        return jnp.stack([p0, 1.0 - p0])

    def z_feature(self, z: jax.Array) -> jax.Array:
        """The backdoor as a model input: centred log-probabilities, or a one-hot intention."""
        if self.backdoor == "intention":
            return jax.nn.one_hot(z, self.num_actions)
        if self.backdoor == "probs":
            return probs_feature(self.grid_probs(z))
        return jnp.zeros((0,))

    def z_log_prob(self, h: jax.Array, z: jax.Array) -> jax.Array:
        """``log q(z | h)``: the model's log-probability of the backdoor (0 for the naive model)."""
        if self.backdoor == "none":
            return jnp.float32(0.0)
        return jax.nn.log_softmax(self.z_head(h))[z]

    def z_sample(self, h: jax.Array, key: jax.Array) -> jax.Array:
        """``z ~ q(. | h)`` (a grid index of the probabilities, or an intended action)."""
        return jax.random.categorical(key, self.z_head(h))

    def behaviour_action_probs(self, z: jax.Array, epsilon: float) -> jax.Array:
        """``m(a | z)``: the behaviour's action distribution given the backdoor (Section 5)."""
        if self.backdoor == "intention":
            return executed_action_probs(jax.nn.one_hot(z, self.num_actions), epsilon)
        return executed_action_probs(self.grid_probs(z), epsilon)

    def step(self, h: jax.Array, z: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(h_k, z_k, a_k) -> (r_k, h_{k+1})``; ``z`` is ignored by the naive model."""
        x = jnp.concatenate([h, self.z_feature(z), jax.nn.one_hot(action, self.num_actions)])
        return self.reward(x)[0], jnp.tanh(self.transition(x))


def model_inputs(model: PartialModel, batch: dict) -> jax.Array:
    """The backdoor each step of ``batch`` carries for ``model``: ``[N, K, ...]``."""
    if model.backdoor == "intention":
        return batch["intention"]
    return jnp.round(batch["probs"][..., 0] * (model.num_bins - 1)).astype(jnp.int32)  # the naive model ignores it


def episode_loss(model: PartialModel, obs0: jax.Array, z: jax.Array, action: jax.Array, reward: jax.Array):
    """One episode's loss: ``sum_k (r_k - R)^2 + (G_k - v(h_k))^2 - log q(z_k | h_k)``.

    Args:
      obs0: ``[obs_dim]``; z: ``[K, ...]`` the backdoor; action: ``[K]``; reward: ``[K]`` (0 past the end).
    """
    returns = jnp.cumsum(reward[::-1])[::-1]  # G_k, undiscounted (episodes last 2 steps)

    def unroll(h, inputs):
        z_k, a_k, r_k, g_k = inputs
        r_hat, h_next = model.step(h, z_k, a_k)
        v_hat = model.value(h)[0]
        return h_next, ((r_hat - r_k) ** 2, (v_hat - g_k) ** 2, -model.z_log_prob(h, z_k))

    _, (r_loss, v_loss, z_nll) = jax.lax.scan(unroll, model.initial_state(obs0), (z, action, reward, returns), unroll=True)
    return jnp.sum(r_loss) + jnp.sum(v_loss) + jnp.sum(z_nll), (jnp.sum(r_loss), jnp.sum(v_loss), jnp.sum(z_nll))


def loss(model: PartialModel, batch: dict) -> tuple[jax.Array, dict]:
    """Mean ``episode_loss`` over a batch of episodes (a dict from ``data.collect``)."""
    total, (r, v, z) = jax.vmap(episode_loss, in_axes=(None, 0, 0, 0, 0))(
        model, batch["obs0"], model_inputs(model, batch), batch["action"], batch["reward"])
    return jnp.mean(total), {"loss": jnp.mean(total), "reward_loss": jnp.mean(r), "value_loss": jnp.mean(v), "z_nll": jnp.mean(z)}


def make_train(config: PartialModelConfig, obs_dim: int, num_actions: int):
    """``train(key, data) -> (model, metrics[steps])``: Adam (cosine-decayed step size) on random
    minibatches of episodes, one ``lax.scan``, jitted."""
    optimiser = optax.adam(optax.cosine_decay_schedule(config.learning_rate, config.steps))

    @jax.jit
    def train(key: jax.Array, data: dict):
        init_key, key = jax.random.split(key)
        model = PartialModel(init_key, config, obs_dim, num_actions)
        num = data["obs0"].shape[0]

        def sgd_step(carry, key):
            model, opt_state = carry
            idx = jax.random.randint(key, (config.batch_size,), 0, num)
            batch = jax.tree.map(lambda x: x[idx], data)
            (_, metrics), grads = jax.value_and_grad(loss, has_aux=True)(model, batch)
            updates, opt_state = optimiser.update(grads, opt_state, model)
            return (optax.apply_updates(model, updates), opt_state), metrics

        (model, _), metrics = jax.lax.scan(sgd_step, (model, optimiser.init(model)), jax.random.split(key, config.steps))
        return model, metrics

    return train


Estimator = Literal["intervene", "likelihood_ratio"]


def simulate_value(model: PartialModel, obs0: jax.Array, policy: jax.Array, key: jax.Array, num_particles: int,
                   estimator: Estimator = "intervene", epsilon: float = 0.2) -> jax.Array:
    """The model's value of a new policy from ``obs0``: ``E[sum_k r_k]`` under ``pi``, by Monte Carlo.

    The new policy acts on the model's information only: ``policy [K, A]`` holds ``pi(a_k)`` for each
    step (an open-loop, possibly stochastic plan: it does not see the bear).

    ``estimator="intervene"``: ``a_k ~ pi``, ``z_k ~ q(z | h_k)``, average of ``sum_k R(h_k, z_k, a_k)``.
    ``estimator="likelihood_ratio"`` (causal models only): ``a_k ~ m(a | z_k)`` (the behaviour's actions
    given the backdoor, with noise ``epsilon``) and ``r_k`` weighted by ``prod_{j<=k} pi(a_j) / m(a_j | z_j)``.
    """
    if estimator == "likelihood_ratio" and model.backdoor == "none":
        raise ValueError("the likelihood-ratio estimator needs a backdoor: the naive model has no m(a | z)")
    num_steps = policy.shape[0]

    def particle(key):
        def unroll(carry, inputs):
            h, weight, total = carry
            pi_k, key = inputs
            z_key, a_key = jax.random.split(key)
            z = model.z_sample(h, z_key) if model.backdoor != "none" else jnp.zeros((), jnp.int32)
            if estimator == "intervene":
                a = jax.random.categorical(a_key, jnp.log(pi_k))
            else:
                m = model.behaviour_action_probs(z, epsilon)
                a = jax.random.categorical(a_key, jnp.log(m))
                weight = weight * pi_k[a] / m[a]
            r_hat, h = model.step(h, z, a)
            return (h, weight, total + weight * r_hat), None

        init = (model.initial_state(obs0), jnp.float32(1.0), jnp.float32(0.0))
        (_, _, total), _ = jax.lax.scan(unroll, init, (policy, jax.random.split(key, num_steps)), unroll=True)
        return total

    return jnp.mean(jax.vmap(particle)(jax.random.split(key, num_particles)))


def open_loop_plans(num_steps: int, num_actions: int) -> jax.Array:
    """Every deterministic open-loop plan as a one-hot policy table: ``[A^K, K, A]`` (row-major order)."""
    grid = jnp.stack(jnp.meshgrid(*[jnp.arange(num_actions)] * num_steps, indexing="ij"), -1).reshape(-1, num_steps)
    return jax.nn.one_hot(grid, num_actions)


def plan(model: PartialModel, obs0: jax.Array, key: jax.Array, num_steps: int, num_particles: int = 4096,
         estimator: Estimator = "intervene", epsilon: float = 0.2):
    """The planning agent (Section 6): evaluates every open-loop plan with the model, returns the best.

    Returns ``(values [A^K], best plan [K] actions)``; the agent's action at ``obs0`` is ``best[0]``.
    """
    plans = open_loop_plans(num_steps, model.num_actions)
    values = jax.vmap(lambda p, k: simulate_value(model, obs0, p, k, num_particles, estimator, epsilon))(
        plans, jax.random.split(key, plans.shape[0]))
    return values, jnp.argmax(plans[jnp.argmax(values)], axis=-1)
