"""A closed-loop agent that acts by planning with the partial model it is learning (Rezende et al. 2020).

Each iteration: plan with the current model from every decision observation (``plan``: the best open-loop
plan from there, its first action is the greedy action); act with that policy plus exploration
(``p = (1 - explore) onehot(greedy) + explore / A``; intention ``i ~ p``; executed ``a = i`` with
probability ``1 - epsilon``, else uniform: the behaviour structure of ``data.py``, so ``p`` and ``i`` are
the backdoor ``z`` the causal model conditions on); add the episodes to a replay of everything seen so
far; train the model on it for ``steps_per_iteration`` Adam steps. The model is trained on every suffix
of each episode (``h_0 = f(o_s)``), so it plans from the forest too, where it sees the bear.

Why the backdoor matters here (Section 3): the agent's own forest policy sees the bear (it hugs teddies
and runs from grizzlies), so in its data ``E[r | home, forest, hug]`` is far above the causal value of
the open-loop plan "forest, hug"; a naive model learns the former and its planner keeps going to the
forest. The planner is a pure function of the observation; it is evaluated once per decision
observation each iteration and episodes look their action up (FuzzyBear has three: home, teddy, grizzly).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from pydantic import Field

from rlk.core.config import PluginConfig
from rlk.plugins.partial_models.data import rollout
from rlk.plugins.partial_models.env import FuzzyBear
from rlk.plugins.partial_models.models import PartialModel, PartialModelConfig, loss, plan


class ClosedLoopConfig(PluginConfig):
    iterations: int = Field(12, ge=1, description="collect-train-replan iterations")
    episodes_per_iteration: int = Field(256, ge=1, description="episodes collected with the current planner's policy")
    steps_per_iteration: int = Field(120, ge=1, description="Adam steps on the replay after each collection")
    explore: float = Field(0.2, ge=0.0, le=1.0, description="p = (1 - explore) onehot(greedy) + explore / A")
    epsilon: float = Field(0.2, ge=0.0, le=1.0, description="probability that the executed action is uniform instead of the intention")
    num_particles: int = Field(256, ge=1, description="model rollouts per plan value")
    eval_episodes: int = Field(2048, ge=1, description="episodes measuring the greedy policy's real return")


def suffixes(data: dict, num_steps: int) -> dict:
    """``[N, T]`` episodes -> ``[N * (T - K + 1), K]`` training episodes starting at every step ``s``:
    ``obs0 = obs[:, s]`` and steps ``s .. s + K - 1`` (past an episode's end: the absorbing state)."""
    starts = data["obs"].shape[1] - num_steps + 1
    out = {"obs0": jnp.concatenate([data["obs"][:, s] for s in range(starts)])}
    for name in ["probs", "intention", "action", "reward", "valid"]:
        out[name] = jnp.concatenate([data[name][:, s:s + num_steps] for s in range(starts)])
    return out


def lookup(observations: jax.Array, table: jax.Array) -> Callable[[jax.Array], jax.Array]:
    """``observation -> table[row]`` where ``observations[row]`` equals it (the planner's memoised output)."""
    return lambda obs: table[jnp.argmax(jnp.all(observations == obs, axis=-1))]


def policy_return(env: FuzzyBear, observations: jax.Array, probs: jax.Array, key: jax.Array, episodes: int) -> jax.Array:
    """The real mean return of a policy table ``probs [M, A]`` (no action noise), by rollouts in ``env``."""
    data = rollout(env, lookup(observations, probs), 0.0, key, episodes, env.spec.max_episode_steps)
    return jnp.mean(jnp.sum(data["reward"], axis=1))


def init_models(model_config: PartialModelConfig, keys: jax.Array, obs_dim: int, num_actions: int) -> PartialModel:
    """One model per key, stacked on a leading axis (for ``vmap``). Built one by one, outside any ``vmap``:
    a batched orthogonal init (QR) inside a jitted ``vmap`` over 10 seeds deadlocked XLA:CPU's thread pool here."""
    models = [PartialModel(key, model_config, obs_dim, num_actions) for key in keys]
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *models)


def make_closed_loop(env: FuzzyBear, model_config: PartialModelConfig, config: ClosedLoopConfig, observations: jax.Array):
    """``run(model, key) -> metrics [iterations]``: the closed-loop agent from an initial ``model``, one seed,
    one ``lax.scan`` (jit it; ``vmap`` it over ``init_models``).

    ``observations [M, obs_dim]``: the decision observations the planner is evaluated at. Metrics per
    iteration, for the policy that collected that iteration's data: ``greedy_return`` (its real return
    without exploration), ``behaviour_return`` (the collected episodes' mean return), ``first_action``
    (the greedy action at ``observations[0]``), ``plan_values [A^K]`` (the model's value of every open-loop
    plan from ``observations[0]``) and ``loss`` (the last training step's).
    """
    num_steps, num_actions = env.spec.max_episode_steps, env.spec.action.num_values
    rollout_steps = 2 * num_steps - 1  # every suffix of a K-step episode, padded to K steps
    per_iteration = config.episodes_per_iteration * num_steps
    capacity = config.iterations * per_iteration
    optimiser = optax.adam(optax.cosine_decay_schedule(model_config.learning_rate, config.iterations * config.steps_per_iteration))

    def planner(model: PartialModel, key: jax.Array):
        values, best = jax.vmap(lambda o, k: plan(model, o, k, num_steps, config.num_particles))(
            observations, jax.random.split(key, observations.shape[0]))
        return values, best[:, 0]

    def iteration(carry, inputs):
        model, opt_state, replay = carry
        t, key = inputs
        plan_key, data_key, eval_key, train_key = jax.random.split(key, 4)
        values, greedy = planner(model, plan_key)
        greedy_probs = jax.nn.one_hot(greedy, num_actions)
        probs = (1.0 - config.explore) * greedy_probs + config.explore / num_actions
        data = rollout(env, lookup(observations, probs), config.epsilon, data_key, config.episodes_per_iteration, rollout_steps)
        new = suffixes(data, num_steps)
        replay = jax.tree.map(lambda r, x: jax.lax.dynamic_update_slice_in_dim(r, x, t * per_iteration, 0), replay, new)
        size = (t + 1) * per_iteration

        def sgd_step(carry, key):
            model, opt_state = carry
            batch = jax.tree.map(lambda x: x[jax.random.randint(key, (model_config.batch_size,), 0, size)], replay)
            (_, metrics), grads = jax.value_and_grad(loss, has_aux=True)(model, batch)
            updates, opt_state = optimiser.update(grads, opt_state, model)
            return (optax.apply_updates(model, updates), opt_state), metrics["loss"]

        (model, opt_state), losses = jax.lax.scan(sgd_step, (model, opt_state), jax.random.split(train_key, config.steps_per_iteration))
        metrics = dict(greedy_return=policy_return(env, observations, greedy_probs, eval_key, config.eval_episodes),
                       behaviour_return=jnp.mean(jnp.sum(data["reward"], axis=1)), first_action=greedy[0],
                       plan_values=values[0], loss=losses[-1])
        return (model, opt_state, replay), metrics

    def run(model: PartialModel, key: jax.Array) -> dict:
        shapes = jax.eval_shape(lambda k: suffixes(rollout(env, lambda o: jnp.full((num_actions,), 1.0 / num_actions),
                                                           config.epsilon, k, config.episodes_per_iteration, rollout_steps), num_steps), key)
        replay = jax.tree.map(lambda s: jnp.zeros((capacity, *s.shape[1:]), s.dtype), shapes)
        _, metrics = jax.lax.scan(iteration, (model, optimiser.init(model), replay),
                                  (jnp.arange(config.iterations), jax.random.split(key, config.iterations)))
        return metrics

    return run
