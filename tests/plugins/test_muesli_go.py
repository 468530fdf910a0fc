"""Muesli's two-player self-play (pgx go_9x9): per-player value signs, legal-action masks, and a CLI run.

Conventions (as the MuZero plugin's, ``rlk.plugins.envs.pgx_adapter``): ``ts[j + 1].reward`` is the
reward of the player who moved at ``j``; every value is the player to move's.
"""

import functools
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, TimeStep, Trajectory
from rlk.nn.value_transforms import Support, logits_to_scalar
from rlk.core.losses import agent_losses
from rlk.plugins.muesli.agent import make_muesli_parts, target_stats
from rlk.plugins.muesli.config import MuesliConfig

A, T, N = 4, 7, 3
OBS = (2, 5)
CFG = dict(num_envs=N, unroll_length=T, latent_size=8, hidden_sizes=(16,), num_atoms=11, support_max=5.0,
           replay_fraction=0.0, gamma=0.9, retrace_lambda=0.8)
SUPPORT = Support(-5.0, 5.0, 11)
rng = np.random.default_rng(0)


def spec(num_players: int) -> EnvSpec:
    return EnvSpec(name="board", observation=ArraySpec(shape=OBS), action=DiscreteSpec(num_values=A),
                   num_players=num_players, has_legal_action_mask=num_players == 2)


def parts_and_state(num_players: int = 2, **overrides):
    """The agent's parts and a learner state whose target network has non-trivial heads."""
    return _parts_and_state(num_players, tuple(sorted(overrides.items())))


@functools.lru_cache(maxsize=None)
def _parts_and_state(num_players: int, overrides: tuple):
    config = MuesliConfig(**{**CFG, **dict(overrides)})
    parts = make_muesli_parts(config, spec(num_players), None, agent_losses("muesli", config.loss_weights))
    state = eqx.filter_jit(parts.agent.init)(jax.random.PRNGKey(0))
    # scale up the small initial output layers, so values, rewards and priors are far from 0 and uniform
    net = jax.tree.map(lambda x: x * 30 if x.ndim == 2 and x.shape[1] == 16 else x, state.params)
    return parts, state._replace(params=net, target_params=net)


def two_player_trajectory():
    """``N`` sequences of ``T`` moves; players alternate, and a game ends in sequence 0 (at index 3) and in
    sequence 2 (at index 5): the next game starts with either player (pgx draws who plays black).
    Random observations, mover's rewards, behaviour probabilities and legal masks (some illegal actions)."""
    player = np.zeros((T + 1, N), np.int32)
    player[0] = [0, 1, 0]
    last = np.zeros((T + 1, N), bool)
    last[3, 0] = last[5, 2] = True
    for j in range(1, T + 1):
        player[j] = np.where(last[j], rng.integers(0, 2, N), 1 - player[j - 1])
    mask = rng.uniform(size=(T + 1, N, A)) > 0.3
    mask[..., 0] = True  # one legal action at least (pass, in Go)
    action = np.zeros((T, N), np.int32)
    for j in range(T):
        for n in range(N):
            action[j, n] = rng.choice(np.flatnonzero(mask[j, n]))
    ts = TimeStep(observation=jnp.asarray(rng.normal(size=(T + 1, N) + OBS), jnp.float32),
                  reward=jnp.asarray(rng.normal(size=(T + 1, N)), jnp.float32),
                  discount=jnp.asarray(1.0 - last, jnp.float32), last=jnp.asarray(last),
                  legal_action_mask=jnp.asarray(mask))
    mu = rng.uniform(0.2, 1.0, size=(T, N)).astype(np.float32)
    return ts, player, jnp.asarray(action), jnp.log(jnp.asarray(mu))


def np_lookahead(net, obs: np.ndarray, mask: np.ndarray, gamma: float):
    """Per state, with the model's per-example methods: pi_prior on legal actions, v(s), and r(s, a), v(s'(a))."""
    def one(o):
        s = net.initial(o)
        prior, v_logits = net.predict(s)
        nxt, r = jax.vmap(lambda a: net.step(s, a))(jnp.arange(A))
        v_next = jax.vmap(lambda x: logits_to_scalar(net.predict(x)[1], SUPPORT))(nxt)
        return prior, logits_to_scalar(v_logits, SUPPORT), logits_to_scalar(r, SUPPORT), v_next

    prior, v, r, v_next = (np.asarray(x, np.float64) for x in jax.jit(jax.vmap(jax.vmap(one)))(obs))
    prior = np.where(mask, prior, -np.inf)
    pi = np.exp(prior - prior.max(-1, keepdims=True))
    return pi / pi.sum(-1, keepdims=True), v, r, v_next


def np_retrace_player0_frame(q, action, reward, discount, pi, mu, player, gamma, lam):
    """Retrace (Munos et al. 2016, eq. 3) of a zero-sum game in the fixed frame of player 0, then read back
    for the player to move: player 0's q is ``sgn_j q_j``, its reward of move ``j`` is ``sgn_j r_{j+1}``
    (``sgn = +1`` where player 0 moves), the discount is ``+gamma``; the mover's return is ``sgn_j G0_j``."""
    sgn = np.where(player == 0, 1.0, -1.0)
    T = action.shape[0]
    G = np.zeros(T - 1)
    nxt = 0.0
    for j in reversed(range(T - 1)):
        q0 = sgn[j + 1] * q[j + 1]  # player 0's q at s_{j+1}
        g = sgn[j] * reward[j + 1] + gamma * discount[j + 1] * (pi[j + 1] @ q0)
        if j < T - 2:
            a = action[j + 1]
            c = lam * min(1.0, pi[j + 1][a] / mu[j + 1])
            g += gamma * discount[j + 1] * c * (nxt - q0[a])
        nxt = g
        G[j] = sgn[j] * g
    return G


def test_two_player_targets_flip_sign_per_player():
    """The one-step q (r - gamma v(s')), the Retrace returns (the value targets) and the advantages of a
    hand-made two-player trajectory against NumPy: each player's q and returns computed in player 0's fixed
    frame with the ordinary +gamma recursion, then read back for the player to move."""
    gamma, lam = CFG["gamma"], CFG["retrace_lambda"]
    ts, player, action, log_prob = two_player_trajectory()
    parts, state = parts_and_state(2)
    tg, _ = jax.jit(parts.targets)(state, ts, action, log_prob)
    pi, v, r, v_next = np_lookahead(state.target_params, np.asarray(ts.observation), np.asarray(ts.legal_action_mask), gamma)
    q_mover = r - gamma * v_next  # the mover's q: the next position's value is the opponent's
    np.testing.assert_allclose(np.asarray(tg.q), q_mover, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(tg.v), v, rtol=1e-4, atol=1e-4)
    assert np.abs(q_mover - (r + gamma * v_next)).max() > 0.5  # the test can tell the signs apart
    G = np.asarray(tg.G)
    for n in range(N):
        want = np_retrace_player0_frame(q_mover[:, n], np.asarray(action[:, n]), np.asarray(ts.reward[:, n]),
                                        np.asarray(ts.discount[:, n]), pi[:, n], np.exp(np.asarray(log_prob[:, n])),
                                        player[:, n], gamma, lam)
        np.testing.assert_allclose(G[:, n], want, rtol=1e-4, atol=1e-4, err_msg=f"sequence {n}")
    np.testing.assert_allclose(np.asarray(tg.adv) * float(tg.sigma), G - v[:T - 1], rtol=1e-4, atol=1e-4)
    # A one-player agent on the same data sums the rewards as one player's: different targets.
    one, one_state = parts_and_state(1)
    tg1, _ = jax.jit(one.targets)(one_state, ts._replace(legal_action_mask=None), action, log_prob)
    assert np.abs(np.asarray(tg1.G) - G).max() > 0.5
    np.testing.assert_allclose(np.asarray(tg1.q), r + gamma * v_next, rtol=1e-4, atol=1e-4)


def test_target_stats_two_player_discount():
    """``target_stats`` with ``-gamma`` (what the two-player agent passes) is r - gamma v(s')."""
    parts, state = parts_and_state(2)
    obs = jnp.asarray(rng.normal(size=(6,) + OBS), jnp.float32)
    _, v, q = jax.jit(target_stats, static_argnums=(2, 3))(state.target_params, obs, -0.9, SUPPORT)
    _, v_np, r, v_next = np_lookahead(state.target_params, np.asarray(obs)[None], np.ones((1, 6, A), bool), 0.9)
    np.testing.assert_allclose(np.asarray(q), (r - 0.9 * v_next)[0], rtol=1e-4, atol=1e-4)


def test_illegal_actions_get_zero_probability():
    """The acting policy, the greedy policy, the prior and pi_cmpo put no probability on illegal actions,
    even where the network prefers them; an update with masks (the sampled KL, whose samples come from the
    masked prior) stays finite."""
    ts, _, action, log_prob = two_player_trajectory()
    parts, state = parts_and_state(2)
    net = state.params
    flat = TimeStep(ts.observation[:T].reshape((T * N,) + OBS), ts.reward[:T].reshape(-1), ts.discount[:T].reshape(-1),
                    ts.last[:T].reshape(-1), ts.legal_action_mask[:T].reshape(T * N, A))
    legal = np.asarray(flat.legal_action_mask)
    probs = np.asarray(jax.nn.softmax(jax.jit(parts.policy_logits)(net, flat)))
    assert np.all(probs[~legal] == 0.0) and np.allclose(probs.sum(-1), 1.0, atol=1e-5)
    unmasked = np.asarray(jax.nn.softmax(jax.jit(parts.policy_logits)(net, flat._replace(legal_action_mask=jnp.ones_like(legal)))))
    assert (unmasked[~legal] > 1e-3).any()  # the network itself does give illegal actions probability
    act = jax.jit(jax.vmap(lambda k: parts.agent.act(net, (), flat, k)))
    sampled, _, extras = act(jax.random.split(jax.random.PRNGKey(2), 500))  # [500, T * N]
    assert np.take_along_axis(np.broadcast_to(legal, (500,) + legal.shape), np.asarray(sampled)[..., None], -1).all()
    np.testing.assert_allclose(np.exp(np.asarray(extras["log_prob"])),
                               np.take_along_axis(probs, np.asarray(sampled).T, -1).T, rtol=1e-5)
    greedy, _, _ = jax.jit(parts.agent.eval_act)(net, (), flat, jax.random.PRNGKey(3))
    assert legal[np.arange(T * N), np.asarray(greedy)].all()
    tg, _ = jax.jit(parts.targets)(state, ts, action, log_prob)
    mask = np.asarray(ts.legal_action_mask)
    cmpo, prior = np.asarray(tg.cmpo), np.asarray(jax.nn.softmax(tg.prior))
    assert np.all(cmpo[~mask] == 0.0) and np.all(prior[~mask] == 0.0)
    np.testing.assert_allclose(cmpo.sum(-1), 1.0, atol=1e-5)
    traj = Trajectory(ts._replace(current_player=jnp.zeros((T + 1, N), jnp.int32)), action, {"log_prob": log_prob})
    p, s = parts_and_state(2, cmpo_exact=False)
    _, metrics = jax.jit(p.agent.update)(s, traj, jax.random.PRNGKey(4))
    assert all(np.isfinite(float(x)) for x in jax.tree.leaves(metrics)), metrics


def test_uint8_pixels_are_scaled_like_the_model_does():
    """Atari frames (uint8) enter the batched passes scaled to [0, 1], as ``MuZeroModel.initial`` scales them."""
    parts, state = parts_and_state(1)
    pixels = jnp.asarray(rng.integers(0, 256, size=(5,) + OBS), jnp.uint8)
    got = jax.jit(target_stats, static_argnums=(2, 3))(state.target_params, pixels, 0.9, SUPPORT)
    want = jax.jit(target_stats, static_argnums=(2, 3))(state.target_params, pixels.astype(jnp.float32) / 255.0, 0.9, SUPPORT)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_go_trains_end_to_end_and_plays_random(cli, tmp_path):
    """A (tiny) Muesli self-play run on Go 9x9 trains through the CLI; ``rlk play`` plays it against random legal moves."""
    tiny = ["agent.num_envs=4", "agent.unroll_length=4", "agent.replay_capacity=64", "agent.latent_size=16",
            "agent.hidden_sizes=[32]", "agent.num_atoms=21", "agent.gamma=1.0", "log_every_steps=32", "eval_episodes=1"]
    args = [a for o in tiny for a in ("-o", o)]
    cli("train", "--agent", "muesli", "--env", "go_9x9", "-q", "--steps", "64", "--run-dir", str(tmp_path / "run"), *args)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["env_steps"] >= 64
    out = cli("play", str(tmp_path / "run"), "--opponent", "random", "--games", "4", "--json").stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["agent"] == "muesli" and result["games"] == 4
    assert result["wins"] + result["losses"] + result["draws"] == 4 and result["agent_black"] == 2


def test_paper_atari_config_validates():
    """``configs/atari_paper.yaml`` composes as ``rlk train --config ... --env atari-breakout --arch sebulba``
    does and validates against Muesli's and the Atari plugin's configs; every value carries a comment."""
    from pathlib import Path

    from rlk.cli import _compose_config
    from rlk.core.run import resolve

    path = Path(__file__).resolve().parents[2] / "rlk/plugins/muesli/configs/atari_paper.yaml"
    cfg = resolve(_compose_config(path, {"env": "atari-breakout", "arch": "sebulba"}, [])).config
    agent, env = cfg.agent.options(), cfg.env.options()
    assert cfg.agent.name == "muesli" and cfg.arch.name == "sebulba" and cfg.steps == 50_000_000
    assert (agent["gamma"], agent["learning_rate"], agent["unroll_length"], agent["torso"]) == (0.995, 3e-4, 30, "impala")
    n_replay = round(agent["num_envs"] * agent["replay_fraction"] / (1 - agent["replay_fraction"]))
    assert agent["num_envs"] + n_replay == 96  # the paper's batch of 96 sequences
    assert env["full_action_space"] and env["repeat_action_probability"] == 0.25
    values = [line for line in path.read_text().splitlines()
              if ":" in line.split("#")[0] and not line.split("#")[0].rstrip().endswith(":") and not line.startswith("  name")]
    assert values and all("#" in line for line in values), [line for line in values if "#" not in line]
