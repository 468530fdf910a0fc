"""What MuZero's search simulates: the learned model, or the true environment (Hamrick et al. 2021,
section 4: the learned model versus the environment itself as the model searched over), as mctx's
recurrent function, with optional Monte-Carlo rollouts below the tree.

MuZero never builds or names environments: an environment that can be stepped from a saved state
declares its dynamics as a ``rlk.core.types.Simulator`` in its spec (``EnvSpec.simulator``; Catch and
the deterministic pgx games such as ``go_9x9`` do), and the agent factory, which receives the spec, uses
that. A third-party environment gets ``agent.simulator=env`` the same way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mctx

from rlk.core.errors import RlkError
from rlk.core.types import EnvSpec, Simulator
from rlk.nn.masking import masked_logits
from rlk.nn.muzero_model import MuZeroModel
from rlk.nn.value_transforms import Support, logits_to_scalar
from rlk.plugins.muzero.go import shaped_reward


def true_simulator(spec: EnvSpec) -> Simulator:
    """The simulator ``spec``'s environment declares, or a one-line RlkError where it declares none."""
    if spec.simulator is None:
        raise RlkError(f"agent.simulator='env' needs a JAX env steppable from a saved state (one that declares "
                       f"EnvSpec.simulator, e.g. catch, go_9x9); env '{spec.name}' is not one (use agent.simulator=model)")
    return spec.simulator


def model_simulator_step(support: Support, discount: float):
    """One step of the learned model for a batch of latents: ``(net, latent, action, key) -> (latent',
    reward, discount, prior logits, value)``; ``discount`` is ``gamma``, or ``-gamma`` in two-player
    games (mctx's convention: each node's value is seen by the player to move there)."""

    def step(net: MuZeroModel, latent, action, key):
        del key
        nxt, r_logits = jax.vmap(net.step)(latent, action)
        p_logits, v_logits = jax.vmap(net.predict)(nxt)
        value = logits_to_scalar(v_logits, support)
        return nxt, logits_to_scalar(r_logits, support), jnp.full_like(value, discount), p_logits, value

    return step


def env_simulator_step(simulator: Simulator, support: Support, discount: float, masked: bool, area_shaping: float = 0.0):
    """One step of the true environment (planning study: the true model as the simulator) for a batch of
    embeddings ``(env state, ended)``: the environment's reward and its next state; prior and value from
    the network on the next observation (illegal actions masked out of the prior); past an episode's
    end an absorbing state (reward, value and discount 0). ``area_shaping``: the shaped reward (``go.py``) with
    the simulator's potential, from the observations of the states before and after the move."""

    def step(net: MuZeroModel, embedding, action, key):
        state, ended = embedding
        nxt, ts = jax.vmap(simulator.step)(state, action, jax.random.split(key, action.shape[0]))
        if area_shaping:
            shape = lambda r, o, o2, last: shaped_reward(simulator.potential, r, o, o2, last, area_shaping)
            ts = ts._replace(reward=jax.vmap(shape)(ts.reward, jax.vmap(simulator.observe)(state), ts.observation, ts.last))
        p_logits, v_logits = jax.vmap(lambda o: net.predict(net.initial(o)))(ts.observation)
        if masked:
            p_logits = masked_logits(p_logits, ts.legal_action_mask)
        now_ended = ended | (ts.discount == 0)
        value = jnp.where(now_ended, 0.0, logits_to_scalar(v_logits, support))
        reward = jnp.where(ended, 0.0, ts.reward)
        return (nxt, now_ended), reward, jnp.where(now_ended, 0.0, discount), p_logits, value

    return step


def make_recurrent_fn(support: Support, gamma: float, rollout_steps: int, sign: float = 1.0, step=None):
    """mctx's recurrent function over a simulator (the learned model by default), with optional prior-policy rollouts.

    For a batch of ``(embedding, action)``: the reward of the transition into the child, the discount
    (``gamma``; ``-gamma`` with ``sign=-1`` for two-player games), the child's prior logits and its value;
    with ``rollout_steps = n > 0`` the value is the n-step return of the simulator rolled out from the
    child with actions sampled from the prior, bootstrapped with the value head:
    ``sum_{i<n} d^i r_i + d^n v(s_n)`` (``d`` the discount). ``step`` replaces the learned model
    (``env_simulator_step``).
    """
    step = step or model_simulator_step(support, sign * gamma)

    def recurrent_fn(net: MuZeroModel, rng, action, embedding):
        step_key, roll_key = jax.random.split(rng)
        nxt, reward, discount, p_logits, value = step(net, embedding, action, step_key)
        if rollout_steps > 0:  # Monte-Carlo rollout of the simulator with the prior, bootstrapped at its end
            def roll(carry, key):
                s, logits, ret, disc = carry
                act_key, sim_key = jax.random.split(key)
                s2, r2, d2, l2, v2 = step(net, s, jax.random.categorical(act_key, logits), sim_key)
                return (s2, l2, ret + disc * r2, disc * d2), v2

            init = (nxt, p_logits, jnp.zeros_like(value), jnp.ones_like(value))
            (_, _, ret, disc), values = jax.lax.scan(roll, init, jax.random.split(roll_key, rollout_steps))
            value = ret + disc * values[-1]  # past an episode's end (true environment) disc is 0
        out = mctx.RecurrentFnOutput(reward=reward, discount=discount, prior_logits=p_logits, value=value)
        return out, nxt

    return recurrent_fn
