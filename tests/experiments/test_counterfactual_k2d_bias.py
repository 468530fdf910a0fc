"""The Key-to-Door bias estimator (``experiments/counterfactual/key_to_door_bias.py``) on a tiny instance: the exact
expected return and gradient against a brute-force enumeration of every episode, and the Monte-Carlo estimators
through the real environment against that gradient."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.counterfactual import key_to_door_bias as kb
from rlk.nn.torsos import MLP
from rlk.plugins.counterfactual.config import KeyToDoorConfig
from rlk.plugins.counterfactual.envs import KeyToDoor
from rlk.plugins.counterfactual.losses import baseline_surrogate

TINY = KeyToDoorConfig(room_size=2, key_steps=2, apple_steps=1, apple_prob=0.5, apple_std=3.0)
MOVES = [(-1, 0), (1, 0), (0, -1), (0, 1)]


def brute_force_episodes(c: KeyToDoorConfig):
    """Every episode of the tiny room, by hand from the rules: ``(chance probability [E], observations [E, T, D],
    actions [E, T], return [E])`` over the decision steps before the door (the door's action changes nothing)."""
    n, r, length = c.room_size ** 2, c.room_size, c.key_steps + c.apple_steps + 1
    probs, obs, acts, rets = [], [], [], []

    def move(pos, a):
        row = min(max(pos // r + MOVES[a][0], 0), r - 1)
        col = min(max(pos % r + MOVES[a][1], 0), r - 1)
        return row * r + col

    def observe(pos, items, t, key):
        phase = 0 if t < c.key_steps else (1 if t < c.key_steps + c.apple_steps else 2)
        return np.concatenate([np.eye(n)[pos], items, np.eye(3)[phase], [key], [t / length]])

    rooms = list(itertools.product([0, 1], repeat=n))
    for start, key_cell in itertools.product(range(n), range(n)):
        if key_cell == start:
            continue
        for key_actions in itertools.product(range(4), repeat=c.key_steps):
            pos, items, key, seen = start, np.eye(n)[key_cell], 0, []
            for t, a in enumerate(key_actions):
                seen.append(observe(pos, items, t, key))
                pos = move(pos, a)
                key = int(key or items[pos] > 0)
                items = items.copy()
                items[pos] = 0
            for apple_pos, room in itertools.product(range(n), rooms):
                if room[apple_pos]:
                    continue
                p_room = np.prod([c.apple_prob if b else 1 - c.apple_prob for i, b in enumerate(room) if i != apple_pos])
                for apple_actions in itertools.product(range(4), repeat=c.apple_steps):
                    p2, it2, ret, seen2 = apple_pos, np.array(room, float), 0.0, list(seen)
                    for k, a in enumerate(apple_actions):
                        seen2.append(observe(p2, it2, c.key_steps + k, key))
                        p2 = move(p2, a)
                        ret += c.apple_reward * it2[p2]
                        it2 = it2.copy()
                        it2[p2] = 0
                    probs.append(p_room / (n * (n - 1) * n))
                    obs.append(seen2)
                    acts.append(list(key_actions) + list(apple_actions))
                    rets.append(ret + c.door_reward * key)
    return (np.array(probs), np.array(obs, np.float32), np.array(acts), np.array(rets, np.float32))


@pytest.fixture(scope="module")
def tiny():
    env = KeyToDoor(TINY)
    policy = MLP(jax.random.PRNGKey(1), env.spec.observation.shape[0], (8,), 4, out_scale=1.0)
    return env, policy, kb.exact_gradient(policy, TINY)


def test_exact_return_and_gradient_match_brute_force_enumeration(tiny):
    _, policy, exact = tiny
    probs, obs, acts, rets = brute_force_episodes(TINY)
    assert abs(probs.sum() / 4 ** (TINY.key_steps + TINY.apple_steps) - 1) < 1e-6  # chance sums to one per action sequence

    def j(wb):
        logp = jax.nn.log_softmax(kb._with_output(policy, wb).batch(obs.reshape(-1, obs.shape[-1])).reshape(
            obs.shape[:2] + (4,)))
        p_actions = jnp.exp(jnp.sum(jnp.take_along_axis(logp, acts[..., None], -1)[..., 0], -1))
        return jnp.sum(probs * p_actions * rets)

    wb = kb.output_layer(policy)
    np.testing.assert_allclose(kb.exact_return(policy, TINY), j(wb), rtol=1e-5)
    brute = np.concatenate([np.ravel(g) for g in jax.grad(j)(wb)])
    np.testing.assert_allclose(exact, brute, rtol=1e-4, atol=1e-6)
    assert np.linalg.norm(exact) > 0.1


def test_monte_carlo_estimators_against_the_exact_gradient(tiny):
    env, policy, exact = tiny
    # the score-function estimator through the real environment: unbiased, so within noise of the exact gradient
    m = kb.reinforce_moments(env, policy, jax.random.PRNGKey(0), 4096, chunk=4096)
    row = kb.bias_row(m, exact)
    assert row["z"] < 4.5 and row["relative_bias"] < 3 * row["floor"], row
    # one estimator that forgets the door's reward is biased, and the bias row says so
    traj = kb.rollout(env, policy, jax.random.PRNGKey(1), 4096)
    ts = traj.timestep
    apples = jnp.where(jnp.arange(env.length)[:, None] < env.length - 1, ts.reward[1:], 0.0)
    g = jnp.cumsum(apples[::-1], 0)[::-1].T
    obs, a = jnp.swapaxes(ts.observation[:-1], 0, 1), traj.action.T
    acc = kb.Accumulator()
    acc.add(kb.episode_gradients(policy, obs, lambda lg: baseline_surrogate(lg, a, g, jnp.zeros_like(g))))
    assert kb.bias_row(acc.moments(), exact)["z"] > 10
    # per-episode gradients equal jax.grad of one episode's surrogate
    one = jax.grad(lambda wb: jnp.sum(baseline_surrogate(kb._with_output(policy, wb).batch(obs[0]), a[0], g[0],
                                                         jnp.zeros_like(g[0]))))(kb.output_layer(policy))
    np.testing.assert_allclose(kb.episode_gradients(policy, obs[:1], lambda lg: baseline_surrogate(
        lg, a[:1], g[:1], jnp.zeros_like(g[:1])))[0], np.concatenate([np.ravel(x) for x in one]), rtol=1e-4, atol=1e-5)
