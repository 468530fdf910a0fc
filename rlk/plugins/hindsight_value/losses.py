"""HiMo's three losses (Guez et al. 2020, "Value-driven Hindsight Modelling", arXiv:2002.08329, Sec. 3),
each a named pure function ``(outputs, batch, config) -> (scalar, metrics)``.

Notation (paper, Sec. 3.1-3.2): ``phi_t = phi(tau_{t+1:t+k})`` is a small hindsight feature of the
future, ``phi_hat_t = g(x_t)`` the model's prediction of it from the present, ``v+(x_t, phi_t)`` the
hindsight value and ``v_m(x_t, phi_hat_t)`` the model value used for acting and bootstrapping.

``outputs`` (``[N]`` steps, built by ``rlk.plugins.hindsight_value.himo.himo_outputs``):
  ``himo_phi [N, d]``, ``himo_phi_hat [N, d]``, ``himo_v_plus [N]`` (from ``phi``, gradients into
  ``phi``'s network), ``himo_v_m [N]`` (computed from ``stop_gradient(phi_hat)``: its loss leaves the
  model ``g`` untouched).
``batch``: ``value_target [N]``, the return estimate ``G_t`` both values regress on.

Where the paper stops gradients:
- ``L_v+ = (G - v+(x, phi))^2`` trains ``v+`` *and* ``phi``: this is what makes phi value-driven;
- ``L_model = ||phi_hat - stop_grad(phi)||^2`` trains the model ``g`` only (phi is its target);
- ``L_vm = (G - v_m(x, stop_grad(phi_hat)))^2`` trains ``v_m`` only (not the model's prediction).
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp


def hindsight_value_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """``L_v+ = 1/2 E[(G_t - v+(x_t, phi_t))^2]`` (paper, Sec. 3.2, the hindsight value loss)."""
    del config
    v_plus, target = outputs["himo_v_plus"], batch["value_target"]
    chex.assert_equal_shape([v_plus, target])
    return 0.5 * jnp.mean(jnp.square(v_plus - jax.lax.stop_gradient(target))), {}


def model_value_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """``L_vm = 1/2 E[(G_t - v_m(x_t, stop_grad(phi_hat_t)))^2]`` (paper, Sec. 3.2, the model value loss).

    The stop-gradient on ``phi_hat`` sits where ``himo_v_m`` was computed (``himo.himo_outputs``).
    """
    del config
    v_m, target = outputs["himo_v_m"], batch["value_target"]
    chex.assert_equal_shape([v_m, target])
    return 0.5 * jnp.mean(jnp.square(v_m - jax.lax.stop_gradient(target))), {}


def model_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """``L_model = E[||phi_hat_t - stop_grad(phi_t)||^2]`` (paper, Sec. 3.2, the model loss).

    Summed over the ``d`` feature dimensions, averaged over steps; ``phi`` is a fixed target here,
    so this loss never changes the hindsight network.
    """
    del batch, config
    phi, phi_hat = outputs["himo_phi"], outputs["himo_phi_hat"]
    chex.assert_equal_shape([phi, phi_hat])
    err = jnp.sum(jnp.square(phi_hat - jax.lax.stop_gradient(phi)), axis=-1)
    return jnp.mean(err), {"phi_norm": jnp.mean(jnp.linalg.norm(phi, axis=-1))}


LOSSES = {
    "himo_hindsight_value": hindsight_value_loss,
    "himo_model_value": model_value_loss,
    "himo_model": model_loss,
}
