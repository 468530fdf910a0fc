"""MuZero's search, rollouts and targets against hand-made models and hand computations, and its learning."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlk.core.types import ArraySpec, DiscreteSpec, EnvSpec, TimeStep
from rlk.nn.value_transforms import Support, scalar_to_two_hot, two_hot_to_scalar
from rlk.plugins.envs.catch import Catch
from rlk.plugins.backends.anakin import rollout
from rlk.core.wrappers import for_training
from rlk.core.losses import agent_losses
from rlk.plugins.muzero.agent import MuZeroConfig, MuZeroParts, make_muzero_parts
from rlk.plugins.muzero.losses import MuZeroInputs, policy_loss
from rlk.plugins.muzero.simulators import make_recurrent_fn
from rlk.plugins.muzero.targets import absorbing_targets, n_step_returns
from rlk.nn.unroll_targets import model_targets

SUPPORT = Support(-20.0, 20.0, 81)
A = 3


def scalar_logits(x):
    """Logits whose categorical reads back as the scalar ``x`` (two-hot, log of it)."""
    return jnp.log(scalar_to_two_hot(jnp.asarray(x, jnp.float32), SUPPORT) + 1e-30)


class TableModel(eqx.Module):
    """A deterministic hand-made model: latents are one-hot states of a small table MDP.

    ``next_state[s, a]`` and ``reward[s, a]`` define the dynamics, ``value[s]`` and ``prior[s]`` the
    prediction; the observation is the one-hot latent itself.
    """

    next_state: jax.Array
    reward: jax.Array
    value: jax.Array
    prior: jax.Array

    def initial(self, observation):
        return observation

    def predict(self, latent):
        s = jnp.argmax(latent)
        return self.prior[s], scalar_logits(self.value[s])

    def step(self, latent, action):
        s = jnp.argmax(latent)
        nxt = self.next_state[s, action]
        return jax.nn.one_hot(nxt, latent.shape[0]), scalar_logits(self.reward[s, action])


def table(next_state, reward, value=None, prior=None) -> TableModel:
    next_state = jnp.asarray(next_state, jnp.int32)
    n = next_state.shape[0]
    value = jnp.zeros(n) if value is None else jnp.asarray(value, jnp.float32)
    prior = jnp.zeros((n, A)) if prior is None else jnp.asarray(prior, jnp.float32)
    return TableModel(next_state, jnp.asarray(reward, jnp.float32), value, prior)


def muzero_parts(config: MuZeroConfig, spec: EnvSpec) -> MuZeroParts:
    """The agent and its parts with the losses of ``config.loss_weights``, resolved as a run resolves them."""
    return make_muzero_parts(config, spec, None, agent_losses("muzero", config.loss_weights))


def table_spec(n: int, num_players: int = 1) -> EnvSpec:
    return EnvSpec(name="table", observation=ArraySpec(shape=(n,)), action=DiscreteSpec(num_values=A), num_players=num_players)


def eval_action(model: TableModel, num_players: int = 1, **overrides) -> int:
    """The action the agent's evaluation search picks at state 0 of ``model``."""
    n = model.next_state.shape[0]
    spec = table_spec(n, num_players)
    agent = muzero_parts(MuZeroConfig(**overrides), spec).agent
    obs = jax.nn.one_hot(jnp.zeros(2, jnp.int32), n)  # two copies of the root
    ts = TimeStep(obs, jnp.zeros(2), jnp.ones(2), jnp.zeros(2, bool))
    action, _, _ = jax.jit(agent.eval_act)(model, (), ts, jax.random.PRNGKey(0))
    assert int(action[0]) == int(action[1])  # no noise at evaluation: both searches agree
    return int(action[0])


def test_search_picks_the_action_the_model_rewards():
    # State 0: actions lead to states 1, 2, 3 with rewards 0, 1, 0; then an absorbing state 4.
    model = table([[1, 2, 3], [4, 4, 4], [4, 4, 4], [4, 4, 4], [4, 4, 4]],
                  [[0.0, 1.0, 0.0]] + [[0.0] * 3] * 4)
    assert eval_action(model, eval_simulations=16) == 1
    # A prior against the rewarded action (probability 0.06): a small budget follows the prior, a larger one finds it.
    prior = np.zeros((5, A), np.float32)
    prior[0] = [1.0, -1.0, 1.0]
    against = table(model.next_state, model.reward, prior=prior)
    assert eval_action(against, eval_simulations=8) in (0, 2)
    assert eval_action(against, eval_simulations=32) == 1
    # Without search at evaluation the agent follows the prior's argmax instead.
    assert eval_action(against, search_at_eval=False) in (0, 2)


# A delayed reward: action 0 pays 0.5 at once; action 2 pays 0 then 1 on the next step (any action).
DELAYED = dict(next_state=[[1, 2, 3], [4, 4, 4], [4, 4, 4], [4, 4, 4], [4, 4, 4]],
               reward=[[0.5, 0.0, 0.0], [0.0] * 3, [0.0] * 3, [1.0] * 3, [0.0] * 3])


def test_tree_depth_and_rollouts_decide_the_delayed_reward():
    model = table(**DELAYED)  # the value head knows nothing (0 everywhere)
    assert eval_action(model, eval_simulations=64) == 2  # the tree reaches the delayed reward
    assert eval_action(model, eval_simulations=64, max_depth=1) == 0  # one level: only the 0.5 is seen
    # One level of tree, but a one-step Monte-Carlo rollout below each leaf sees the delayed reward.
    assert eval_action(model, eval_simulations=32, max_depth=1, rollout_steps=1) == 2


def test_recurrent_fn_rollout_matches_a_hand_computed_return():
    """A chain 0 -> 1 -> ... -> 6 under the prior's (certain) action 2; other actions go elsewhere."""
    n, gamma = 8, 0.9
    next_state = np.full((n, A), n - 1)
    next_state[:n - 1, 2] = np.arange(1, n)
    reward = np.zeros((n, A), np.float32)
    reward[:, 2] = [0.5, -1.0, 2.0, 0.25, 3.0, -0.5, 1.5, 0.0]
    reward[:, 0] = 7.0
    value = np.asarray([0.0, 10.0, -4.0, 6.0, 1.0, -2.0, 5.0, 0.0], np.float32)
    prior = np.tile(np.asarray([-50.0, -50.0, 50.0], np.float32), (n, 1))  # the rollout policy always picks 2
    model = table(next_state, reward, value, prior)
    embedding = jax.nn.one_hot(jnp.asarray([0, 2]), n)  # a batch of two tree leaves
    action = jnp.asarray([2, 2])
    for steps in (0, 1, 3):
        out, nxt = make_recurrent_fn(SUPPORT, gamma, steps)(model, jax.random.PRNGKey(steps), action, embedding)
        for b, s0 in enumerate((0, 2)):
            child = s0 + 1
            expected = sum(gamma ** i * reward[child + i, 2] for i in range(steps)) + gamma ** steps * value[child + steps]
            np.testing.assert_allclose(float(out.value[b]), expected, rtol=1e-3, atol=1e-3)
            np.testing.assert_allclose(float(out.reward[b]), reward[s0, 2], rtol=1e-3, atol=1e-3)
            assert int(jnp.argmax(nxt[b])) == child
        np.testing.assert_allclose(np.asarray(out.discount), gamma)


def chain_model(n: int = 8) -> TableModel:
    """A chain 0 -> 1 -> ... -> n-1 (which loops on itself) that the prior follows (action 2, logit +50)."""
    next_state = np.full((n, A), n - 1)
    next_state[:n - 1, 2] = np.arange(1, n)
    prior = np.tile(np.asarray([-50.0, -50.0, 50.0], np.float32), (n, 1))
    return table(next_state, np.zeros((n, A), np.float32), prior=prior)


def node_depths(parents: np.ndarray) -> np.ndarray:
    """Depth of each node of one mctx tree from its ``parents`` (root 0; -1: no parent)."""
    depth = np.zeros(len(parents), int)
    for i in range(1, len(parents)):
        depth[i] = depth[parents[i]] + 1 if parents[i] >= 0 else -1
    return depth


@pytest.mark.parametrize("search", ["muzero", "gumbel"])
def test_search_tree_respects_budget_and_depth(search):
    """Inspects the tree mctx returns: N simulations expand at most N nodes and visit the root N + 1
    times; no node lies deeper than ``max_depth`` (and without it the prior's chain goes deeper)."""
    model = chain_model()
    obs = jax.nn.one_hot(jnp.zeros(2, jnp.int32), 8)
    deepest = {}
    for max_depth in (None, 2):
        parts = muzero_parts(MuZeroConfig(search=search, max_depth=max_depth), table_spec(8))
        for n in (3, 12):
            out, _ = parts.search(model, obs, jax.random.PRNGKey(n), n, False)
            tree = jax.device_get(out.search_tree)
            assert tree.node_visits.shape == (2, n + 1)  # storage for the root and one node per simulation
            np.testing.assert_array_equal(tree.node_visits[:, 0], n + 1)
            np.testing.assert_array_equal(tree.children_visits[:, 0].sum(-1), n)
            for b in range(2):
                depth = node_depths(tree.parents[b])
                used = tree.node_visits[b] > 0
                assert used.sum() <= n + 1
                deepest[(max_depth, n)] = depth[used].max()
                if max_depth is not None:
                    assert depth[used].max() <= max_depth
    assert deepest[(None, 12)] > 2  # the limits above bind: unlimited, the prior's chain is followed deeper
    assert deepest[(2, 12)] == 2


def test_two_player_search_values_flip_sign():
    """State 0 (player A): action 0 leads to state 1 where B's every move wins B +1; action 1 to state 2
    where B's every move costs B -1; action 2 pays A 0.1 and ends. Summed as one player's rewards,
    action 0 looks best (0 + 1); with values flipping sign between players action 1 is (0 - (-1))."""
    next_state = [[1, 2, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]]
    reward = [[0.0, 0.0, 0.1], [1.0] * 3, [-1.0] * 3, [0.0] * 3]
    model = table(next_state, reward)
    assert eval_action(model, num_players=1, eval_simulations=64) == 0
    assert eval_action(model, num_players=2, eval_simulations=64) == 1
    out, _ = make_recurrent_fn(SUPPORT, 0.9, 0, sign=-1.0)(model, jax.random.PRNGKey(0), jnp.asarray([0]),
                                                            jax.nn.one_hot(jnp.asarray([0]), 4))
    np.testing.assert_allclose(np.asarray(out.discount), -0.9)


def test_two_player_n_step_returns_flip_sign():
    """A game of 4 moves (players alternate) won by the player who made the last move (reward +1 to
    the mover at index 4): the targets of the 4 positions alternate +1, -1, +1, -1 backwards."""
    T = 5
    reward = jnp.asarray([0, 0, 0, 0, 1, 0], jnp.float32)[:, None]
    last = jnp.asarray([0, 0, 0, 0, 1, 0], bool)[:, None]
    ts = TimeStep(jnp.zeros((T + 1, 1, 1)), reward, 1.0 - last.astype(jnp.float32), last)
    value = jnp.full((T + 1, 1), 0.3)  # bootstrap values past the end are cut
    z = np.asarray(n_step_returns(ts, value, 1.0, 10, sign=-1.0))[:, 0]
    np.testing.assert_allclose(z[:4], [-1.0, 1.0, -1.0, 1.0], atol=1e-6)  # z_3: the winner's own move
    np.testing.assert_allclose(z[4], -0.3, atol=1e-6)  # the next game: bootstrapped from the opponent's position
    z1 = np.asarray(n_step_returns(ts, value, 1.0, 10))[:, 0]  # one player: no flips
    np.testing.assert_allclose(z1[:4], 1.0, atol=1e-6)


def catch_trajectory(parts, state, T: int, key):
    env = for_training(Catch())
    B = parts.agent.num_envs
    env_state, ts = jax.vmap(env.reset)(jax.random.split(key, B))
    _, traj = jax.jit(lambda p, a, e, t, k: rollout(parts.agent, env, p, a, e, t, k, T))(
        state.params, parts.agent.initial_actor_state(B), env_state, ts, key)
    return traj


def test_reanalyse_targets_follow_the_network():
    """Reanalyse (policy_targets='reanalyse') recomputes the policy targets with the current target
    network: a fresh search's, and different from the stale acting targets and from their own earlier
    values once the network changes; 'acting' keeps the stale ones."""
    T, B = 4, 8
    cfg = dict(search="gumbel", num_envs=B, unroll_length=T, latent_size=16, hidden_sizes=(32,))
    parts = muzero_parts(MuZeroConfig(policy_targets="reanalyse", **cfg), Catch().spec)
    state = parts.agent.init(jax.random.PRNGKey(0))
    traj = catch_trajectory(parts, state, T, jax.random.PRNGKey(1))
    ts, action, stale = traj.timestep._replace(info={}), traj.action, traj.extras["search_policy"]
    key = jax.random.PRNGKey(2)
    targets = jax.jit(parts.targets)
    before = np.asarray(targets(state, ts, action, stale, key)["policy"])
    # The network changes: a target network whose policy and value heads are no longer near-uniform.
    changed = jax.tree.map(lambda x: x * 30.0, parts.agent.init(jax.random.PRNGKey(3)).params)
    state = state._replace(target_params=changed)
    after = np.asarray(targets(state, ts, action, stale, key)["policy"])
    fresh, _ = jax.jit(parts.search, static_argnums=(3, 4))(changed, ts.observation[:T].reshape((T * B, 10, 5)), key, 8, False)
    np.testing.assert_allclose(after, np.asarray(fresh.action_weights).reshape((T, B, A)), atol=1e-5)
    assert np.abs(after - before).max() > 0.1
    assert np.abs(after - np.asarray(stale)).max() > 0.1
    acting = muzero_parts(MuZeroConfig(policy_targets="acting", **cfg), Catch().spec)
    np.testing.assert_array_equal(np.asarray(jax.jit(acting.targets)(state, ts, action, stale, key)["policy"]), stale)


def test_learning_rate_decays_as_in_muzeros_pseudocode():
    """lr_schedule=exponential: the step size is ``lr * rate^(step / decay_steps)`` over gradient steps (MuZero
    pseudocode), ``decay_steps = lr_decay_updates * num_sgd_steps``. With two gradient steps per update on the
    same batch (no replay) and ``lr_decay_updates=1``, the first step is the constant-rate one and the second
    ``sqrt(rate)`` times the constant-rate second step (Adam: same moments, so the same direction)."""
    T, B, rate = 4, 8, 0.3
    cfg = dict(num_envs=B, unroll_length=T, latent_size=16, hidden_sizes=(32,), replay_fraction=0.0, max_grad_norm=1e9)
    one = muzero_parts(MuZeroConfig(num_sgd_steps=1, **cfg), Catch().spec)
    const = muzero_parts(MuZeroConfig(num_sgd_steps=2, **cfg), Catch().spec)
    decay = muzero_parts(MuZeroConfig(num_sgd_steps=2, lr_schedule="exponential", lr_decay_rate=rate, lr_decay_updates=1,
                                      **cfg), Catch().spec)
    traj = catch_trajectory(one, one.agent.init(jax.random.PRNGKey(0)), T, jax.random.PRNGKey(1))
    flat = lambda s: np.concatenate([np.ravel(x) for x in jax.tree.leaves(s.params)])
    moved = []
    for parts in (one, const, decay):
        state = parts.agent.init(jax.random.PRNGKey(0))
        moved.append(flat(jax.jit(parts.agent.update)(state, traj, jax.random.PRNGKey(2))[0]) - flat(state))
    first, both_const, both_decay = moved
    assert np.abs(both_const - first).max() > 1e-3
    np.testing.assert_allclose(both_decay - first, np.sqrt(rate) * (both_const - first), atol=1e-6, rtol=1e-3)


def test_true_env_simulator_on_catch():
    """simulator='env': the Catch state is read back from each observation exactly, and a search over the
    true environment with an untrained network (prior uniform, values about 0) moves the paddle under
    a ball one row above it (the known optimal action), where the learned model knows nothing yet."""
    parts = muzero_parts(MuZeroConfig(simulator="env", num_envs=8, unroll_length=9), Catch().spec)
    env = Catch()
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    states, ts = jax.vmap(env.reset)(keys)
    for t in range(8):
        got = parts.simulator.root((), ts)
        for a, b in zip(got, states):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        states, ts = jax.vmap(env.step)(states, jnp.full(8, t % 3), keys)
    from rlk.plugins.envs.catch import CatchState
    # Ball at row 8 (one above the paddle's row 9): in column 1 with the paddle in 2 (move left: 0),
    # in column 3 with the paddle in 2 (move right: 2).
    board = lambda bx: jax.vmap(env._observe)(CatchState(jnp.asarray(bx), jnp.full(2, 8), jnp.full(2, 2)))
    obs = board([1, 3])
    net = parts.agent.init(jax.random.PRNGKey(1)).params
    ts = TimeStep(obs, jnp.zeros(2), jnp.ones(2), jnp.zeros(2, bool))
    action, _, _ = jax.jit(parts.agent.eval_act)(net, (), ts, jax.random.PRNGKey(2))
    np.testing.assert_array_equal(np.asarray(action), [0, 2])


@pytest.mark.slow
def test_go_self_play_with_the_true_simulator_keeps_its_copy_of_the_game():
    """Go 9x9 self-play (simulator='env'): the agent's copy of each game follows the true game move by
    move (and through its end), and every move it picks is legal."""
    from rlk.plugins.envs.pgx_adapter import PgxEnv

    raw = PgxEnv("go_9x9")
    env = for_training(raw)
    B, T = 2, 6
    parts = muzero_parts(MuZeroConfig(simulator="env", num_envs=B, unroll_length=T, num_simulations=2,
                                      latent_size=8, hidden_sizes=(16,)), raw.spec)
    params = parts.agent.init(jax.random.PRNGKey(0)).params
    env_state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(1), B))
    run = jax.jit(lambda a, e, t, k: rollout(parts.agent, env, params, a, e, t, k, T))
    actor = parts.agent.initial_actor_state(B)
    for i in range(2):
        (actor, env_state, ts), traj = run(actor, env_state, ts, jax.random.PRNGKey(2 + i))
        np.testing.assert_array_equal(np.asarray(actor.observation), np.asarray(ts.observation))
        np.testing.assert_array_equal(np.asarray(actor._x.board), np.asarray(env_state.inner._x.board))
        mask = np.asarray(traj.timestep.legal_action_mask[:T])
        assert np.take_along_axis(mask, np.asarray(traj.action)[..., None], -1).all()
        np.testing.assert_allclose(np.asarray(traj.extras["search_policy"])[~mask], 0.0)


@pytest.mark.slow
def test_go_trains_end_to_end_and_plays_random(cli, tmp_path):
    """A (tiny) Go 9x9 run trains through the CLI; ``rlk play`` plays it against random legal moves."""
    tiny = ["agent.num_envs=4", "agent.unroll_length=4", "agent.num_sgd_steps=1", "agent.replay_capacity=64",
            "agent.num_simulations=2", "agent.eval_simulations=2", "agent.latent_size=16", "agent.hidden_sizes=[32]",
            "agent.gamma=1.0", "agent.value_bounds=[-1,1]", "agent.area_shaping=1.0", "env.pass_after_moves=40",
            "log_every_steps=32", "eval_episodes=1"]
    args = [a for o in tiny for a in ("-o", o)]
    cli("train", "--agent", "muzero", "--env", "go_9x9", "-q", "--steps", "64", "--seed", "5", "--num-seeds", "2",
        "--run-dir", str(tmp_path / "run"), *args)
    assert summary(tmp_path / "run")["env_steps"] >= 64
    out = cli("play", str(tmp_path / "run"), "--opponent", "random", "--games", "4", "--opponent-rules", "standard",
              "--json").stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["games"] == 4 and result["wins"] + result["losses"] + result["draws"] == 4 and result["run_seed"] == 5
    assert 0.0 <= result["win_rate"] <= 1.0 and result["agent_black"] == 2 and not result["standard_rules"]
    assert result["opponent_rules"] == "standard"
    # the second trained seed plays, under standard rules, with the evaluation search budget changed for the match
    out = cli("play", str(tmp_path / "run"), "--games", "2", "--run-seed", "6", "--standard-rules",
              "-o", "agent.eval_simulations=3", "--json").stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["run_seed"] == 6 and result["standard_rules"] and result["overrides"] == ["agent.eval_simulations=3"]
    # options outside agent/env, or that change the parameters' shapes, are a one-line error
    for bad, names in ((["-o", "seed=3"], "seed=3"), (["-o", "agent.latent_size=8"], "checkpoint"),
                       (["--run-seed", "1"], "--run-seed 1"), (["--opponent-rules", "nobody"], "--opponent-rules")):
        proc = cli("play", str(tmp_path / "run"), "--games", "2", *bad, check=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr and names in proc.stderr, proc.stderr


def np_n_step(reward, discount, value, gamma, n):
    """z_j = sum_{i<n} gamma^i r_{j+i+1} + gamma^n v_{j+n}, cut at ends, truncated at the sequence end."""
    T = len(reward) - 1
    z = np.zeros(T)
    for j in range(T):
        g, scale = 0.0, 1.0
        for i in range(n):
            t = j + i + 1
            g += scale * reward[t]
            scale *= gamma * discount[t]
            if t == T or i == n - 1:
                g += scale * value[t]
                break
        z[j] = g
    return z


def test_n_step_returns_match_numpy():
    T, N, gamma = 9, 3, 0.9
    rng = np.random.default_rng(0)
    reward = rng.normal(size=(T + 1, N)).astype(np.float32)
    last = rng.uniform(size=(T + 1, N)) < 0.2
    discount = 1.0 - last.astype(np.float32)
    value = rng.normal(size=(T + 1, N)).astype(np.float32)
    ts = TimeStep(jnp.zeros((T + 1, N, 1)), jnp.asarray(reward), jnp.asarray(discount), jnp.asarray(last))
    for n in (1, 3, 20):
        got = np.asarray(n_step_returns(ts, jnp.asarray(value), gamma, n))
        for b in range(N):
            np.testing.assert_allclose(got[:, b], np_n_step(reward[:, b], discount[:, b], value[:, b], gamma, n), rtol=1e-5, atol=1e-5)


def test_absorbing_targets_after_an_episode_end():
    """T = 6; the episode ends at step 3 (a_2 -> ts[3], reward 30): past it, value 0 and reward 0 are trained."""
    T, K = 6, 3
    reward = jnp.asarray([0, 10, 20, 30, 40, 50, 60], jnp.float32)[:, None]
    last = jnp.asarray([0, 0, 0, 1, 0, 0, 0], bool)[:, None]
    ts = TimeStep(jnp.zeros((T + 1, 1, 1)), reward, 1.0 - last.astype(jnp.float32), last)
    G = jnp.asarray([100, 101, 102, 103, 104, 105], jnp.float32)[:, None]
    out = absorbing_targets(ts, model_targets(ts, jnp.zeros((T + 1, 1, A)), G, SUPPORT, K), SUPPORT, K)
    val = np.asarray(two_hot_to_scalar(out["model_value"], SUPPORT))[..., 0]
    rew = np.asarray(two_hot_to_scalar(out["model_reward"], SUPPORT))[..., 0]
    vm, rm = np.asarray(out["model_value_mask"])[..., 0], np.asarray(out["model_reward_mask"])[..., 0]
    # From s_1: k=1 -> s_2 (value 102), k=2 -> the end (value 0, reward 30), k=3 -> absorbing (reward 0).
    np.testing.assert_allclose(val[:, 1], [102, 0, 0], atol=1e-2)
    np.testing.assert_allclose(rew[:, 1], [20, 30, 0], atol=1e-2)
    np.testing.assert_array_equal(vm[:, 1], [1, 1, 1])
    np.testing.assert_array_equal(rm[:, 1], [1, 1, 1])
    # From s_3 (the next episode) nothing is absorbing: k=3 runs past the sequence (j + k = 6 = T:
    # reward valid, value target missing).
    np.testing.assert_allclose(rew[:, 3], [40, 50, 60], atol=1e-2)
    np.testing.assert_array_equal(vm[:, 3], [1, 1, 0])
    # From s_5: k=2 and k=3 run past the sequence with no end seen: masked.
    np.testing.assert_array_equal(rm[:, 5], [1, 0, 0])


def random_muzero_inputs(T=3, N=2, K=2, A=3, M=5, seed=0) -> MuZeroInputs:
    """Random logits, target distributions and 0/1 masks of MuZeroInputs' documented shapes."""
    rng = np.random.default_rng(seed)
    logits = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)
    probs = lambda *shape: jax.nn.softmax(logits(*shape) * 3.0)
    mask = lambda *shape: jnp.asarray(rng.uniform(size=shape) < 0.7, jnp.float32)
    return MuZeroInputs(logits(T, N, A), probs(T, N, A), mask(T, N), logits(T, N, M), probs(T, N, M), mask(T, N),
                        logits(K, T, N, A), probs(K, T, N, A), mask(K, T, N), logits(K, T, N, M), probs(K, T, N, M),
                        mask(K, T, N), logits(K, T, N, M), probs(K, T, N, M), mask(K, T, N))


def test_muzero_losses_match_a_numpy_cross_entropy():
    """Each term of eq. 1 is the masked mean of -sum p log softmax(logits), k = 0 and k = 1..K averaged apart;
    the agent's LossSet weighs them by agent.loss_weights; a misshapen input fails at trace time."""
    x = random_muzero_inputs()

    def ce(logits, target, mask):
        logits, target, mask = (np.asarray(a, np.float64) for a in (logits, target, mask))
        log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        return float((-(target * log_p).sum(-1) * mask).sum() / max(mask.sum(), 1.0))

    k0 = ce(x.policy_logits, x.policy_target, x.policy_mask)
    policy = k0 + ce(x.model_policy_logits, x.model_policy_target, x.model_policy_mask)
    value = ce(x.value_logits, x.value_target, x.value_mask) + ce(x.model_value_logits, x.model_value_target, x.model_value_mask)
    reward = ce(x.model_reward_logits, x.model_reward_target, x.model_reward_mask)
    eq1 = {name: w for name, w in MuZeroConfig().loss_weights.items() if name != "muzero_policy_gradient"}
    losses = agent_losses("muzero", eq1)
    total, metrics = losses({}, {MuZeroInputs: x}, {})
    for name, expected in (("muzero_policy", policy), ("muzero_policy/k0", k0), ("muzero_value", value),
                           ("muzero_reward", reward)):
        np.testing.assert_allclose(float(metrics[name]), expected, rtol=1e-5)
    np.testing.assert_allclose(float(total), policy + 0.25 * value + reward, rtol=1e-5)
    with pytest.raises(AssertionError):
        policy_loss(x._replace(policy_mask=x.policy_mask[:, :1]))


def test_a_loss_muzero_cannot_feed_is_one_line():
    from rlk.core.errors import RlkError

    with pytest.raises(RlkError, match="loss 'ppo_policy' needs PolicyInputs, which agent 'muzero' does not produce"):
        agent_losses("muzero", {"muzero_policy": 1.0, "ppo_policy": 1.0})


def random_policy_return(episodes: int = 2000) -> float:
    env = Catch()

    def episode(key):
        reset_key, key = jax.random.split(key)
        state, _ = env.reset(reset_key)

        def step(carry, k):
            state, total = carry
            state, ts = env.step(state, jax.random.randint(k, (), 0, A), k)
            return (state, total + ts.reward), None

        (_, total), _ = jax.lax.scan(step, (state, 0.0), jax.random.split(key, env.spec.max_episode_steps))
        return total

    return float(jnp.mean(jax.vmap(episode)(jax.random.split(jax.random.PRNGKey(0), episodes))))


def summary(path):
    return json.loads((path / "summary.json").read_text())


@pytest.mark.slow
def test_muzero_solves_catch(cli, tmp_path):
    shown = cli("show-config", "--agent", "muzero").stdout
    assert all(word in shown for word in ("simulation", "depth", "rollout"))
    # the default config for 92,160 of its 156,672 default steps (5 of its 9 calls): seeds 0-3 of that run in one
    # program all gave greedy final_return 1.0 (stop 38, AMD EPYC; seed 0's training return reaches 0.95 at 73,728)
    cli("train", "--agent", "muzero", "-q", "--steps", "92160", "--run-dir", str(tmp_path / "run"))
    agent = json.loads((tmp_path / "run" / "config.json").read_text())["agent"]
    assert agent["num_simulations"] == agent["eval_simulations"] == 8  # issue 6: Catch with 8 simulations
    result = summary(tmp_path / "run")
    assert result["final_return"] >= 0.9
    assert result["final_return"] > random_policy_return() + 1.0  # random play: about -0.6


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [  # the policy-gradient arm: test_muzero_arms.py::test_the_no_search_arm_learns_catch
    ("agent.rollout_steps=3", "agent.max_depth=2"),  # shallow tree, Monte-Carlo rollouts below it
])
def test_planning_interventions_train_end_to_end(cli, tmp_path, overrides):
    args = [a for o in overrides for a in ("-o", o)]
    cli("train", "--agent", "muzero", "-q", "--steps", "4000", "-o", "log_every_steps=2000", "--run-dir", str(tmp_path / "run"), *args)
    result = summary(tmp_path / "run")
    assert np.isfinite(result["final_return"]) and result["env_steps"] >= 4000
    agent = json.loads((tmp_path / "run" / "config.json").read_text())["agent"]
    for o in overrides:
        key, value = o.split(".", 1)[1].split("=")
        assert str(agent[key]).lower() == value


def random_go_positions(B: int = 16, moves: int = 120, seed: int = 0):
    """States and timesteps along ``B`` games of uniformly random legal Go 9x9 moves: lists over moves."""
    from rlk.plugins.envs.pgx_adapter import PgxEnv

    env = PgxEnv("go_9x9")
    state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(seed), B))
    step = jax.jit(jax.vmap(env.step))
    states, tss, actions = [state], [ts], []
    key = jax.random.PRNGKey(seed + 1)
    for _ in range(moves):
        key, k1, k2 = jax.random.split(key, 3)
        action = jax.random.categorical(k1, jnp.where(ts.legal_action_mask, 0.0, -jnp.inf))
        state, ts = step(state, action, jax.random.split(k2, B))
        states.append(state), tss.append(ts), actions.append(action)
    return env, states, tss, actions


def test_go_area_margin_matches_pgx_scoring():
    """The area potential read from observations equals pgx's own Tromp-Taylor count (``_count_scores``,
    the scores its rewards use) of the mover's colour minus the other's, along random games."""
    from pgx._src.games.go import _count_scores

    from rlk.plugins.envs.go_area import area_margin

    _, states, tss, _ = random_go_positions(B=8, moves=100)
    margin = jax.jit(jax.vmap(area_margin))
    count = jax.jit(jax.vmap(lambda x: _count_scores(x, 9)))
    checked = 0
    for state, ts in zip(states[::7], tss[::7]):
        scores, color = np.asarray(count(state._x)), np.asarray(state._x.color)  # color: the player to move's
        expected = np.where(color == 0, scores[:, 0] - scores[:, 1], scores[:, 1] - scores[:, 0]) / 81.0
        live = ~np.asarray(state.terminated)
        np.testing.assert_allclose(np.asarray(margin(ts.observation))[live], expected[live], atol=1e-6)
        checked += live.sum()
    assert checked > 50 and np.abs(expected).max() > 0.1


def test_go_area_shaping_keeps_the_games_returns():
    """Potential-based shaping (agent.area_shaping): over a whole game the two-player Monte-Carlo
    value targets of the shaped rewards equal the unshaped ones minus c * phi(s_j) (the area margin
    of the player to move), so a won game is still worth +1 from the empty board; and the search's
    env-simulator step gives the same shaped reward as the training targets for the same move."""
    from rlk.plugins.muzero.simulators import env_simulator_step
    from rlk.plugins.muzero.targets import area_shaped_rewards
    from rlk.plugins.envs.go_area import area_margin
    from rlk.plugins.muzero.simulators import true_simulator

    c = 0.5
    env, states, tss, actions = random_go_positions(B=4, moves=170, seed=3)
    ts = jax.tree.map(lambda *x: jnp.stack(x), *tss)  # [T+1, B]; no auto-reset: stop at the first end
    ts = ts._replace(info={})
    T = len(actions)
    ended = np.cumsum(np.asarray(ts.last), 0) > 0
    assert ended[-1].all()  # every game ended within 170 moves (pgx Go ends at 162)
    shaped = area_shaped_rewards(ts, area_margin, c)
    value = jnp.zeros((T + 1, 4))
    z = np.asarray(n_step_returns(ts, value, 1.0, 200, sign=-1.0))
    zs = np.asarray(n_step_returns(shaped, value, 1.0, 200, sign=-1.0))
    phi = np.asarray(jax.vmap(jax.vmap(area_margin))(ts.observation))[:T]
    live = ~ended[:T]  # positions before each game's end
    np.testing.assert_allclose(zs[live], (z - c * phi)[live], atol=1e-5)
    np.testing.assert_allclose(np.abs(z[0]), 1.0)  # the game's result, unchanged from the empty board
    np.testing.assert_allclose(zs[0], z[0], atol=1e-6)
    assert np.abs(np.asarray(shaped.reward) - np.asarray(ts.reward))[1:][live].max() > 0.05  # dense rewards
    # The search's simulator step on the same transitions.
    from rlk.nn.muzero_model import MuZeroModel

    sim = true_simulator(env.spec)
    net = MuZeroModel(jax.random.PRNGKey(0), env.spec.observation.shape, 82, 8, (16,), 81, False)  # priors, values only
    step = env_simulator_step(sim, SUPPORT, -1.0, True, c)
    for t in (0, 5, 60):
        _, reward, _, _, _ = jax.jit(step)(net, (states[t], jnp.zeros(4, bool)), actions[t], jax.random.PRNGKey(0))
        np.testing.assert_allclose(np.asarray(reward), np.asarray(shaped.reward[t + 1]), atol=1e-6)


def test_the_true_simulator_plays_the_runs_go_rules():
    """go_9x9 declares its simulator in its spec (``EnvSpec.simulator``), built from the env itself, so
    simulator='env' plays the run's rule variants: the search sees the same masked pass and the same
    final-margin reward as the acting env. An env that declares none is refused in one line."""
    from rlk.core.errors import RlkError
    from rlk.plugins.envs.go_area import area_margin
    from rlk.plugins.envs.pgx_adapter import PgxEnv
    from rlk.plugins.muzero.simulators import true_simulator

    env = PgxEnv("go_9x9", pass_after_moves=50, score_reward=2.0)
    sim = true_simulator(env.spec)
    assert sim.potential is area_margin
    key = jax.random.PRNGKey(0)
    state, _ = env.reset(key)
    for a in (40, 41, 81, 81):  # two passes end the game only once pass is legal: here it is masked
        real = env.step(state, jnp.int32(a), key)
        simulated = sim.step(state, jnp.int32(a), key)
        np.testing.assert_array_equal(np.asarray(real[1].legal_action_mask), np.asarray(simulated[1].legal_action_mask))
        np.testing.assert_allclose(float(real[1].reward), float(simulated[1].reward))
        state = real[0]
        assert not bool(real[1].legal_action_mask[-1])  # pass masked before move 50
    # a game ended by two passes, with the score reward: the simulator's reward is the env's
    short = PgxEnv("go_9x9", score_reward=2.0)
    sim = true_simulator(short.spec)
    s0, _ = short.reset(key)
    s1, _ = short.step(s0, jnp.int32(40), key)
    s2, _ = short.step(s1, jnp.int32(81), key)
    real, simulated = short.step(s2, jnp.int32(81), key)[1], sim.step(s2, jnp.int32(81), key)[1]
    assert bool(real.last) and abs(float(real.reward)) > 1.0
    np.testing.assert_allclose(float(simulated.reward), float(real.reward))
    with pytest.raises(RlkError, match="declares EnvSpec.simulator"):
        muzero_parts(MuZeroConfig(simulator="env"), env.spec.model_copy(update={"simulator": None}))


def test_area_shaping_and_board_torso_configs():
    """agent.area_shaping is refused (one line) off Go; torso='board' keeps a 9x9 board's points apart."""
    from rlk.core.errors import RlkError
    from rlk.nn.muzero_model import BoardTorso

    with pytest.raises(RlkError, match="area_shaping"):
        muzero_parts(MuZeroConfig(area_shaping=1.0), Catch().spec)
    torso = BoardTorso(jax.random.PRNGKey(0), (9, 9, 17), 8)
    x = jnp.zeros((9, 9, 17))
    outs = [np.asarray(torso(x.at[i, j, 0].set(1.0))) for i, j in ((0, 0), (0, 1), (4, 4))]
    assert outs[0].shape == (8,) and min(np.abs(a - b).max() for a in outs for b in outs if a is not b) > 1e-4


@pytest.mark.parametrize("opening", [(40, 81), (81,)])
def test_go_search_over_the_true_game_sees_the_movers_win(opening):
    """Hand-made Go positions where the player to move wins by passing (the opponent just passed): after
    black's centre stone and white's pass, black owns the whole board; after black's opening pass, white
    leads by komi. The search over the true game (simulator='env', untrained network) values the pass
    +1 for the player to move, black or white, whichever pgx player id plays that colour, and picks it:
    the adapter's reward (the mover's), the search's two-player signs and the root agree."""
    from rlk.plugins.envs.pgx_adapter import PgxEnv

    env = PgxEnv("go_9x9")
    B = 4  # pgx draws which player id is black from the reset key
    parts = muzero_parts(MuZeroConfig(simulator="env"), env.spec)
    state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), B))
    assert len(set(np.asarray(ts.current_player).tolist())) == 2
    for move in opening:
        state, ts = jax.vmap(env.step)(state, jnp.full(B, move), jax.random.split(jax.random.PRNGKey(1), B))
    assert not np.asarray(ts.last).any()
    # A network that knows nothing: uniform prior and value 0 everywhere (zeroed heads), so the search
    # tries every move once before it repeats one, and only the game's rewards tell the moves apart.
    net = parts.agent.init(jax.random.PRNGKey(2)).params
    zero = lambda tree: jax.tree.map(jnp.zeros_like, tree)
    net = eqx.tree_at(lambda n: (n.policy_head, n.value_head), net, (zero(net.policy_head), zero(net.value_head)))
    out, _ = jax.jit(parts.search, static_argnums=(3, 4))(net, ts.observation, jax.random.PRNGKey(3), 120, False,
                                                           ts.legal_action_mask, state)
    q = np.asarray(out.search_tree.qvalues(jnp.zeros(B, jnp.int32)))
    np.testing.assert_allclose(q[:, 81], 1.0, atol=1e-6)
    assert (q[:, :81] < 0.5).all()
    np.testing.assert_array_equal(np.asarray(jnp.argmax(out.action_weights, -1)), 81)


def test_play_match_opponent_rules_decide_the_random_players_moves():
    """``opponent_rules='standard'``: the random player draws from the game's own legal moves, not the
    env's variant. Under ``pass_after_moves=1000`` (no pass while another move is legal) an agent that
    always passes meets a random pass only where the random player has no other move (the board nearly
    full of its stones), so games run to about pgx's 162-move limit; a standard random player passes now
    and then, and the second pass ends those games early."""
    from rlk.core.interfaces import Agent
    from rlk.plugins.envs.pgx_adapter import PgxEnv
    from rlk.plugins.muzero.play import play_match

    env = PgxEnv("go_9x9", pass_after_moves=1000)
    pass_move = env.spec.action.num_values - 1
    always_pass = lambda params, actor, ts, key: (jnp.full(ts.reward.shape, pass_move, jnp.int32), actor, {})
    agent = Agent(init=None, initial_actor_state=lambda b: (), act=always_pass, eval_act=always_pass,
                  update=None, num_envs=1, unroll_length=1)
    run_rules = play_match(agent, env, None, 16, seed=0)
    standard = play_match(agent, env, None, 16, seed=0, opponent_rules="standard")
    assert run_rules["mean_moves"] > 0.9 * env.spec.max_episode_steps, run_rules
    assert standard["mean_moves"] < 0.6 * run_rules["mean_moves"], (standard, run_rules)


GO_FEW_MINUTES = ["agent.search=gumbel", "agent.simulator=env", "agent.gamma=1.0", "agent.td_steps=16",
                  "agent.num_simulations=16", "agent.eval_simulations=16", "env.no_eye_filling=true",
                  "env.score_reward=3", "eval_episodes=1"]


@pytest.mark.slow
def test_muzero_trained_a_few_minutes_beats_random_at_go(cli, tmp_path):
    """Issue 6's Go bar, through the real commands: 200k env steps of self-play (about 4.5 minutes on 2
    CPU cores) with the true game as the search's simulator and the eye rule (``env.no_eye_filling``),
    then ``rlk play`` against a uniformly random legal player of standard Go, 50 games. The README
    shows >= 0.9 over 8 training seeds (0.89-1.00 per match); CI asserts 0.85, and that training made the
    difference: against a random player that keeps the eye rule too (``--opponent-rules run``), the
    trained agent wins far more often than the untrained network with the same search (measured here).
    Half the budget is not enough (stop 38, AMD EPYC): seeds 1-3 at 100k won 0.97 / 0.77 / 0.95 of 100 standard
    games and 0.84 / 0.34 / 0.68 against the eye-rule player, whom the untrained network beats 0.39."""
    from rlk.plugins.envs.pgx_adapter import PgxEnv
    from rlk.plugins.muzero.play import play_match

    args = [a for o in GO_FEW_MINUTES for a in ("-o", o)]
    cli("train", "--agent", "muzero", "--env", "go_9x9", "-q", "--steps", "200000", "--run-dir", str(tmp_path / "run"), *args)
    play = lambda games, *extra: json.loads(cli("play", str(tmp_path / "run"), "--games", str(games), "--json", *extra).stdout.strip().splitlines()[-1])
    standard = play(50, "--opponent-rules", "standard")  # 0.95-0.99 of 100 games measured: 50 games test 0.85 well
    eye_rule_opponent = play(100, "--opponent-rules", "run")
    env = PgxEnv("go_9x9", no_eye_filling=True)
    config = {o.split("=")[0].split(".")[1]: o.split("=")[1] for o in GO_FEW_MINUTES if o.startswith("agent.")}
    untrained = muzero_parts(MuZeroConfig(**config), env.spec).agent
    untrained_vs_eye_rule = play_match(untrained, env, untrained.init(jax.random.PRNGKey(0)).params, 100,
                                       true_state_as_actor_state=True)
    assert standard["win_rate"] >= 0.85, standard
    assert eye_rule_opponent["win_rate"] >= untrained_vs_eye_rule["win_rate"] + 0.2, (eye_rule_opponent, untrained_vs_eye_rule)
