"""What both Muesli variants' learners share: the learner state, the advantage scale, and one update.

An update (``make_learner``): the online sequences go into the replay kept in the learner state and are joined
with replayed ones (``rlk.learn.replay``); the variant's ``targets`` builds, with the target network, everything
the losses need besides the online network's outputs; one gradient step (``rlk.learn.sgd``) on the variant's
``loss_fn``; the target network follows the online one by an EMA (``rlk.learn.targets``).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from rlk.core.errors import RlkError
from rlk.core.losses import LossSet
from rlk.core.parallel import pmean
from rlk.core.types import EnvSpec, Trajectory
from rlk.learn.optim import make_optimiser
from rlk.learn.replay import make_sequence_replay, sequences
from rlk.learn.sgd import SGDState, sgd_step
from rlk.learn.targets import ema_update
from rlk.plugins.muesli.config import MuesliConfig


class MuesliState(NamedTuple):
    """The learner state of both Muesli variants (categorical and Gaussian policies)."""

    params: Any
    target_params: Any
    opt_state: Any
    replay: Any
    adv_var: jax.Array  # debiased EMA of E[adv^2]: numerator and normaliser
    adv_norm: jax.Array
    updates: jax.Array


class AdvantageScale(NamedTuple):
    """sigma, the advantages' moving scale, and the new moving statistics it came from."""

    sigma: jax.Array
    adv_var: jax.Array
    adv_norm: jax.Array


def advantage_scale(adv_var: jax.Array, adv_norm: jax.Array, adv: jax.Array, decay: float,
                    axis_name: Optional[str]) -> AdvantageScale:
    """sigma = sqrt(debiased EMA of E[adv^2]) + 1e-3 (Muesli's advantage normalisation; Table 5: beta_var),
    the mean of ``adv`` taken over the whole batch (all replicas)."""
    var_m = decay * adv_var + (1 - decay) * pmean(jnp.mean(adv ** 2), axis_name)
    var_n = decay * adv_norm + (1 - decay)
    return AdvantageScale(jnp.sqrt(var_m / var_n) + 1e-3, var_m, var_n)


def _check_losses(losses: LossSet) -> None:
    """Muesli keeps no loss parameters and no per-step data prepared from the trajectory (replayed sequences
    have none), and its critic is its own: a one-line error for a loss that needs any of these."""
    for name, _, loss in losses.terms:
        if loss.init is not None or loss.prepare is not None or loss.value is not None:
            raise RlkError(f"loss '{name}' has parameters, prepared data or a value function, which agent 'muesli' "
                           f"does not keep")


class Learner(NamedTuple):
    """``init(net) -> MuesliState`` and ``update(state, trajectory, key) -> (state, metrics)``."""

    init: Callable[[Any], MuesliState]
    update: Callable[[MuesliState, Trajectory, jax.Array], tuple[MuesliState, dict]]


def make_learner(c: MuesliConfig, spec: EnvSpec, axis_name: Optional[str], losses: LossSet, targets: Callable,
                 loss_fn: Callable) -> Learner:
    """A variant's learner from its two functions (``losses``: the run's, checked here; ``loss_fn`` calls them):

    - ``targets(state, seq: rlk.learn.replay.Sequences [T(+1), N], key) -> (batch, AdvantageScale)``: the
      target network's part;
    - ``loss_fn(params, seq, batch, key) -> (loss, metrics)``: the online network's part.
    Both get the same key (the variants draw from it in one or the other).
    """
    _check_losses(losses)
    replay = make_sequence_replay(spec, c.unroll_length, c.num_envs, c.replay_fraction, c.replay_capacity)
    optimiser = make_optimiser(c)
    step = sgd_step(loss_fn, optimiser, axis_name)

    def init(net) -> MuesliState:
        return MuesliState(net, net, optimiser.init(net), replay.init(), jnp.float32(0), jnp.float32(0), jnp.int32(0))

    def update(state: MuesliState, traj: Trajectory, key: jax.Array) -> tuple[MuesliState, dict]:
        replay_key, key = jax.random.split(key)
        buffer, seq = replay.add_and_join(state.replay, sequences(traj), replay_key)
        batch, scale = targets(state, seq, key)
        sgd, metrics = step(SGDState(state.params, state.opt_state), seq, batch, key)
        target = ema_update(sgd.params, state.target_params, c.target_ema)
        metrics = pmean({**metrics, "adv_sigma": scale.sigma}, axis_name)
        return MuesliState(sgd.params, target, sgd.opt_state, buffer, scale.adv_var, scale.adv_norm,
                           state.updates + 1), metrics

    return Learner(init, update)

