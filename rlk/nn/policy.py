"""A greedy policy that stands alone: a network rebuilt from a JSON description and its arrays by path.

What ``rlk export`` writes and ``rlk.load_policy`` reads (files: ``rlk.core.export``). The description
names everything the forward needs; nothing of a run, of a plugin or of the registry is loaded:

    {"kind": "actor_critic", "torso": "mlp", "hidden_sizes": [64, 64], "activation": "tanh",
     "observation": {"shape": [10, 5], "dtype": "float32", "scaling": "none"},
     "action": {"kind": "discrete", "num_values": 3}, "legal_action_mask": false}

- ``kind``: ``actor_critic`` (the actor-critic agents' networks: PPO, V-trace).
- ``torso``: ``mlp`` (separate actor and critic MLPs of ``hidden_sizes`` with ``activation``), or a
  convolutional torso of ``rlk.nn.conv`` shared by linear actor and critic heads.
- ``observation.scaling``: ``uint8/255`` (pixels cast to float32 and divided by 255) or ``none``.
- ``action``: ``discrete`` (greedy: the argmax of the legal logits) or ``box`` (greedy: the Gaussian's
  mean, clipped to ``[low, high]`` as the environment clips it).

Arrays are keyed by pytree path, ``actor/layers/0/weight``, ``torso/convs/0/bias``, ``log_std``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.errors import RlkError
from rlk.nn.conv import TORSOS, Dense, make_conv_torso
from rlk.nn.masking import masked_logits
from rlk.nn.observations import scale_pixels
from rlk.nn.torsos import MLP

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"tanh": jnp.tanh, "relu": jax.nn.relu}
KINDS = ("actor_critic",)


class PolicyNet(eqx.Module):
    """An actor-critic network: an optional convolutional ``torso``, then ``actor`` and ``critic``
    (MLPs on the flat observation without a torso, linear heads on its features with one);
    ``log_std [D]`` for continuous actions."""

    torso: Optional[eqx.Module]
    actor: eqx.Module
    critic: eqx.Module
    log_std: Optional[jax.Array]

    def outputs(self, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``[N, ...obs]`` -> (logits or Gaussian mean ``[N, A]``, value ``[N]``)."""
        x = scale_pixels(observation)
        if self.torso is None:
            return self.actor.batch(x), self.critic.batch(x)[:, 0]
        features = self.torso.batch(x)
        return self.actor(features), self.critic(features)[:, 0]


def describe(torso: str, hidden_sizes: tuple[int, ...], activation: str, observation_shape: tuple[int, ...],
             observation_dtype: str, action: dict[str, Any], legal_action_mask: bool) -> dict[str, Any]:
    """The JSON description of an actor-critic network (the module docstring's schema)."""
    return {
        "kind": "actor_critic", "torso": torso, "hidden_sizes": list(hidden_sizes), "activation": activation,
        "observation": {"shape": list(observation_shape), "dtype": observation_dtype,
                        "scaling": "uint8/255" if observation_dtype == "uint8" else "none"},
        "action": action, "legal_action_mask": legal_action_mask,
    }


def _build(description: dict[str, Any]) -> PolicyNet:
    d = description
    shape = tuple(d["observation"]["shape"])
    action = d["action"]
    out = action["num_values"] if action["kind"] == "discrete" else math.prod(action["shape"])
    k0, k1, k2 = jax.random.split(jax.random.PRNGKey(0), 3)
    log_std = jnp.zeros((out,), jnp.float32) if action["kind"] == "box" else None
    if d["torso"] == "mlp":
        act = ACTIVATIONS[d["activation"]]
        size = math.prod(shape)
        return PolicyNet(None, MLP(k1, size, d["hidden_sizes"], out, act), MLP(k2, size, d["hidden_sizes"], 1, act), log_std)
    torso, features = make_conv_torso(k0, d["torso"], shape)
    return PolicyNet(torso, Dense(k1, features, out), Dense(k2, features, 1), log_std)


def skeleton(description: dict[str, Any]) -> PolicyNet:
    """The network ``description`` names, with shapes in place of arrays (nothing is computed)."""
    d = description
    if d.get("kind") not in KINDS:
        raise RlkError(f"policy.json: network kind '{d.get('kind')}' is not one of {', '.join(KINDS)}")
    if d.get("torso") not in ("mlp", *TORSOS):
        raise RlkError(f"policy.json: torso '{d.get('torso')}' is not one of mlp, {', '.join(TORSOS)}")
    if d["torso"] == "mlp" and d.get("activation") not in ACTIVATIONS:
        raise RlkError(f"policy.json: activation '{d.get('activation')}' is not one of {', '.join(ACTIVATIONS)}")
    return eqx.filter_eval_shape(_build, d)


def path_name(path: tuple) -> str:
    """A pytree path as ``actor/layers/0/weight``."""
    parts = []
    for k in path:
        for attr in ("name", "key", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
    return "/".join(parts)


def arrays(net: eqx.Module) -> dict[str, np.ndarray]:
    """A network's arrays by pytree path."""
    leaves = jax.tree_util.tree_flatten_with_path(eqx.filter(net, eqx.is_array))[0]
    return {path_name(p): np.asarray(v) for p, v in leaves}


def from_arrays(description: dict[str, Any], params: dict[str, np.ndarray]) -> PolicyNet:
    """The network ``description`` names holding ``params`` (by path); every path and shape is checked."""
    shapes = skeleton(description)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    names = [path_name(p) for p, _ in leaves]
    missing, extra = sorted(set(names) - set(params)), sorted(set(params) - set(names))
    if missing or extra:
        raise RlkError(f"params.npz does not match policy.json: missing {missing or 'none'}, unexpected {extra or 'none'}")
    for name, (_, leaf) in zip(names, leaves):
        if tuple(params[name].shape) != tuple(leaf.shape):
            raise RlkError(f"params.npz: '{name}' has shape {tuple(params[name].shape)}, policy.json says {tuple(leaf.shape)}")
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(params[n], leaf.dtype) for n, (_, leaf) in zip(names, leaves)])


class Policy:
    """A loaded greedy policy: ``act(obs) -> action``, numpy in and out, one observation or a batch.

    >>> policy = rlk.load_policy("exported/")          # doctest: +SKIP
    >>> policy.act(np.zeros((10, 5), np.float32))      # one observation -> one action
    array(1)
    """

    def __init__(self, description: dict[str, Any], net: PolicyNet, info: Optional[dict[str, Any]] = None):
        self.description = description
        self.info = info or {}
        self.net = net
        self.observation_shape = tuple(description["observation"]["shape"])
        self._act = jax.jit(self._greedy)

    def _greedy(self, net: PolicyNet, observation: jax.Array, mask: Optional[jax.Array]) -> jax.Array:
        out, _ = net.outputs(observation)
        action = self.description["action"]
        if action["kind"] == "discrete":
            return jnp.argmax(masked_logits(out, mask), axis=-1)
        mean = jnp.clip(out, action["low"], action["high"])
        return mean.reshape(mean.shape[:1] + tuple(action["shape"]))

    def act(self, observation: Any, legal_action_mask: Optional[Any] = None) -> np.ndarray:
        """Greedy actions for ``observation`` ``[...obs]`` or ``[N, ...obs]`` (and, for games, the legal
        actions ``[A]`` or ``[N, A]``): an action, or ``[N]`` actions (continuous: ``[N, *shape]``)."""
        obs = np.asarray(observation, self.description["observation"]["dtype"])
        single = obs.shape == self.observation_shape
        if not single and obs.shape[1:] != self.observation_shape:
            raise RlkError(f"observation of shape {obs.shape}: the policy takes {self.observation_shape} or [N, *{self.observation_shape}]")
        mask = None if legal_action_mask is None else np.asarray(legal_action_mask, bool)
        if single:
            obs, mask = obs[None], None if mask is None else mask[None]
        action = np.asarray(self._act(self.net, obs, mask))
        return action[0] if single else action
