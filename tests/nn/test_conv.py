"""Convolutional torsos (rlk.nn.conv): the convolution against a direct numpy sum, feature shapes of
each named torso, both image layouts, and the actor-critic built on them."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.core.errors import RlkError
from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec
from rlk.nn.conv import Conv2d, ConvStack, ImpalaTorso, image_layout, make_conv_torso
from rlk.plugins.actor_critic.networks import ConvActorCritic, apply_batch, make_actor_critic, resolve_torso


def numpy_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """VALID cross-correlation ``[N, H, W, C] * [kh, kw, C, O]`` by explicit sums."""
    n, h, wd, _ = x.shape
    kh, kw, _, o = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.einsum("nhwc,hwco->no", patch, w)
    return out + b


def test_conv2d_matches_numpy():
    conv = Conv2d(jax.random.PRNGKey(0), 3, 5, kernel=4, stride=2)
    weight = jax.random.normal(jax.random.PRNGKey(1), (4, 4, 3, 5))
    bias = jax.random.normal(jax.random.PRNGKey(2), (5,))
    conv = eqx.tree_at(lambda c: (c.weight, c.bias), conv, (weight, bias))
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (2, 11, 9, 3)))
    np.testing.assert_allclose(np.asarray(jax.jit(lambda c, x: c(x))(conv, jnp.asarray(x))),
                               numpy_conv(x, np.asarray(conv.weight), np.asarray(conv.bias), 2), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,shape,features", [
    ("dqn", (4, 84, 84), 256), ("nature", (4, 84, 84), 512), ("minatar", (10, 10, 4), 128),
    ("impala", (10, 10, 6), 256),
])
def test_torso_feature_shapes(name, shape, features):
    torso, size = make_conv_torso(jax.random.PRNGKey(0), name, shape)
    out = jax.jit(lambda t, x: t.batch(x))(torso, jnp.ones((3, *shape)))
    assert size == features and out.shape == (3, features)
    assert np.all(np.isfinite(np.asarray(out))) and np.all(np.asarray(out) >= 0)  # ReLU features
    np.testing.assert_allclose(np.asarray(jax.jit(lambda t, x: t(x))(torso, jnp.ones(shape))), np.asarray(out[0]), rtol=1e-5, atol=1e-5)


def test_layouts_agree():
    """A frames-first image and the same image channels-last give the same features."""
    assert image_layout((4, 84, 84)) == "CHW" and image_layout((10, 10, 4)) == "HWC" and image_layout((9, 9, 17)) == "HWC"
    assert image_layout((16,)) is None
    key = jax.random.PRNGKey(0)
    chw = ConvStack(key, (3, 12, 12), [(4, 3, 1)], 8)
    hwc = ConvStack(key, (12, 12, 3), [(4, 3, 1)], 8)
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 3, 12, 12))
    apply = jax.jit(lambda t, x: t.batch(x))
    np.testing.assert_allclose(np.asarray(apply(chw, x)), np.asarray(apply(hwc, jnp.transpose(x, (0, 2, 3, 1)))), rtol=1e-5, atol=1e-5)
    impala = ImpalaTorso(key, (3, 12, 12), channels=(4, 4))
    assert apply(impala, x).shape == (2, 256)


def _spec(shape, dtype="uint8") -> EnvSpec:
    return EnvSpec(name="pixels", observation=ArraySpec(shape=shape, dtype=dtype), action=DiscreteSpec(num_values=6))


def test_actor_critic_with_conv_torso():
    spec = _spec((4, 36, 36))  # the smallest frames the Nature torso takes (its last conv sees 3x3)
    assert resolve_torso("auto", _spec((4, 84, 84))) == "nature" and resolve_torso("auto", spec) == "nature" and resolve_torso("auto", _spec((10, 10, 4))) == "mlp"
    net = make_actor_critic(jax.random.PRNGKey(0), spec, (64, 64), "vtrace", torso="auto")
    assert isinstance(net, ConvActorCritic)
    frames = jax.random.randint(jax.random.PRNGKey(1), (5, 4, 36, 36), 0, 256).astype(jnp.uint8)
    logits, value = jax.jit(apply_batch)(net, frames)
    assert logits.shape == (5, 6) and value.shape == (5,)
    one_logits, one_value = jax.jit(lambda n, f: n(f.astype(jnp.float32) / 255.0))(net, frames[0])
    np.testing.assert_allclose(np.asarray(one_logits), np.asarray(logits[0]), rtol=1e-4, atol=1e-5)
    with pytest.raises(RlkError, match="agent.torso"):
        make_actor_critic(jax.random.PRNGKey(0), _spec((16,), "float32"), (64,), "ppo", torso="nature")
    with pytest.raises(RlkError, match="unknown torso"):
        make_actor_critic(jax.random.PRNGKey(0), spec, (64,), "ppo", torso="resnet")


def test_muzero_model_with_a_conv_representation():
    """Muesli's and MuZero's shared model takes a convolutional representation for pixels."""
    from rlk.nn.conv import ConvEncoder
    from rlk.nn.muzero_model import MuZeroModel
    from rlk.nn.torsos import MLP

    model = MuZeroModel(jax.random.PRNGKey(0), (10, 10, 4), 3, latent_size=8, hidden=(16,), num_atoms=5, torso="minatar")
    assert isinstance(model.representation, ConvEncoder)
    assert isinstance(MuZeroModel(jax.random.PRNGKey(0), (10, 10, 4), 3, 8, (16,), 5, torso="auto").representation, MLP)

    @jax.jit
    def unroll(model, obs):
        latent = jax.vmap(model.initial)(obs)
        nxt, reward = jax.vmap(model.step)(latent, jnp.array([0, 2]))
        return latent, nxt, reward, jax.vmap(model.predict)(nxt)

    obs = jax.random.uniform(jax.random.PRNGKey(1), (2, 10, 10, 4))
    latent, nxt, reward, (policy, value) = unroll(model, obs)
    assert latent.shape == nxt.shape == (2, 8) and reward.shape == value.shape == (2, 5) and policy.shape == (2, 3)
    np.testing.assert_allclose(np.asarray(latent[0]), np.asarray(jax.jit(lambda m, o: m.initial(o))(model, obs[0])), rtol=1e-5, atol=1e-5)
    assert not np.allclose(np.asarray(latent[0]), np.asarray(latent[1]))  # the pixels reach the latent


def test_muzero_model_scales_uint8_pixels_like_floats():
    """Atari frames arrive as uint8 0..255: the representation sees them as [0, 1] floats."""
    from rlk.nn.muzero_model import MuZeroModel

    model = MuZeroModel(jax.random.PRNGKey(0), (8, 8, 2), 3, 16, (32,), 11)
    pixels = jax.random.randint(jax.random.PRNGKey(1), (8, 8, 2), 0, 256).astype(jnp.uint8)
    np.testing.assert_allclose(np.asarray(model.initial(pixels)),
                               np.asarray(model.initial(pixels.astype(jnp.float32) / 255.0)), rtol=1e-6, atol=1e-6)
