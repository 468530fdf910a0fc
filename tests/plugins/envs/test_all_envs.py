"""Every gymnax environment and pgx game: the catalogue matches the libraries, each registered env resets
and steps in a batch through its adapter, and env parameters reach the env (``-o env.FIELD=VALUE``)."""

from __future__ import annotations

import csv
import dataclasses
import inspect
import json

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pgx
import pytest

from rlk.core.config import Component, validate_component
from rlk.core.registry import default_registry
from rlk.core.types import DiscreteSpec
from rlk.core.wrappers import for_training
from rlk.plugins.envs.catalogue import GYMNAX_LEFT_OUT, GYMNAX_PARAMS, PGX_FIXED, PGX_GAMES, RLK_GO_VARIANTS

BATCH = 2


def as_plain(value):
    """A gymnax parameter as the catalogue writes it (arrays as tuples)."""
    return tuple(np.asarray(value).tolist()) if isinstance(value, (jax.Array, np.ndarray)) else value


def test_catalogue_lists_every_gymnax_env_with_its_default_params():
    assert set(GYMNAX_PARAMS) | set(GYMNAX_LEFT_OUT) == set(gymnax.registered_envs)
    assert not set(GYMNAX_PARAMS) & set(GYMNAX_LEFT_OUT)
    for env_id, params in GYMNAX_PARAMS.items():
        default = gymnax.make(env_id)[1]
        assert params == {f.name: as_plain(getattr(default, f.name)) for f in dataclasses.fields(default)}, env_id


def test_catalogue_lists_every_pgx_game_with_its_constructor_options():
    assert set(PGX_GAMES) == set(pgx.available_envs())
    for env_id, config in PGX_GAMES.items():
        signature = inspect.signature(type(pgx.make(env_id)).__init__).parameters.values()
        options = {p.name: p.default for p in signature if p.name != "self" and p.name not in PGX_FIXED.get(env_id, {})}
        fields = {} if config is None else {k: f.default for k, f in config.model_fields.items() if k not in RLK_GO_VARIANTS}
        assert fields == options, env_id


def random_action(spec, ts, key: jax.Array) -> jax.Array:
    """Uniform random actions for the batch, legal ones where the env gives a mask."""
    if not isinstance(spec.action, DiscreteSpec):
        return jax.random.uniform(key, (BATCH, *spec.action.shape), minval=spec.action.low, maxval=spec.action.high)
    if ts.legal_action_mask is None:
        return jax.random.randint(key, (BATCH,), 0, spec.action.num_values)
    return jax.random.categorical(key, jnp.where(ts.legal_action_mask, 0.0, -jnp.inf))


# A smoke test needs the program run, not fast: XLA's cheapest CPU compile (about 40% less compile time).
CHEAP_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


@pytest.mark.parametrize("name", [*GYMNAX_PARAMS, *PGX_GAMES])
def test_registered_env_resets_and_steps_in_a_batch(name):
    """The registered factory with its default config; ``vmap``ped ``reset`` and two ``step``s (as Anakin
    batches the adapter) in one compiled program, with legal random actions."""
    plugin = default_registry().get("env", name)
    env = plugin.factory(validate_component(Component(name=name), plugin.config, "env"))
    spec = env.spec

    def run(key):
        state, ts = jax.vmap(env.reset)(jax.random.split(key, BATCH))

        def body(carry, k):
            state, ts = carry
            ka, ks = jax.random.split(k)
            state, ts = jax.vmap(env.step)(state, random_action(spec, ts, ka), jax.random.split(ks, BATCH))
            return (state, ts), ts

        return jax.lax.scan(body, (state, ts), jax.random.split(key, 2))[1]

    key = jax.random.key(0)
    ts = jax.device_get(jax.jit(run).trace(key).lower().compile(CHEAP_COMPILE)(key))
    assert ts.observation.shape == (2, BATCH, *spec.observation.shape) and ts.observation.dtype == np.float32
    assert np.isfinite(ts.observation).all() and np.isfinite(ts.reward).all()
    for leaf, dtype in [(ts.reward, np.float32), (ts.discount, np.float32), (ts.last, np.bool_)]:
        assert leaf.shape == (2, BATCH) and leaf.dtype == dtype
    assert (ts.legal_action_mask is not None) == spec.has_legal_action_mask
    if spec.has_legal_action_mask:
        assert ts.legal_action_mask.shape == (2, BATCH, spec.action.num_values)
    assert (ts.current_player is not None) == (spec.num_players > 1)


def test_env_parameter_reaches_the_env():
    """``max_steps_in_episode=10`` truncates CartPole's random-policy episodes (about 22 steps) at 10."""
    plugin = default_registry().get("env", "CartPole-v1")
    config = validate_component(Component(name="CartPole-v1", max_steps_in_episode=10), plugin.config, "env")
    env = for_training(plugin.factory(config))
    assert env.spec.max_episode_steps == 10

    def run(key):
        state, ts = jax.vmap(env.reset)(jax.random.split(key, 16))

        def body(state, k):
            ka, ks = jax.random.split(k)
            action = jax.random.randint(ka, (16,), 0, 2)
            state, ts = jax.vmap(env.step)(state, action, jax.random.split(ks, 16))
            return state, ts

        return jax.lax.scan(body, state, jax.random.split(key, 60))[1]

    ts = jax.device_get(jax.jit(run)(jax.random.key(0)))
    lengths = ts.info["episode_length"][ts.last]
    assert lengths.size > 16 and lengths.max() == 10 and (lengths == 10).mean() > 0.5
    truncated = ts.last & (ts.info["episode_length"] == 10)
    assert (ts.discount[truncated] == 1.0).mean() > 0.5  # mostly the time limit (discount 1), not a fall


def test_env_parameter_override_through_the_cli(cli, tmp_path):
    """``-o env.max_steps_in_episode=...`` is validated and saved with the run; a wrong field or type is one line."""
    bad = cli("train", "--env", "CartPole-v1", "-o", "env.max_step_in_episode=10", "--run-dir", str(tmp_path / "a"),
              check=False, timeout=120)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert [l for l in bad.stderr.splitlines() if l.strip()] == [l for l in bad.stderr.splitlines() if "env.max_step_in_episode" in l]
    wrong = cli("train", "--env", "CartPole-v1", "-o", "env.max_steps_in_episode=ten", "--run-dir", str(tmp_path / "b"),
                check=False, timeout=120)
    assert wrong.returncode != 0 and "env.max_steps_in_episode" in wrong.stderr and "Traceback" not in wrong.stderr
    run_dir = tmp_path / "run"
    cli("train", "--env", "CartPole-v1", "--steps", "2048", "-o", "log_every_steps=2048", "-o", "env.max_steps_in_episode=7",
        "-o", "env.gravity=12.0", "--run-dir", str(run_dir), "-o", "eval_episodes=4", timeout=600)
    saved = json.loads((run_dir / "config.json").read_text())["env"]
    assert saved["max_steps_in_episode"] == 7 and saved["gravity"] == 12.0 and saved["masscart"] == 1.0
    # Random-policy CartPole episodes last about 22 steps; the limit cuts training and greedy episodes at 7.
    returns = [float(r["episode_return"]) for r in csv.DictReader((run_dir / "metrics.csv").open())]
    assert returns and max(returns) <= 7.0
    assert json.loads((run_dir / "summary.json").read_text())["final_return"] <= 7.0
