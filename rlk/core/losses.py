"""Losses that compose: typed inputs, a factory per loss, and the weighted set an agent optimises.

A loss plugin registers a factory ``make(config) -> Loss`` with its own pydantic config (its
hyperparameters, never the host agent's) and the ``inputs`` type it reads, a NamedTuple documented
below (mctx ``base.py`` style). An agent registers the input types it produces. When a run is built,
``resolve_losses`` looks each loss of ``agent.loss_weights`` up once, validates its options
(``-o losses.NAME.FIELD=...``), and checks that the agent can feed it; a loss it cannot feed is a
one-line error naming the loss, the agent and the missing input, before anything compiles. The agent
receives the resulting ``LossSet`` and calls it inside its own loss function.

A loss may own parameters (``init``: HiMo's heads), prepare per-step data from the whole trajectory
before the agent flattens or shuffles it (``prepare``: the future observation ``k`` steps ahead), and
offer the agent its value function (``value``: HiMo's ``v_m`` as the critic).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Optional

from pydantic import BaseModel, ValidationError

from rlk.core.config import one_line
from rlk.core.errors import RlkError

if TYPE_CHECKING:  # jax loads when a loss set is used, not when plugins register their input types
    import jax

    from rlk.core.types import EnvSpec, Trajectory

Metrics = dict[str, "jax.Array"]


# -- the inputs agents produce (N: steps of a batch, flattened over time and environments) ---------
class PolicyInputs(NamedTuple):
    """What a policy-gradient loss reads, on ``N`` steps.

    Attributes:
      log_prob: ``[N]`` log pi(a|s) of the action taken, under the current policy (gradients flow).
      entropy: ``[N]`` entropy of pi(.|s) (gradients flow).
      behaviour_log_prob: ``[N]`` log mu(a|s) of the policy that acted.
      advantage: ``[N]`` the agent's advantage estimate (normalised if the agent does so; no gradient).
    """

    log_prob: jax.Array
    entropy: jax.Array
    behaviour_log_prob: jax.Array
    advantage: jax.Array


class ValueInputs(NamedTuple):
    """What a value regression reads, on ``N`` steps.

    Attributes:
      value: ``[N]`` the agent's value estimate v(s) (gradients flow).
      value_target: ``[N]`` the return estimate it regresses on (no gradient).
    """

    value: jax.Array
    value_target: jax.Array


class ClippedValueInputs(NamedTuple):
    """``ValueInputs`` and the value the acting policy's critic gave (PPO's value clipping), on ``N`` steps.

    Attributes:
      value: ``[N]``; value_target: ``[N]``; behaviour_value: ``[N]`` v_old(s) recorded when acting.
    """

    value: jax.Array
    value_target: jax.Array
    behaviour_value: jax.Array


class StateInputs(NamedTuple):
    """The states themselves and their return targets, for losses with networks of their own, on ``N`` steps.

    Attributes:
      observation: ``[N, *obs_shape]`` the observations acted on.
      value_target: ``[N]`` the agent's return estimate G_t for them (no gradient).
    """

    observation: jax.Array
    value_target: jax.Array


# -- a loss and a set of them ----------------------------------------------------------------------
class Loss(NamedTuple):
    """A loss bound to its config: what a registered loss factory returns.

    Attributes:
      inputs: the NamedTuple type it reads; the agent must produce it.
      apply: ``(params, inputs, prepared) -> (scalar, metrics)``: ``params`` its own parameters (None
        without ``init``), ``prepared`` the per-step output of ``prepare`` for these steps (None without).
      init: ``(key, spec) -> params`` for a loss with networks of its own, else None.
      prepare: ``(trajectory [T+1, B]) -> pytree [T, B, ...]``: per-step data that needs the whole
        trajectory (no parameters), computed before the agent flattens, shuffles or splits steps.
      value: ``(params, observation [N, ...]) -> [N]`` where the loss offers the agent its critic.
    """

    inputs: type
    apply: Callable[[Any, Any, Any], tuple[jax.Array, Metrics]]
    init: Optional[Callable[[jax.Array, EnvSpec], Any]] = None
    prepare: Optional[Callable[[Trajectory], Any]] = None
    value: Optional[Callable[[Any, jax.Array], jax.Array]] = None


def stateless(inputs: type, fn: Callable[[Any], tuple[jax.Array, Metrics]]) -> Loss:
    """A loss with no parameters and no preparation: ``fn(inputs) -> (scalar, metrics)``."""
    return Loss(inputs, lambda params, x, prepared: fn(x))


class LossSet(NamedTuple):
    """The weighted losses one agent optimises, resolved once when the run is built.

    ``terms``: ``(name, weight, Loss)``, sorted by name, zero weights left out. Parameters of the losses
    that own some live in a dict keyed by loss name (``init``), inside the agent's parameters.
    """

    terms: tuple[tuple[str, float, Loss], ...]

    @property
    def needs(self) -> frozenset:
        """The input types the losses read."""
        return frozenset(loss.inputs for _, _, loss in self.terms)

    def init(self, key: jax.Array, spec: EnvSpec) -> dict[str, Any]:
        """Parameters of the losses that own some; the i-th such loss from ``fold_in(key, 1 + i)``."""
        import jax

        owners = [(name, loss) for name, _, loss in self.terms if loss.init is not None]
        return {name: loss.init(jax.random.fold_in(key, 1 + i), spec) for i, (name, loss) in enumerate(owners)}

    def prepare(self, traj: Trajectory) -> dict[str, Any]:
        """Per-step data ``[T, B, ...]`` of the losses that prepare some, keyed by loss name."""
        return {name: loss.prepare(traj) for name, _, loss in self.terms if loss.prepare is not None}

    @property
    def value(self) -> Optional[Callable[[dict, jax.Array], jax.Array]]:
        """``(loss params, observation [N, ...]) -> [N]``: the critic a loss offers the agent, or None."""
        offered = [(name, loss.value) for name, _, loss in self.terms if loss.value is not None]
        if not offered:
            return None
        name, fn = offered[0]
        return lambda params, observation: fn(params[name], observation)

    def __call__(self, params: Mapping[str, Any], inputs: Mapping[type, Any],
                 prepared: Mapping[str, Any]) -> tuple[jax.Array, Metrics]:
        """The weighted sum; metrics keep each term under its name and its own metrics as ``name/key``.

        ``params``: the losses' parameters (``init``); ``inputs``: the agent's inputs by type;
        ``prepared``: ``prepare``'s output for these steps, by loss name.
        """
        import jax.numpy as jnp

        total = jnp.float32(0.0)
        metrics: Metrics = {}
        for name, weight, loss in self.terms:
            term, term_metrics = loss.apply(params.get(name), inputs[loss.inputs], prepared.get(name))
            total = total + weight * term
            metrics[name] = term
            metrics.update({f"{name}/{k}": v for k, v in term_metrics.items()})
        return total, metrics


def _names(types) -> str:
    return ", ".join(sorted(t.__name__ for t in types)) or "none"


def resolve_losses(weights: Mapping[str, float], options: Mapping[str, Mapping[str, Any]], registry: Any,
                   agent: str, produces: tuple[type, ...]) -> tuple[LossSet, dict[str, BaseModel]]:
    """The ``LossSet`` of ``weights`` (loss name -> weight) with each loss's ``options``, and the typed
    config of each loss, checked against the input types the agent ``produces``. One-line ``RlkError``s."""
    stray = sorted(set(options) - set(weights))
    if stray:
        raise RlkError(f"losses.{stray[0]}: loss '{stray[0]}' is not among agent '{agent}''s loss_weights "
                       f"({', '.join(sorted(weights)) or 'none'}); add -o agent.loss_weights.{stray[0]}=W")
    terms, configs = [], {}
    for name in sorted(weights):
        weight = float(weights[name])
        plugin = registry.get("loss", name)
        config = None
        if plugin.config is not None:
            try:
                config = plugin.config.model_validate(dict(options.get(name, {})))
            except ValidationError as err:
                raise RlkError(one_line(err, prefix=f"losses.{name}.")) from None
        elif options.get(name):
            raise RlkError(f"unknown config field 'losses.{name}.{next(iter(options[name]))}' (loss '{name}' has no options)")
        loss = plugin.factory(config)
        if loss.inputs not in produces:
            raise RlkError(f"loss '{name}' needs {loss.inputs.__name__}, which agent '{agent}' does not produce "
                           f"(it produces {_names(produces)})")
        configs[name] = config
        if weight != 0.0:
            terms.append((name, weight, loss))
    offered = [name for name, _, loss in terms if loss.value is not None]
    if len(offered) > 1:
        raise RlkError(f"losses {', '.join(offered)} each offer agent '{agent}' a value function; keep one")
    return LossSet(tuple(terms)), configs


def agent_losses(agent: str, weights: Mapping[str, float], options: Optional[Mapping[str, Mapping[str, Any]]] = None,
                 registry: Any = None) -> LossSet:
    """The ``LossSet`` for registered agent ``agent`` (its produced inputs from the registry), as a run
    builds it: for code that builds an agent itself (tests, experiment scripts)."""
    from rlk.core.registry import default_registry

    reg = registry or default_registry()
    return resolve_losses(weights, options or {}, reg, agent, reg.get("agent", agent).inputs)[0]

