"""The planning study's arms without search for learning (issue 30 item 2): the model-free policy loss
against a NumPy gradient, its targets against independent computations, and the arm through the CLI."""

import functools
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.nn.value_transforms import Support, logits_to_scalar
from rlk.plugins.envs.catch import Catch
from rlk.plugins.muzero.agent import MuZeroConfig
from rlk.plugins.muzero.losses import policy_gradient
from test_muzero import catch_trajectory, muzero_parts, np_n_step, random_policy_return, summary

SMALL = dict(num_envs=4, unroll_length=10, latent_size=16, hidden_sizes=(32,), model_unroll=3, td_steps=3)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_policy_gradient_matches_numpy_and_moves_the_prior_the_right_way():
    """d/dlogits of ``-min(1, pi(a) / mu(a)) A log pi(a) - c H(pi)`` (the weight held fixed), mean over the mask, is
    ``(-rho A (onehot(a) - pi) + c pi (log pi + H)) / n`` (NumPy below); a small step against it raises pi(a) where
    A > 0 and lowers it where A < 0. The weight truncates at 1 where the prior already favours a more than the
    actor did, and scales the step down where it favours it less."""
    logits = np.array([[0.2, -0.5, 1.0], [0.0, 0.3, -0.1], [1.5, 0.0, 0.0]], np.float32)
    action = np.array([0, 2, 1])
    advantage = np.array([1.5, -2.0, 0.7], np.float32)
    mu = np.array([0.1, 0.9, 0.5], np.float32)  # the actor's probabilities of the actions taken
    mask = np.array([1.0, 1.0, 0.0], np.float32)  # the third entry does not count
    c = 0.01
    grad = np.asarray(jax.grad(lambda l: policy_gradient(l, jnp.asarray(action), jnp.asarray(advantage),
                                                         jnp.log(jnp.asarray(mu)), jnp.asarray(mask), c, 1.0))(
        jnp.asarray(logits)))
    pi = np_softmax(logits.astype(np.float64))
    log_pi = np.log(pi)
    entropy = -(pi * log_pi).sum(-1, keepdims=True)
    onehot = np.eye(3)[action]
    rho = np.minimum(1.0, pi[np.arange(3), action] / mu)
    assert rho[0] == 1.0 and 0.2 < rho[1] < 0.5  # truncated; scaled down
    expected = (-(rho * advantage)[:, None] * (onehot - pi) + c * pi * (log_pi + entropy)) * mask[:, None] / mask.sum()
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)
    assert np.abs(grad[:2]).max() > 0.1 and np.all(grad[2] == 0)
    after = np_softmax(logits - 0.1 * grad)
    assert after[0, 0] > pi[0, 0] and after[1, 2] < pi[1, 2]


@functools.lru_cache(maxsize=1)
def trajectory():
    """A learner state and a Catch trajectory acted with the prior (no search to compile), shared by the arms."""
    parts = muzero_parts(MuZeroConfig(**SMALL, search_for_acting=False, policy_targets="policy_gradient"), Catch().spec)
    state = parts.agent.init(jax.random.PRNGKey(0))
    return state, catch_trajectory(parts, state, SMALL["unroll_length"], jax.random.PRNGKey(1))


def arm_targets(num_fresh=None, **overrides):
    """The arm's parts, the shared state and trajectory, and the arm's targets on it (NumPy), the first
    ``num_fresh`` sequences online (default all)."""
    parts = muzero_parts(MuZeroConfig(**SMALL, **overrides), Catch().spec)
    state, traj = trajectory()
    ts = traj.timestep._replace(info={})
    batch = jax.jit(parts.targets, static_argnums=5)(state, ts, traj.action, traj.extras["search_policy"],
                                                     jax.random.PRNGKey(2), num_fresh)
    return parts, state, ts, traj.action, {k: np.asarray(v) for k, v in batch.items()}


@pytest.mark.parametrize("search_for_acting", [False, True])  # no search at all; search for acting only
def test_policy_gradient_arm_targets_match_an_independent_computation(search_for_acting):
    """policy_targets='policy_gradient': no search target counts; the policy-gradient entries are the actions
    taken, ``z_t - v(s_t)`` (NumPy n-step returns minus the target network's value) and log mu(a_t), the acting
    distribution's probability of a_t; only the online (fresh) sequences count."""
    T, n, gamma = SMALL["unroll_length"], SMALL["td_steps"], 0.99
    parts, state, ts, action, b = arm_targets(num_fresh=3, policy_targets="policy_gradient",
                                              search_for_acting=search_for_acting)
    net = state.target_params
    support = Support(-20.0, 20.0, 81)
    v = np.asarray(logits_to_scalar(jax.vmap(jax.vmap(lambda o: net.predict(net.initial(o))[1]))(ts.observation), support))
    reward, last = np.asarray(ts.reward), np.asarray(ts.last)
    discount = np.asarray(ts.discount) * (1.0 - last)
    z = np.stack([np_n_step(reward[:, i], discount[:, i], v[:, i], gamma, n) for i in range(reward.shape[1])], 1)
    assert last[1:].any()  # the case crosses an episode's end
    np.testing.assert_allclose(b["pg_advantage"], z - v[:T], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(b["pg_action"], np.asarray(action))
    mu = np.asarray(trajectory()[1].extras["search_policy"])  # the prior's softmax when it acted (no search)
    np.testing.assert_allclose(b["pg_behaviour_log_prob"], np.log(np.take_along_axis(mu, np.asarray(action)[..., None], -1)[..., 0]),
                               rtol=1e-5, atol=1e-5)
    assert np.all(b["pg_mask"][:, :3] == 1) and np.all(b["pg_mask"][:, 3:] == 0)  # 4 sequences, 3 online
    assert np.all(b["policy_mask"] == 0) and np.all(b["model_policy_mask"] == 0)


def test_search_arms_keep_their_targets_and_no_policy_gradient():
    """The arms with search for learning (acting visits; Reanalyse with prior acting: search for learning only)
    count their search targets and no policy-gradient entry."""
    for overrides in ({}, {"search_for_acting": False, "policy_targets": "reanalyse"}):
        _, _, _, _, b = arm_targets(**overrides)
        assert np.all(b["policy_mask"] == 1) and np.all(b["pg_mask"] == 0)
        assert b["model_policy_mask"].sum() > 0


def test_the_prior_learns_without_search_and_not_with_policy_targets_none():
    """Through the agent's own loss: with 'policy_gradient' one small gradient step on a batch where action 0
    has advantage +1 everywhere raises the prior's pi(0); with 'none' (the old arm) the prior gets no gradient."""
    def prior_after_step(policy_targets):
        parts, state, ts, action, b = arm_targets(policy_targets=policy_targets, search_for_acting=False)
        zero = jnp.zeros_like(action)
        b = {**b, "pg_action": zero, "pg_advantage": jnp.ones(action.shape)}
        grads = jax.grad(lambda net: parts.loss_fn(net, ts, zero, b)[0])(state.params)
        head = np.abs(np.asarray(grads.policy_head.layers[-1].weight)).max()
        stepped = jax.tree.map(lambda p, g: p - 0.05 * g, state.params, grads)
        pi0 = lambda net: float(jnp.mean(jax.nn.softmax(jax.vmap(lambda o: net.predict(net.initial(o))[0])(ts.observation[:-1].reshape((-1, 10, 5))))[:, 0]))
        return head, pi0(state.params), pi0(stepped)

    head, before, after = prior_after_step("policy_gradient")
    assert head > 1e-3 and after > before + 1e-3
    head, before, after = prior_after_step("none")
    assert head == 0.0 and abs(after - before) < 1e-6


def test_policy_gradient_without_its_loss_is_one_line(cli, tmp_path):
    proc = cli("train", "--agent", "muzero", "-q", "--steps", "64", "-o", "agent.policy_targets=policy_gradient",
               "-o", "agent.loss_weights.muzero_policy_gradient=0", "--run-dir", str(tmp_path / "run"), check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.strip().splitlines() if line]
    assert lines == ["error: agent.policy_targets='policy_gradient' needs loss 'muzero_policy_gradient' in "
                     "agent.loss_weights (a weight above 0)"], proc.stderr


# A CI-sized MuZero: small networks, 16 x 8 steps an update (default 64 x 16), so that 4k env steps are 128 gradient steps.
TINY_CLI = ["agent.num_envs=16", "agent.unroll_length=8", "agent.latent_size=16", "agent.hidden_sizes=[32]",
            "agent.model_unroll=2", "agent.num_atoms=21", "agent.support_max=5", "agent.td_steps=5", "eval_episodes=100"]


def test_the_no_search_arm_learns_catch(cli, tmp_path):
    """The planning study's arm with no search for acting, learning or evaluation: the prior alone, trained by the
    policy gradient, beats a uniformly random policy on every one of 3 seeds (one program) after 4k env steps.
    (main's arm before the importance weight and the online-only policy gradient, same command: -0.58, -0.66, -0.12
    at 8k steps; this one 0.14, 0.22, 0.70 at 4k.)"""
    arm = ["agent.search_for_acting=false", "agent.policy_targets=policy_gradient", "agent.search_at_eval=false"]
    args = [x for o in TINY_CLI + arm for x in ("-o", o)]
    cli("train", "--agent", "muzero", "--env", "catch", "-q", "--steps", "4096", "--num-seeds", "3",
        "--run-dir", str(tmp_path / "run"), *args)
    returns = summary(tmp_path / "run")["final_return_per_seed"]
    random = random_policy_return()  # about -0.6
    assert len(returns) == 3 and min(returns) > random + 0.25 and statistics.median(returns) > random + 0.5, (returns, random)
