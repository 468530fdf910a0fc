"""Separate actor and critic MLPs (PPO's classic-control and MuJoCo architectures) and their policies.

- Discrete actions (``DiscreteSpec``): the actor MLP gives logits; the policy is ``Categorical``.
- Continuous actions (``BoxSpec``): the actor MLP gives the mean of a diagonal Gaussian whose
  log standard deviation is a learned, state-independent parameter initialised to 0 (Schulman et al.
  2017, "PPO", section 6.1: "a fully-connected MLP ... outputting the mean of a Gaussian
  distribution, with variable standard deviations"; as in OpenAI baselines' MuJoCo setup). The
  policy is ``Gaussian``; samples are unbounded, and the environment clips them to its bounds.

``Categorical`` and ``Gaussian`` share one small interface (``sample``, ``log_prob``, ``entropy``,
``mode``), so agents and losses need not care which one they hold.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence, Union

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.core.errors import RlkError
from rlk.core.types import BoxSpec, DiscreteSpec, EnvSpec
from rlk.nn.conv import TORSOS, Dense, image_layout, make_conv_torso
from rlk.nn.conv import resolve_torso as resolve_conv_torso
from rlk.nn.masking import masked_logits
from rlk.nn.observations import scale_pixels
from rlk.nn.policy import describe
from rlk.nn.torsos import MLP

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class Categorical(NamedTuple):
    """A batch of categorical distributions over the last axis of ``logits [..., A]``."""

    logits: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits)

    def log_prob(self, action: jax.Array) -> jax.Array:
        """``log pi(a)`` ``[...]`` for integer actions ``[...]``."""
        log_p = jax.nn.log_softmax(self.logits)
        return jnp.take_along_axis(log_p, action[..., None].astype(jnp.int32), -1)[..., 0]

    def entropy(self) -> jax.Array:
        log_p = jax.nn.log_softmax(self.logits)
        return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1)


class Gaussian(NamedTuple):
    """A batch of diagonal Gaussians: ``mean [..., D]``, ``log_std`` broadcastable to it.

    ``log_prob`` and ``entropy`` sum over the ``D`` action dimensions (a factorised density).
    """

    mean: jax.Array
    log_std: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        noise = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        return self.mean + jnp.exp(self.log_std) * noise

    def log_prob(self, action: jax.Array) -> jax.Array:
        """``sum_d [-(a - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2]``."""
        log_std = jnp.broadcast_to(self.log_std, self.mean.shape)
        z = (action - self.mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * jnp.square(z) - log_std - _HALF_LOG_2PI, axis=-1)

    def entropy(self) -> jax.Array:
        """``sum_d [log sigma + (1 + log(2 pi)) / 2]``."""
        log_std = jnp.broadcast_to(self.log_std, self.mean.shape)
        return jnp.sum(log_std + 0.5 + _HALF_LOG_2PI, axis=-1)

    def mode(self) -> jax.Array:
        return self.mean


Distribution = Union[Categorical, Gaussian]


class ActorCriticParams(NamedTuple):
    """An actor-critic agent's parameters: its network, and those of the losses that own some.

    Attributes:
      net: ``ActorCritic``, ``GaussianActorCritic`` or ``ConvActorCritic``.
      losses: ``rlk.core.losses.LossSet.init``'s parameters by loss name (empty for the plain agent).
    """

    net: Any
    losses: dict


class ActorCritic(eqx.Module):
    """Discrete actions: actor MLP -> logits, critic MLP -> value."""

    actor: MLP
    critic: MLP

    def __call__(self, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One unbatched observation -> (logits [A], value [])."""
        return self.actor(observation), self.critic(observation)[0]


class GaussianActorCritic(eqx.Module):
    """Continuous actions: actor MLP -> Gaussian mean, learned state-independent ``log_std [D]``."""

    actor: MLP
    critic: MLP
    log_std: jax.Array

    def __call__(self, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One unbatched observation -> (mean [D], value [])."""
        return self.actor(observation), self.critic(observation)[0]


class ConvActorCritic(eqx.Module):
    """Pixels, discrete actions: a shared convolutional torso, then linear policy and value heads
    (the A3C/IMPALA arrangement: Mnih et al. 2016; Espeholt et al. 2018, Figure 3)."""

    torso: eqx.Module
    actor: Dense
    critic: Dense

    def __call__(self, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        features = self.torso(observation)
        return self.actor(features), self.critic(features)[0]


def resolve_torso(torso: str, spec: EnvSpec) -> str:
    """``auto`` resolved for ``spec``'s observations (``rlk.nn.conv.resolve_torso``)."""
    return resolve_conv_torso(torso, spec.observation.shape)


def make_actor_critic(
    key: jax.Array, spec: EnvSpec, hidden: Sequence[int], agent: str, continuous: bool = False,
    torso: str = "mlp",
) -> Union[ActorCritic, GaussianActorCritic, ConvActorCritic]:
    """The actor-critic for ``spec``: ``ActorCritic`` for discrete actions; ``GaussianActorCritic``
    for a ``BoxSpec`` where the agent supports it (``continuous=True``), else an ``RlkError``;
    ``ConvActorCritic`` when ``torso`` names a convolutional torso (``rlk.nn.conv.TORSOS``)."""
    torso = resolve_torso(torso, spec)
    if torso != "mlp":
        if torso not in TORSOS:
            raise RlkError(f"agent.torso: unknown torso '{torso}' (expected auto, mlp, {', '.join(TORSOS)})")
        if not image_layout(spec.observation.shape):
            raise RlkError(f"agent.torso={torso} needs image observations; env '{spec.name}' has shape {tuple(spec.observation.shape)}")
        if not isinstance(spec.action, DiscreteSpec):
            raise RlkError(f"agent.torso={torso} supports discrete actions only; env '{spec.name}' has {spec.action.kind} actions")
        k0, k1, k2 = jax.random.split(key, 3)
        net, features = make_conv_torso(k0, torso, spec.observation.shape)
        return ConvActorCritic(torso=net, actor=Dense(k1, features, spec.action.num_values, scale=0.01),
                               critic=Dense(k2, features, 1, scale=1.0))
    in_size = math.prod(spec.observation.shape)
    if isinstance(spec.action, BoxSpec):
        if not continuous:
            raise RlkError(f"agent '{agent}' supports discrete actions only; env '{spec.name}' has {spec.action.kind} actions")
        dim = math.prod(spec.action.shape)
        k1, k2 = jax.random.split(key)
        return GaussianActorCritic(
            actor=MLP(k1, in_size, hidden, dim, out_scale=0.01),
            critic=MLP(k2, in_size, hidden, 1, out_scale=1.0),
            log_std=jnp.zeros((dim,), jnp.float32),
        )
    if not isinstance(spec.action, DiscreteSpec):
        raise RlkError(f"agent '{agent}' does not support {spec.action.kind} actions (env '{spec.name}')")
    k1, k2 = jax.random.split(key)
    return ActorCritic(
        actor=MLP(k1, in_size, hidden, spec.action.num_values, out_scale=0.01),
        critic=MLP(k2, in_size, hidden, 1, out_scale=1.0),
    )


def apply_batch(net: Union[ActorCritic, GaussianActorCritic, ConvActorCritic], observation: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``[N, ...obs]`` -> (logits or Gaussian mean [N, A], value [N]).

    uint8 observations (Atari frames, 0..255) are cast to float32 and scaled by 1/255 first.
    """
    observation = scale_pixels(observation)
    if isinstance(net, ConvActorCritic):
        features = net.torso.batch(observation)
        return net.actor(features), net.critic(features)[:, 0]
    return net.actor.batch(observation), net.critic.batch(observation)[:, 0]


def policy_and_value(net: Union[ActorCritic, GaussianActorCritic, ConvActorCritic], observation: jax.Array, mask=None) -> tuple[Distribution, jax.Array]:
    """``[N, ...obs]`` -> (the policy's distribution over ``N`` actions, value [N]).

    Discrete: ``Categorical`` over the (legal-action-masked) logits. Continuous: ``Gaussian`` with
    the actor's mean ``[N, D]`` and the shared ``log_std [D]``, over flat actions ``[N, D]``
    (``D = prod(BoxSpec.shape)``; the agent reshapes to ``[N, *shape]`` for the environment).
    """
    out, value = apply_batch(net, observation)
    if isinstance(net, GaussianActorCritic):
        return Gaussian(out, net.log_std), value
    return Categorical(masked_logits(out, mask)), value


def policy_network(net: Union[ActorCritic, GaussianActorCritic, ConvActorCritic], spec: EnvSpec, torso: str,
                   hidden: Sequence[int]) -> tuple[dict, Any]:
    """``net``'s greedy policy for ``rlk export``: its description (``rlk.nn.policy``) and the network."""
    action = (spec.action.model_dump(include={"kind", "num_values"}) if isinstance(spec.action, DiscreteSpec)
              else spec.action.model_dump(include={"kind", "shape", "low", "high"}))
    description = describe(resolve_torso(torso, spec), tuple(hidden), "tanh", tuple(spec.observation.shape),
                           spec.observation.dtype, action, spec.has_legal_action_mask)
    return description, net
