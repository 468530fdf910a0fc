"""Causally correct partial models (Rezende et al. 2020) on FuzzyBear.

True values are enumerated here in numpy from the environment's definition (README), independently
of the plugin's code; the learned models are CI-sized (one seed, 1500 steps; the closed-loop agents 5 seeds, 4 iterations).
"""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.partial_models.closed_loop import run_arms
from experiments.partial_models.experiment import make_seed_run
from rlk.core.config import Component, validate_component
from rlk.core.errors import RlkError
from rlk.core.registry import default_registry
from rlk.plugins.partial_models.agent import ClosedLoopConfig
from rlk.plugins.partial_models.data import BehaviourConfig, collect
from rlk.plugins.partial_models.env import FuzzyBear, FuzzyBearConfig
from rlk.plugins.partial_models.models import PartialModel, PartialModelConfig, simulate_value

# The paper's definition (README, Rezende et al. 2020 Section 3): stay 0.6; in the forest a teddy (p 0.5)
# or a grizzly; hug: +1 / -0.5, run: 0.
STAY, HUG_TEDDY, HUG_GRIZZLY, RUN, P_GRIZZLY = 0.6, 1.0, -0.5, 0.0, 0.5


def true_plan_value(a0, a1):
    """Value of the open-loop plan (a0, a1) (0 = stay / hug, 1 = forest / run), by enumerating the bear."""
    if a0 == 0:
        return STAY
    return sum(p * (RUN if a1 == 1 else (HUG_TEDDY if bear == 0 else HUG_GRIZZLY))
               for bear, p in [(0, 1 - P_GRIZZLY), (1, P_GRIZZLY)])


PLANS = list(itertools.product(range(2), range(2)))  # the planner's order
TRUE = np.array([true_plan_value(*p) for p in PLANS])  # [0.6, 0.6, 0.25, 0.0]
FOREST_HUG = PLANS.index((1, 0))


def behaviour_value(b: BehaviourConfig):
    """The behaviour's value at home: it sees the bear; executed actions are (1 - eps) p + eps / 2."""
    ex = lambda p: (1 - b.epsilon) * p + b.epsilon / 2
    p_forest = ex(b.p_forest)
    forest = ((1 - P_GRIZZLY) * (ex(b.p_hug_teddy) * HUG_TEDDY + (1 - ex(b.p_hug_teddy)) * RUN)
              + P_GRIZZLY * (ex(b.p_hug_grizzly) * HUG_GRIZZLY + (1 - ex(b.p_hug_grizzly)) * RUN))
    return (1 - p_forest) * STAY + p_forest * forest


def test_env_rewards_and_observations_follow_the_definition():
    env = FuzzyBear()
    step = jax.jit(env.step)
    for bear, a0, a1 in itertools.product(range(2), range(2), range(2)):
        state, ts = env.reset(jax.random.PRNGKey(0))
        state = state._replace(bear=jnp.int32(bear))
        np.testing.assert_array_equal(ts.observation, [1, 0, 0, 0])  # the bear is hidden at home
        state, ts = step(state, jnp.int32(a0), jax.random.PRNGKey(1))
        if a0 == 0:
            assert bool(ts.last) and float(ts.reward) == pytest.approx(STAY) and float(ts.discount) == 0.0
            continue
        assert not bool(ts.last) and float(ts.reward) == 0.0
        np.testing.assert_array_equal(ts.observation, [0, 1, bear == 0, bear == 1])  # seen in the forest
        state, ts = step(state, jnp.int32(a1), jax.random.PRNGKey(2))
        expected = RUN if a1 == 1 else (HUG_TEDDY if bear == 0 else HUG_GRIZZLY)
        assert bool(ts.last) and float(ts.reward) == pytest.approx(expected)
    bears = jax.vmap(lambda k: env.reset(k)[0].bear)(jax.random.split(jax.random.PRNGKey(3), 4000))
    assert float(jnp.mean(bears)) == pytest.approx(P_GRIZZLY, abs=0.03)


def test_env_expected_returns_match_the_papers_definition():
    """Mean return of each two-action sequence, played in the JAX env from random resets, against the hand
    computation from the paper's numbers: stay 0.6; forest-hug 0.5 * 1 + 0.5 * (-0.5) = 0.25; forest-run 0."""
    env = FuzzyBear()

    def episode_return(key, a0, a1):
        state, _ = env.reset(key)
        state, ts0 = env.step(state, a0, key)
        _, ts1 = env.step(state, a1, key)
        return ts0.reward + jnp.where(ts0.last, 0.0, ts1.reward)

    keys = jax.random.split(jax.random.PRNGKey(4), 20000)
    returns = jax.jit(jax.vmap(jax.vmap(episode_return, (None, 0, 0)), (0, None, None)))(
        keys, jnp.array([a0 for a0, _ in PLANS]), jnp.array([a1 for _, a1 in PLANS]))
    np.testing.assert_allclose(np.asarray(returns).mean(0), [0.6, 0.6, 0.25, 0.0], atol=0.025)  # 3 std. errors
    np.testing.assert_allclose(TRUE, [0.6, 0.6, 0.25, 0.0])  # the enumeration above agrees
    # an agent that sees the bear (hug the teddy, run from the grizzly) gets 0.5 in the forest: staying is optimal
    assert (1 - P_GRIZZLY) * HUG_TEDDY + P_GRIZZLY * RUN < STAY


def test_env_is_registered_and_a_wrong_config_field_is_one_clear_line():
    plugin = default_registry().get("env", "fuzzy-bear")
    assert isinstance(plugin.factory(FuzzyBearConfig()), FuzzyBear)
    with pytest.raises(RlkError) as err:
        validate_component(Component(name="fuzzy-bear", stay_rewrd=0.7), plugin.config, "env")
    assert "stay_rewrd" in str(err.value) and "\n" not in str(err.value)


def test_behaviour_data_is_confounded():
    """In the data, hugging mostly meets teddies: E[r | forest, hug] is far above its causal value 0.5."""
    b = BehaviourConfig()
    d = jax.tree.map(np.asarray, collect(FuzzyBear(), b, jax.random.PRNGKey(0), 20000))
    forest = d["valid"][:, 1]
    hug = forest & (d["action"][:, 1] == 0)
    ex = lambda p: (1 - b.epsilon) * p + b.epsilon / 2
    p_teddy_given_hug = ex(b.p_hug_teddy) / (ex(b.p_hug_teddy) + ex(b.p_hug_grizzly))  # Bayes, bears 50/50
    expected = p_teddy_given_hug * HUG_TEDDY + (1 - p_teddy_given_hug) * HUG_GRIZZLY  # ~0.73 against 0.25
    assert d["reward"][hug, 1].mean() == pytest.approx(expected, abs=0.02)
    assert d["reward"].sum(1).mean() == pytest.approx(behaviour_value(b), abs=0.02)
    assert np.all(d["reward"][~d["valid"]] == 0) and np.all(d["probs"][~d["valid"]] == 0.5)
    np.testing.assert_allclose(d["probs"][forest & (d["bear"] == 0), 1], np.broadcast_to([b.p_hug_teddy, 1 - b.p_hug_teddy], (int(np.sum(forest & (d["bear"] == 0))), 2)), atol=1e-6)


@pytest.fixture(scope="module")
def trained():
    """One seed, CI-sized: the three models trained on the same behaviour data, each plan evaluated."""
    run = make_seed_run(FuzzyBear(), BehaviourConfig(), PartialModelConfig(hidden=32, batch_size=256, steps=1500),
                        num_episodes=8192, num_particles=4096)
    return run(0)


@pytest.mark.slow
def test_naive_model_is_wrong_about_a_new_policy_and_causal_models_are_right(trained):
    """The paper's headline: value of the new policy 'go to the forest and hug' (true 0.25)."""
    naive = np.array(trained["naive"]["plan_values"])
    assert abs(naive[FOREST_HUG] - TRUE[FOREST_HUG]) > 0.2  # confounded: ~0.73 (E[r | hug] in the data)
    for name in ["causal (probs)", "causal (intention)"]:
        np.testing.assert_allclose(trained[name]["plan_values"], TRUE, atol=0.05, err_msg=name)
        # the likelihood-ratio estimator (behaviour's actions given z, weighted by pi / m) agrees
        np.testing.assert_allclose(trained[name]["plan_values_lr"], TRUE, atol=0.06, err_msg=name)
    for name in trained:  # every model's value head predicts the behaviour's own value (no intervention)
        assert trained[name]["root_value"] == pytest.approx(behaviour_value(BehaviourConfig()), abs=0.05), name


@pytest.mark.slow
def test_planning_naive_goes_to_the_forest_causal_stays(trained):
    """Open-loop planning from home: the best plan is to stay (0.6 > 0.25); the naive model's is not."""
    assert trained["naive"]["first_action"] == 1  # forest, expecting ~0.73
    assert trained["causal (probs)"]["first_action"] == 0
    assert trained["causal (intention)"]["first_action"] == 0
    # the real return of each model's plan, measured in the environment
    assert trained["causal (probs)"]["real_return_of_plan"] == pytest.approx(STAY, abs=0.01)
    assert trained["naive"]["real_return_of_plan"] < STAY - 0.05


def test_likelihood_ratio_needs_a_backdoor():
    model = eqx.filter_eval_shape(PartialModel, jax.random.PRNGKey(0), PartialModelConfig(backdoor="none", hidden=8), 4, 2)
    with pytest.raises(ValueError, match="backdoor"):
        simulate_value(model, jnp.zeros(4), jnp.full((2, 2), 0.5), jax.random.PRNGKey(1), 4, "likelihood_ratio")


@pytest.mark.slow
def test_closed_loop_causal_agent_is_unbiased_and_stays_home_the_naive_one_is_over_optimistic():
    """Agents that plan with the model they learn, act, retrain and replan (5 paired seeds, 4 iterations). The
    naive agent's own forest policy sees the bear, so its model values the open-loop plan (forest, hug) above
    the true 0.25; the causal model does not, and its agent stays home (0.6). The uniformly random policy is
    measured beside them: 0.5 * 0.6 + 0.5 * (0.5 * 0.25 + 0.5 * 0) = 0.3625."""
    config = ClosedLoopConfig(iterations=4, episodes_per_iteration=256, steps_per_iteration=250, num_particles=128,
                              eval_episodes=1024)
    results = run_arms(5, PartialModelConfig(hidden=32, batch_size=256), config, {"naive": "none", "causal": "probs"})
    assert results["random"] == pytest.approx(0.5 * STAY + 0.5 * 0.5 * TRUE[FOREST_HUG], abs=0.01)
    naive, causal = results["naive"], results["causal"]
    naive_value, causal_value = naive["plan_values"][:, -1, FOREST_HUG], causal["plan_values"][:, -1, FOREST_HUG]
    assert naive_value.mean() > TRUE[FOREST_HUG] + 0.15 and naive_value.mean() > causal_value.mean() + 0.1
    assert abs(causal_value.mean() - TRUE[FOREST_HUG]) < 0.1
    assert np.all(causal["first_action"][:, -1] == 0)
    naive_return, causal_return = naive["greedy_return"][:, -1], causal["greedy_return"][:, -1]
    assert np.all(causal_return >= naive_return - 0.01) and causal_return.mean() > results["random"] + 0.2
