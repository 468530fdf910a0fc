"""HiMo (Guez et al. 2020, "Value-driven Hindsight Modelling", arXiv:2002.08329, Sec. 3) as one loss
that brings its own networks: ``make_himo(HiMoConfig) -> Loss`` over ``StateInputs``.

Notation (paper, Sec. 3.1-3.2): ``phi_t = phi(tau_{t+1:t+k})`` is a small hindsight feature of the
future, ``phi_hat_t = g(x_t)`` the model's prediction of it from the present, ``v+(x_t, phi_t)`` the
hindsight value and ``v_m(x_t, phi_hat_t)`` the model value used for acting and bootstrapping.

Where the paper stops gradients:
- ``L_v+ = (G - v+(x, phi))^2`` trains ``v+`` *and* ``phi``: this is what makes phi value-driven;
- ``L_model = ||phi_hat - stop_grad(phi)||^2`` trains the model ``g`` only (phi is its target);
- ``L_vm = (G - v_m(x, stop_grad(phi_hat)))^2`` trains ``v_m`` only (not the model's prediction).

The loss is ``alpha L_v+ + beta L_model`` (Sec. 3.2); ``phi`` reads the future trajectory (``himo.py``). With ``as_critic`` (the paper's agent) it offers the
host agent ``v_m`` as its value function: the agent acts and bootstraps with ``v_m`` and its own value
loss is ``L_vm``. Without, ``v_m`` is an auxiliary head and the loss adds ``L_vm`` itself. Any agent that
produces ``StateInputs`` hosts it: ``-o agent.loss_weights.himo=1`` on ``ppo`` or ``vtrace``.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp

from rlk.core.losses import Loss, StateInputs
from rlk.core.types import EnvSpec, Trajectory
from rlk.plugins.hindsight_value import himo


def hindsight_value_loss(v_plus: jax.Array, value_target: jax.Array) -> jax.Array:
    """``L_v+ = 1/2 E[(G_t - v+(x_t, phi_t))^2]`` (paper, Sec. 3.2, the hindsight value loss)."""
    chex.assert_equal_shape([v_plus, value_target])
    return 0.5 * jnp.mean(jnp.square(v_plus - jax.lax.stop_gradient(value_target)))


def model_value_loss(v_m: jax.Array, value_target: jax.Array) -> jax.Array:
    """``L_vm = 1/2 E[(G_t - v_m(x_t, stop_grad(phi_hat_t)))^2]`` (paper, Sec. 3.2, the model value loss).

    The stop-gradient on ``phi_hat`` sits where ``v_m`` was computed (``himo.himo_outputs``)."""
    chex.assert_equal_shape([v_m, value_target])
    return 0.5 * jnp.mean(jnp.square(v_m - jax.lax.stop_gradient(value_target)))


def model_loss(phi: jax.Array, phi_hat: jax.Array) -> jax.Array:
    """``L_model = E[||phi_hat_t - stop_grad(phi_t)||^2]`` (paper, Sec. 3.2, the model loss), summed over
    the ``d`` feature dimensions, averaged over steps; ``phi`` is a fixed target here."""
    chex.assert_equal_shape([phi, phi_hat])
    return jnp.mean(jnp.sum(jnp.square(phi_hat - jax.lax.stop_gradient(phi)), axis=-1))


def make_himo(config: himo.HiMoConfig) -> Loss:
    """HiMo's loss on a host agent: heads of its own, the future trajectory prepared from the trajectory.

    With ``model_free_control`` it is the capacity-matched control: the same heads, ``L_v+`` and ``L_model``
    off, and ``v_m(x, g(x))`` trained end to end by the value loss (the host's, or ``L_vm`` here)."""
    c = config
    control = c.model_free_control

    def init(key: jax.Array, spec: EnvSpec) -> himo.HiMoHeads:
        return himo.init_heads(key, spec.observation.shape, c)

    def prepare(traj: Trajectory):
        """``tau_{t+1:t+k}`` of ``x_t``'s episode as a ``FutureWindow`` ``[T, B, k, ...]``, or the frame
        ``x_{t+k}`` ``[T, B, ...]`` (hindsight: training only)."""
        ts = traj.timestep
        if c.phi_input == "frame":
            return himo.gather_future(ts.observation, himo.future_index(ts.last, c.horizon))
        index, mask = himo.future_window(ts.last, c.horizon)
        return himo.FutureWindow(himo.gather_future(ts.observation, index), mask)

    def apply(heads: himo.HiMoHeads, inputs: StateInputs, future):
        if control:
            if c.as_critic:
                return jnp.float32(0.0), {}
            l_vm = model_value_loss(himo.model_value(heads, inputs.observation, through_model=True), inputs.value_target)
            return l_vm, {"model_value": l_vm}
        out = himo.himo_outputs(heads, inputs.observation, future)
        l_vplus = hindsight_value_loss(out.v_plus, inputs.value_target)
        l_model = model_loss(out.phi, out.phi_hat)
        total = c.hindsight_value_weight * l_vplus + c.model_weight * l_model
        metrics = {"hindsight_value": l_vplus, "model": l_model, "phi_norm": jnp.mean(jnp.linalg.norm(out.phi, axis=-1))}
        if not c.as_critic:
            metrics["model_value"] = l_vm = model_value_loss(out.v_m, inputs.value_target)
            total = total + l_vm
        return total, metrics

    value = functools.partial(himo.model_value, through_model=control) if c.as_critic else None
    return Loss(StateInputs, apply, init=init, prepare=None if control else prepare, value=value)
