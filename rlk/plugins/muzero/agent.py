"""MuZero (Schrittwieser et al. 2020) on mctx, with the interventions of Hamrick et al. 2021
("On the role of planning in model-based deep reinforcement learning") as config fields.

Acting runs ``mctx.muzero_policy`` (or ``gumbel_muzero_policy``) over the learned model; the
trajectory keeps the search's visit distribution as the policy target. Each update adds the online
sequences to the replay buffer kept in the learner state, then takes ``num_sgd_steps`` gradient
steps, each on the online batch joined with a fresh replay sample: the model is unrolled K steps
from every state and trained on policy (search visits), value (n-step returns bootstrapped from an
EMA target network) and reward, all categorical with two-hot targets (``losses.py``: eq. 1 over
``MuZeroInputs``, weighted by ``agent.loss_weights``). Model steps past an episode's end are an absorbing
state (value and reward 0), as in MuZero's pseudocode. Optimiser, gradient step, EMA and replay are
``rlk.learn``'s.

The study's knobs (section 4 of Hamrick et al.):
- search budget: ``num_simulations`` (training: acting and targets) and ``eval_simulations``;
- tree depth: ``max_depth`` (mctx's maximum search depth);
- where search is used: ``search_for_acting`` (collect data with search or with the prior policy),
  ``policy_targets`` (``"acting"``: the visits of the search that acted; ``"reanalyse"``: a fresh
  search with the target network at update time; ``"policy_gradient"``: no search for learning, the prior
  learns model-free, an actor-critic loss on the online sequences' actions with a truncated importance weight
  (``muzero_policy_gradient``); ``"none"``: the
  prior does not learn at all), ``search_at_eval``. The arms: search for acting and learning (``acting``),
  for acting only (``search_for_acting`` with ``policy_gradient``), for learning only (``search_for_acting=false``
  with ``reanalyse``), for neither (``search_for_acting=false`` with ``policy_gradient``);
- ``rollout_steps``: below the tree, leaf values come from Monte-Carlo rollouts of the learned
  model with the prior policy (inside the recurrent function) instead of the value head alone;
- ``simulator``: the learned model, or the true environment stepped from a copy of its state
  (``simulators.py``: Catch, and deterministic pgx games such as ``go_9x9``).

Two-player games (``spec.num_players == 2``, players alternating, e.g. pgx ``go_9x9``): self-play, with
rewards the mover's and values the player to move's, so the search's discount is ``-gamma`` (mctx's
convention) and the n-step value targets flip sign each move; the legal-action mask restricts the
root of every search, the prior when acting without search, and Reanalyse's searches. Go only:
``area_shaping`` adds potential-based shaping with the area-score margin (``go.py``) to the rewards of
the training targets and of the true-environment simulator.

Defaults are the paper's where they transfer, and a "toy setting" tuned on Catch where they do not
(the paper trains for hundreds of thousands of steps on large batches; here a run is 150k env steps
on two CPU cores). On Catch, learning hinges on the model learning the action-conditioned terminal
reward (ball column vs. paddle column after the move), which takes a few hundred gradient steps: hence
several gradient steps per update, a larger step size, and no min-max latent scaling (see README.md).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import mctx

from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent
from rlk.core.losses import LossSet
from rlk.core.parallel import pmean
from rlk.core.types import DiscreteSpec, EnvSpec, Simulator, TimeStep, Trajectory
from rlk.learn.optim import make_optimiser
from rlk.learn.replay import join, make_sequence_replay, replica_local, sequences
from rlk.learn.sgd import SGDState, sgd_step
from rlk.learn.targets import ema_update
from rlk.nn.board_model import BoardMuZeroModel
from rlk.nn.masking import masked_logits
from rlk.nn.muzero_model import MuZeroModel
from rlk.nn.unroll_targets import model_targets
from rlk.nn.value_transforms import Support, logits_to_scalar, scalar_to_two_hot
from rlk.plugins.muzero.config import MuZeroConfig, MuZeroInputs, MuZeroPolicyGradientInputs
from rlk.plugins.muzero.simulators import env_simulator_step, make_recurrent_fn, true_simulator
from rlk.plugins.muzero.targets import absorbing_targets, area_shaped_rewards, n_step_returns


def over_steps(f, *xs):
    """``f`` of one example mapped over the two leading axes ``[T, N]`` of ``xs``, as one batch of ``T * N``
    (one vmap: 9% less CPU per MinAtar gradient step than two nested vmaps, experiments/muzero/profile_step.py)."""
    lead = xs[0].shape[:2]
    out = jax.vmap(f)(*(x.reshape((-1,) + x.shape[2:]) for x in xs))
    return jax.tree.map(lambda y: y.reshape(lead + y.shape[1:]), out)


class MuZeroState(NamedTuple):
    params: Any
    target_params: Any
    opt_state: Any
    replay: Any
    updates: jax.Array


class MuZeroParts(NamedTuple):
    """The agent and the pieces it is made of, for tests and benchmarks.

    search: ``(net, observation [B, ...], key, num_simulations, noise, mask [B, A] | None, sim_state | None)
      -> (mctx.PolicyOutput, prior logits [B, A])``; ``sim_state``: the environment states behind the
      observations when the true environment is the simulator.
    targets: ``(learner state, ts [T+1, N], action [T, N], policy [T, N, A], key, num_fresh=None) -> batch``: the
      policy (acting visits, or a fresh Reanalyse search with the target network, or the policy gradient's
      actions, advantages and behaviour probabilities on the first ``num_fresh`` sequences), value and model
      targets of one gradient step, with their masks.
    loss_fn: ``(net, ts [T+1, N], action [T, N], batch) -> (loss, metrics)``: eq. 1 on ``targets``' batch.
    replay: the ``rlk.learn.SequenceReplay`` the learner state's buffer belongs to.
    """

    agent: Agent
    search: Any
    targets: Any
    simulator: Optional[Simulator]
    loss_fn: Any
    replay: Any


def make_muzero(config: MuZeroConfig, spec: EnvSpec, axis_name: Optional[str], losses: LossSet) -> Agent:
    return make_muzero_parts(config, spec, axis_name, losses).agent


def make_muzero_parts(config: MuZeroConfig, spec: EnvSpec, axis_name: Optional[str], losses: LossSet) -> MuZeroParts:
    c = config
    if not isinstance(spec.action, DiscreteSpec):
        raise RlkError(f"agent 'muzero' needs discrete actions; env '{spec.name}' has {spec.action.kind} actions")
    if spec.num_players > 2:
        raise RlkError(f"agent 'muzero' plays one- and two-player games; env '{spec.name}' has {spec.num_players} players")
    if not c.search_for_acting and c.policy_targets == "acting":
        raise RlkError("agent.policy_targets='acting' needs agent.search_for_acting=true (or use 'reanalyse' / 'policy_gradient' / 'none')")
    if c.value_bounds is not None and not c.value_bounds[0] < c.value_bounds[1]:
        raise RlkError(f"agent.value_bounds must be [low, high] with low < high, got {list(c.value_bounds)}")
    if c.simulator == "env" and c.policy_targets == "reanalyse":
        raise RlkError("agent.policy_targets='reanalyse' searches replayed observations, whose environment states are not "
                       "kept: use it with agent.simulator=model")
    if c.policy_targets == "policy_gradient" and "muzero_policy_gradient" not in [name for name, _, _ in losses.terms]:
        raise RlkError("agent.policy_targets='policy_gradient' needs loss 'muzero_policy_gradient' in agent.loss_weights "
                       "(a weight above 0)")
    owning = [name for name, _, loss in losses.terms if loss.init is not None or loss.prepare is not None]
    if owning:
        raise RlkError(f"agent 'muzero' feeds losses without parameters or preparation; loss '{owning[0]}' has some")
    A, T, K = spec.action.num_values, c.unroll_length, c.model_unroll
    sign = -1.0 if spec.num_players == 2 else 1.0  # two-player games: players alternate, values flip sign each move
    masked = spec.has_legal_action_mask
    support = Support(-c.support_max, c.support_max, c.num_atoms)
    simulator = true_simulator(spec) if c.simulator == "env" else None
    if c.latent == "board":
        shape = tuple(spec.observation.shape)
        if len(shape) != 3 or A not in (shape[0] * shape[1], shape[0] * shape[1] + 1):
            raise RlkError(f"agent.latent='board' needs a board game (observations [H, W, C], one action per point and "
                           f"maybe a pass); env '{spec.name}' has observations {list(shape)} and {A} actions")
    potential = None if spec.simulator is None else spec.simulator.potential
    if c.area_shaping and (potential is None or spec.num_players != 2):
        raise RlkError(f"agent.area_shaping needs a two-player game that declares a potential (Go's area score); "
                       f"env '{spec.name}' is not one: leave it 0")
    step = None if simulator is None else env_simulator_step(simulator, support, sign * c.gamma, masked, c.area_shaping)
    recurrent_fn = make_recurrent_fn(support, c.gamma, c.rollout_steps, sign, step)
    if c.value_bounds is None:
        qtransform = mctx.qtransform_by_parent_and_siblings
    else:
        qtransform = functools.partial(mctx.qtransform_by_min_max, min_value=c.value_bounds[0], max_value=c.value_bounds[1])
    S = c.num_sgd_steps
    optimiser = make_optimiser(c, steps_per_update=S)
    # Each of the S gradient steps joins the online batch with a fresh draw of replayed sequences.
    replay = make_sequence_replay(spec, T, c.num_envs, c.replay_fraction, c.replay_capacity, draws=S,
                                  extras={"search_policy": ((A,), jnp.float32)})  # the policy target

    def init(key):
        if c.latent == "board":
            net = BoardMuZeroModel(key, spec.observation.shape, A, c.hidden_sizes, c.num_atoms, c.board_channels,
                                   c.board_blocks, scale_latents=c.latent_scaling == "minmax")
        else:
            net = MuZeroModel(key, spec.observation.shape, A, c.latent_size, c.hidden_sizes, c.num_atoms,
                              scale_latents=c.latent_scaling == "minmax", torso=c.torso)
        return MuZeroState(net, net, optimiser.init(net), replay.init(), jnp.int32(0))

    def search(net, observation, key, num_simulations: int, noise: bool, mask=None, sim_state=None):
        latents = jax.vmap(net.initial)(observation)
        prior, v_logits = jax.vmap(net.predict)(latents)
        embedding = latents if simulator is None else (sim_state, jnp.zeros(observation.shape[0], jnp.bool_))
        root = mctx.RootFnOutput(prior_logits=prior, value=logits_to_scalar(v_logits, support), embedding=embedding)
        invalid = None if mask is None else jnp.logical_not(mask)
        if c.search == "gumbel":
            out = mctx.gumbel_muzero_policy(net, key, root, recurrent_fn, num_simulations, invalid_actions=invalid,
                                            max_depth=c.max_depth, gumbel_scale=1.0 if noise else 0.0)
        else:
            out = mctx.muzero_policy(net, key, root, recurrent_fn, num_simulations, invalid_actions=invalid,
                                     max_depth=c.max_depth, qtransform=qtransform,
                                     dirichlet_fraction=c.dirichlet_fraction if noise else 0.0,
                                     dirichlet_alpha=c.dirichlet_alpha, temperature=c.temperature if noise else 1.0)
        return out, prior

    def prior_logits(params, timestep: TimeStep):
        prior, _ = jax.vmap(lambda o: params.predict(params.initial(o)))(timestep.observation)
        if masked:
            prior = masked_logits(prior, timestep.legal_action_mask)
        return prior

    def initial_actor_state(batch: int):
        return () if simulator is None else simulator.initial(batch)

    def act(params, actor_state, timestep: TimeStep, key):
        sim_state = None if simulator is None else simulator.root(actor_state, timestep)
        if c.search_for_acting:
            out, _ = search(params, timestep.observation, key, c.num_simulations, True, timestep.legal_action_mask, sim_state)
            action, extras = out.action, {"search_policy": out.action_weights}
        else:
            prior = prior_logits(params, timestep)
            action, extras = jax.random.categorical(key, prior), {"search_policy": jax.nn.softmax(prior)}
        if simulator is not None:
            actor_state = simulator.advance(sim_state, action)
        return action, actor_state, extras

    def eval_act(params, actor_state, timestep: TimeStep, key):
        sim_state = None if simulator is None else simulator.root(actor_state, timestep)
        if c.search_at_eval:
            out, _ = search(params, timestep.observation, key, c.eval_simulations, False, timestep.legal_action_mask, sim_state)
            action = jnp.argmax(out.action_weights, -1)
        else:
            action = jnp.argmax(prior_logits(params, timestep), -1)
        if simulator is not None:
            actor_state = simulator.advance(sim_state, action)
        return action, actor_state, {}

    def targets(state: MuZeroState, ts: TimeStep, action, policy, search_key, num_fresh: Optional[int] = None) -> dict:
        """The targets of one gradient step on sequences ``ts [T+1, N]``, ``action [T, N]``, ``policy [T, N, A]`` (the
        acting distribution), the first ``num_fresh`` of them online (default all). The policy gradient counts the
        online sequences only: the replayed ones were acted by older priors, beyond what a truncated importance
        weight corrects."""
        N = action.shape[1]
        behaviour = jnp.take_along_axis(policy, action[..., None].astype(jnp.int32), -1)[..., 0]  # mu(a_t), as acted
        if c.policy_targets == "reanalyse":  # MuZero Reanalyse (Appendix H): fresh visits from the target network
            flat = lambda x: x[:T].reshape((T * N,) + x.shape[2:])
            mask = flat(ts.legal_action_mask) if masked else None
            out, _ = search(state.target_params, flat(ts.observation), search_key, c.num_simulations, False, mask)
            policy = out.action_weights.reshape((T, N, A))
        if c.area_shaping:
            ts = area_shaped_rewards(ts, potential, c.area_shaping)
        target = state.target_params
        v = logits_to_scalar(jax.vmap(jax.vmap(lambda o: target.predict(target.initial(o))[1]))(ts.observation), support)
        z = n_step_returns(ts, v, c.gamma, c.td_steps, sign)  # [T, N]
        policy_full = jnp.concatenate([policy, jnp.zeros((1, N, A))], 0)  # [T+1, N, A]; the last is masked
        model = absorbing_targets(ts, model_targets(ts, policy_full, z, support, K), support, K)
        use_search = 1.0 if c.policy_targets in ("acting", "reanalyse") else 0.0
        use_pg = 1.0 if c.policy_targets == "policy_gradient" else 0.0
        # Policy targets exist for steps j + k < T only (the search did not run on the final observation).
        inside = (jnp.arange(T)[None, :, None] + jnp.arange(1, K + 1)[:, None, None]) < T
        advantage = z - v[:T]  # the model-free arm's advantage: n-step return minus the target network's value
        return jax.lax.stop_gradient({
            **model, "policy": policy, "value": scalar_to_two_hot(z, support),
            "policy_mask": jnp.full((T, N), use_search), "value_mask": jnp.ones((T, N)),
            "model_policy_mask": model["model_policy_mask"] * inside * use_search,
            "pg_action": action, "pg_advantage": advantage,
            "pg_mask": jnp.full((T, N), use_pg) * (jnp.arange(N) < (N if num_fresh is None else num_fresh)),
            "pg_behaviour_log_prob": jnp.log(jnp.maximum(behaviour, 1e-8)),
        })

    def loss_fn(net, ts: TimeStep, action, batch: dict):
        """MuZero's loss (eq. 1) on sequences ``ts [T+1, N]``, ``action [T, N]``: the model unrolled K steps from
        every state with the actions taken, against ``batch`` (``targets``)."""
        latents = over_steps(net.initial, ts.observation[:T])
        logits, v_logits = over_steps(net.predict, latents)
        acts = jnp.concatenate([action, jnp.zeros((K,) + action.shape[1:], action.dtype)], 0)
        seq = jnp.stack([acts[k:k + T] for k in range(K)])  # [K, T, N]: a_{j+k}

        def unroll(s, a):
            nxt, r_logits = over_steps(net.step, s, a)
            p_logits, val_logits = over_steps(net.predict, nxt)
            g = c.dynamics_grad_scale  # MuZero Appendix G: the gradient into the next dynamics step is scaled by 1/2
            nxt = g * nxt + (1.0 - g) * jax.lax.stop_gradient(nxt)
            return nxt, (p_logits, r_logits, val_logits)

        _, (m_logits, m_reward, m_value) = jax.lax.scan(unroll, latents, seq)
        b = batch
        inputs = MuZeroInputs(logits, b["policy"], b["policy_mask"], v_logits, b["value"], b["value_mask"],
                              m_logits, b["model_policy"], b["model_policy_mask"], m_value, b["model_value"],
                              b["model_value_mask"], m_reward, b["model_reward"], b["model_reward_mask"])
        pg = MuZeroPolicyGradientInputs(logits, b["pg_action"], b["pg_advantage"], b["pg_behaviour_log_prob"], b["pg_mask"])
        return losses({}, {MuZeroInputs: inputs, MuZeroPolicyGradientInputs: pg}, {})

    gradient_step = sgd_step(loss_fn, optimiser, axis_name)

    def learn(state: MuZeroState, xs, num_fresh: int):
        """One gradient step on sequences ``[T(+1), N]``, the first ``num_fresh`` of them online, and the target
        network's EMA step after it."""
        seqs, key = xs
        batch = targets(state, seqs.timestep, seqs.action, seqs.extras["search_policy"], key, num_fresh)
        sgd, metrics = gradient_step(SGDState(state.params, state.opt_state), seqs.timestep, seqs.action, batch)
        target = ema_update(sgd.params, state.target_params, c.target_ema)
        return state._replace(params=sgd.params, target_params=target, opt_state=sgd.opt_state), metrics

    def update(state: MuZeroState, traj: Trajectory, key):
        replay_key, key = jax.random.split(key)
        online = sequences(traj, ("search_policy",))
        buffer = replay.add(state.replay, online)
        batches = jax.tree.map(lambda x: jnp.broadcast_to(x, (S,) + x.shape), online)  # [S, T(+1), B, ...]
        if replay.num_replay > 0:  # S draws of num_replay sequences, each joined to the online batch
            draws = jax.tree.map(lambda x: jnp.moveaxis(x.reshape((x.shape[0], S, -1) + x.shape[2:]), 1, 0),
                                 replay.sample(buffer, replay_key))  # [T(+1), S * n] -> [S, T(+1), n]
            batches = jax.vmap(join)(batches, draws)
        learn_online_first = functools.partial(learn, num_fresh=online.action.shape[1])
        state, metrics = jax.lax.scan(learn_online_first, state, (batches, jax.random.split(key, S)))
        metrics = pmean(jax.tree.map(jnp.mean, metrics), axis_name)
        return MuZeroState(state.params, state.target_params, state.opt_state, buffer, state.updates + 1), metrics

    agent = Agent(init, initial_actor_state, act, eval_act, update, c.num_envs, c.unroll_length, replica_local)
    return MuZeroParts(agent, search, targets, simulator, loss_fn, replay)
