"""Anakin's data parallelism: one update on 4 devices equals the single-device update on the same batch."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from rlk.core.losses import agent_losses
from rlk.core.types import Trajectory
from rlk.plugins.actor_critic.ppo import PPOConfig, make_ppo
from rlk.plugins.actor_critic.vtrace import VTraceConfig, make_vtrace
from rlk.plugins.backends.anakin import rollout
from rlk.plugins.backends.platforms import PlatformBackend, PlatformConfig
from rlk.plugins.backends.replicator import DATA_AXIS
from rlk.plugins.envs.catch import Catch
from rlk.core.wrappers import for_training


def _compare(make, cfg, name):
    assert len(jax.devices("cpu")) >= 4, "conftest asks XLA for 4 host devices"
    env = for_training(Catch())
    losses = agent_losses(name, cfg.loss_weights)
    single, replicated = make(cfg, env.spec, None, losses), make(cfg, env.spec, DATA_AXIS, losses)
    state = single.init(jax.random.PRNGKey(0))
    env_state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), cfg.num_envs))
    _, traj = jax.jit(lambda: rollout(single, env, state.params, (), env_state, ts, jax.random.PRNGKey(2), cfg.unroll_length))()
    key = jax.random.PRNGKey(3)
    one, m1 = jax.jit(single.update)(state, traj, key)
    mesh = PlatformBackend("cpu", PlatformConfig(num_devices=4)).mesh()
    traj_specs = jax.tree.map(lambda _: P(None, DATA_AXIS), traj)
    step = jax.shard_map(lambda s, t: replicated.update(s, t, key), mesh=mesh, in_specs=(P(), traj_specs),
                         out_specs=(P(), P()), check_vma=False)
    four, m4 = jax.jit(step)(state, traj)
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(state.params)))
    assert moved > 1e-4  # the update did something
    for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(four.params)):
        # atol 1e-5 (under 10% of the largest step): a psum of 4 shard means adds in another order than
        # one mean, and Adam's m / sqrt(v) scales that rounding up for elements with tiny gradients
        # (CI saw 2.7e-6 on one of 3,200 V-trace weights)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(float(m1["loss"]), float(m4["loss"]), rtol=1e-5)


def test_ppo_update_four_devices_equals_one():
    # One minibatch per epoch: the per-device minibatches then make up exactly the global batch.
    _compare(make_ppo, PPOConfig(num_envs=16, unroll_length=8, num_epochs=2, num_minibatches=1), "ppo")


def test_vtrace_update_four_devices_equals_one():
    _compare(make_vtrace, VTraceConfig(num_envs=16, unroll_length=8), "vtrace")


def test_ppo_update_model_parallel_equals_one_device():
    """Hidden layers split over a 'model' axis (2x2 data x model mesh): same parameters as one device."""
    from rlk.plugins.backends.replicator import Replicator, batch_specs, make_mesh, shard_matching

    cfg = PPOConfig(num_envs=16, unroll_length=8, num_epochs=2, num_minibatches=2)
    env = for_training(Catch())
    agent = make_ppo(cfg, env.spec, None, agent_losses("ppo", cfg.loss_weights))
    state = agent.init(jax.random.PRNGKey(0))
    env_state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), cfg.num_envs))
    _, traj = jax.jit(lambda: rollout(agent, env, state.params, (), env_state, ts, jax.random.PRNGKey(2), cfg.unroll_length))()
    key = jax.random.PRNGKey(3)
    one, _ = jax.jit(agent.update)(state, traj, key)

    replicator = Replicator(make_mesh(jax.devices("cpu")[:4], data=2, model=2))
    rule = shard_matching(r"\.layers\[[01]\]")
    state_specs = replicator.param_specs(state, rule)
    sharded = [s for s in jax.tree.leaves(state_specs, is_leaf=lambda x: isinstance(x, P)) if s != P()]
    assert len(sharded) >= 8  # actor and critic hidden weights and biases (Adam moments too)
    step = replicator.model_parallel(lambda s, t: agent.update(s, t, key), (state_specs, batch_specs(traj, 1)),
                                     (state_specs, P()))
    placed = replicator.put(state, state_specs)
    assert placed.params.net.actor.layers[0].weight.sharding.spec == P(None, "model")  # [in, out]: by output unit
    assert placed.params.net.actor.layers[0].bias.sharding.spec == P("model")
    two, _ = step(placed, replicator.put(traj, batch_specs(traj, 1)))
    for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(two.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-6, rtol=1e-5)


def test_cca_least_squares_model_four_devices_equals_one():
    """The least-squares one-step model sums its statistics over devices: on 4 devices it is the fit of the
    whole batch, as on one (``model_fit='least_squares'``, ``agent.least_squares_model``)."""
    from rlk.plugins.counterfactual.agent import CCAConfig, make_cca
    from rlk.plugins.counterfactual.envs import BanditFeedback

    env = BanditFeedback()
    cfg = CCAConfig(num_envs=16, hidden_sizes=(8,), hindsight_size=4, hindsight_inputs="feature_innovations",
                    model_fit="least_squares", classifier_steps=1)
    losses = agent_losses("cca", cfg.loss_weights)
    single, replicated = make_cca(cfg, env.spec, None, losses), make_cca(cfg, env.spec, DATA_AXIS, losses)
    state = single.init(jax.random.PRNGKey(0))
    s, ts0 = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), cfg.num_envs))
    actions = jnp.arange(cfg.num_envs) % env.spec.action.num_values
    _, ts1 = jax.vmap(env.step)(s, actions, jax.random.split(jax.random.PRNGKey(2), cfg.num_envs))
    traj = Trajectory(jax.tree.map(lambda a, b: jnp.stack([a, b]), ts0, ts1), actions[None], {})
    key = jax.random.PRNGKey(3)
    one, _ = jax.jit(single.update)(state, traj, key)
    mesh = PlatformBackend("cpu", PlatformConfig(num_devices=4)).mesh()
    step = jax.shard_map(lambda st, t: replicated.update(st, t, key), mesh=mesh,
                         in_specs=(P(), jax.tree.map(lambda _: P(None, DATA_AXIS), traj)), out_specs=(P(), P()),
                         check_vma=False)
    four, _ = jax.jit(step)(state, traj)
    assert float(jnp.max(jnp.abs(one.model_stats[0]))) > 0  # the fit saw the batch
    for a, b in zip(jax.tree.leaves((one.model_stats, one.params.model)), jax.tree.leaves((four.model_stats, four.params.model))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4, rtol=1e-4)
