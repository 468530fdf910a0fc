"""The board-shaped MuZero model (``rlk.nn.board_model``): action planes, shapes, and that its dynamics
learns a reward that depends on where the action is relative to the stones (what Go's rewards need)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rlk.nn.board_model import BoardMuZeroModel, action_planes
from rlk.nn.value_transforms import Support, logits_to_scalar, scalar_to_two_hot


def test_action_planes():
    planes = np.asarray(action_planes(jnp.int32(7), 3, 4))  # row 1, column 3
    assert planes.shape == (3, 4, 2) and planes[1, 3, 0] == 1 and planes[..., 0].sum() == 1 and planes[..., 1].sum() == 0
    passing = np.asarray(action_planes(jnp.int32(12), 3, 4))
    assert passing[..., 0].sum() == 0 and (passing[..., 1] == 1).all()


def test_shapes_and_config_errors():
    net = BoardMuZeroModel(jax.random.PRNGKey(0), (5, 5, 3), 26, (16,), 11, channels=4)
    latent = net.initial(jnp.zeros((5, 5, 3)))
    logits, value = net.predict(latent)
    nxt, reward = net.step(latent, jnp.int32(25))
    assert latent.shape == nxt.shape == (5, 5, 4) and logits.shape == (26,) and value.shape == reward.shape == (11,)
    with pytest.raises(ValueError, match="one action per point"):
        BoardMuZeroModel(jax.random.PRNGKey(0), (5, 5, 3), 4, (16,), 11)
    with pytest.raises(ValueError, match="channels-last"):
        BoardMuZeroModel(jax.random.PRNGKey(0), (10,), 11, (16,), 11)


def test_agent_refuses_board_latent_off_board_games():
    from rlk.core.errors import RlkError
    from rlk.plugins.envs.catch import Catch
    from rlk.core.losses import agent_losses
    from rlk.plugins.muzero.agent import MuZeroConfig, make_muzero

    config = MuZeroConfig(latent="board")
    with pytest.raises(RlkError, match="latent='board'"):
        make_muzero(config, Catch().spec, None, agent_losses("muzero", config.loss_weights))


@pytest.mark.slow
def test_dynamics_learns_a_reward_set_by_the_actions_neighbourhood():
    """Reward 1 when the action's point touches a stone of plane 0 (4-neighbours), else 0, on random 5x5
    boards: the model's reward (``step`` from ``initial``) fits it after 400 Adam steps, judged on fresh
    boards against the base rate (about half the points touch a stone)."""
    H = W = 5
    support = Support(-2.0, 2.0, 9)

    def data(key, n):
        kb, ka = jax.random.split(key)
        stones = jax.random.bernoulli(kb, 0.15, (n, H, W)).astype(jnp.float32)
        action = jax.random.randint(ka, (n,), 0, H * W)
        pad = jnp.pad(stones, ((0, 0), (1, 1), (1, 1)))
        near = pad[:, :-2, 1:-1] + pad[:, 2:, 1:-1] + pad[:, 1:-1, :-2] + pad[:, 1:-1, 2:]
        reward = (near.reshape(n, -1)[jnp.arange(n), action] > 0).astype(jnp.float32)
        return stones[..., None], action, reward

    net = BoardMuZeroModel(jax.random.PRNGKey(0), (H, W, 1), H * W + 1, (32,), support.num_atoms, channels=8)
    opt = optax.adam(1e-2)

    def predict(net, obs, action):
        return jax.vmap(lambda o, a: net.step(net.initial(o), a)[1])(obs, action)

    @eqx.filter_jit
    def train(net, opt_state, key):
        obs, action, reward = data(key, 128)

        def loss(net):
            target = scalar_to_two_hot(reward, support)
            return -jnp.mean(jnp.sum(target * jax.nn.log_softmax(predict(net, obs, action)), -1))

        grads = eqx.filter_grad(loss)(net)
        updates, opt_state = opt.update(grads, opt_state, net)
        return eqx.apply_updates(net, updates), opt_state

    opt_state = opt.init(eqx.filter(net, eqx.is_array))
    for key in jax.random.split(jax.random.PRNGKey(1), 400):
        net, opt_state = train(net, opt_state, key)
    obs, action, reward = data(jax.random.PRNGKey(2), 2000)
    pred = np.asarray(logits_to_scalar(eqx.filter_jit(predict)(net, obs, action), support))
    accuracy = np.mean((pred > 0.5) == (np.asarray(reward) > 0.5))
    base = max(np.mean(reward), 1 - np.mean(reward))
    assert 0.3 < np.mean(reward) < 0.7 and accuracy > 0.95 and accuracy > base + 0.3, (accuracy, base)
