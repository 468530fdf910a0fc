"""A third-party plugin package end to end: install ``examples/rlk-example-plugin``, then use the real CLI.

The package is installed into a temporary folder (``pip install --target``), never into the
environment running the tests, and put on ``PYTHONPATH`` of CLI subprocesses only. Nothing is
downloaded: pip runs with ``--no-index --no-deps --no-build-isolation`` and builds with the
setuptools of the test environment (the ``test`` extra asks for one that builds wheels by itself).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "examples" / "rlk-example-plugin"
DIST = "rlk-example-plugin"


# -- installing the package, offline and into a folder of its own ---------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example package installed into a temporary ``site`` folder."""
    tmp = tmp_path_factory.mktemp("third_party")
    src = tmp / "src"  # build from a copy: in-tree builds would leave build/ and egg-info behind
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = src
    site = tmp / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
           "--no-cache-dir", "--disable-pip-version-check", "--target", str(site), str(target)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(site.glob("rlk_example_plugin-0.1.0.dist-info/entry_points.txt"))
    return site


def cli(site: Path, *args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m rlk.cli ARGS`` with the example package on PYTHONPATH, on the CPU."""
    env = {k: v for k, v in os.environ.items() if k not in ("RLK_LOAD_PLUGINS", "RLK_DISABLE_PLUGINS", "XLA_FLAGS")}
    env["PYTHONPATH"] = os.pathsep.join([str(site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-m", "rlk.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, f"rlk {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


# -- the tests --------------------------------------------------------------------------------------
def test_list_plugins_shows_the_third_party_plugins(site, tmp_path):
    rows = json.loads(cli(site, "list-plugins", "--json", cwd=tmp_path).stdout)
    by_key = {(r["kind"], r["name"]): r for r in rows}
    for key in (("env", "example-chain"), ("loss", "example_entropy_target")):
        assert key in by_key, f"{key} not listed: {sorted(by_key)}"
        row = by_key[key]
        assert (row["package"], row["version"], row["status"]) == (DIST, "0.1.0", "ok"), row
    assert by_key[("env", "catch")]["package"] == "rlk"
    assert not [r for r in rows if r["status"] != "ok"], rows


def test_show_config_lists_the_plugin_config(site, tmp_path):
    text = cli(site, "show-config", "--env", "example-chain", cwd=tmp_path).stdout
    assert "length" in text and "max_steps" in text


def example_module(site: Path, name: str):
    """A module of the installed example package, imported from ``site`` (then off ``sys.path``)."""
    sys.path.insert(0, str(site))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(site))


def test_chain_terminates_at_the_goal_and_truncates_at_the_time_limit(site):
    """The TimeStep convention: termination sets discount 0, truncation keeps 1, ``last`` on both."""
    chain = example_module(site, "rlk_example_plugin.chain")
    env = chain.Chain()

    @jax.jit
    def play(action):
        state, first = env.reset(jax.random.key(0))
        body = lambda s, _: env.step(s, action, jax.random.key(1))
        return first, jax.lax.scan(body, state, None, length=env.spec.max_episode_steps)[1]

    first, right = jax.device_get(play(jnp.int32(1)))
    assert (float(first.reward), float(first.discount), bool(first.last)) == (0.0, 1.0, False)
    assert first.observation.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert right.last.tolist()[:4] == [False, False, False, True]  # 4 steps right from 0 reach 4
    assert (float(right.reward[3]), float(right.discount[3])) == (1.0, 0.0)
    assert right.reward[:3].tolist() == [0.0, 0.0, 0.0]
    _, left = jax.device_get(play(jnp.int32(0)))
    assert left.last.tolist() == [False] * 19 + [True]  # truncated after max_steps = 20
    assert (float(left.reward.sum()), float(left.discount.min())) == (0.0, 1.0)


def test_entropy_target_loss_value_and_gradient(site):
    module = example_module(site, "rlk_example_plugin.losses")
    from rlk.core.losses import PolicyInputs

    loss = module.make_entropy_target(module.EntropyTargetConfig(target=0.5))
    entropy = jnp.array([0.1, 0.9, 0.5, 1.5])
    inputs = lambda h: PolicyInputs(jnp.zeros(4), h, jnp.zeros(4), jnp.zeros(4))
    value, metrics = loss.apply(None, inputs(entropy), None)
    assert float(value) == pytest.approx(0.5 * (0.16 + 0.16 + 0.0 + 1.0) / 4)
    assert float(metrics["mean_entropy"]) == pytest.approx(0.75)
    grad = jax.grad(lambda h: loss.apply(None, inputs(h), None)[0])(entropy)
    assert jnp.allclose(grad, (entropy - 0.5) / 4)


def random_policy_return(site: Path, episodes: int = 200) -> float:
    """Mean undiscounted return of uniformly random actions on example-chain, episodes to their end."""
    env = example_module(site, "rlk_example_plugin.chain").Chain()
    steps = env.spec.max_episode_steps

    def episode(key):
        state, _ = env.reset(key)

        def body(carry, k):
            state, done, ret = carry
            action = jax.random.randint(k, (), 0, env.spec.action.num_values)
            state, ts = env.step(state, action, k)
            return (state, done | ts.last, ret + jnp.where(done, 0.0, ts.reward)), None

        (_, done, ret), _ = jax.lax.scan(body, (state, jnp.bool_(False), jnp.float32(0.0)), jax.random.split(key, steps))
        return ret, done

    returns, done = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.key(0), episodes))
    assert bool(done.all())  # every episode ends within max_steps (terminated or truncated)
    return float(returns.mean())


def test_train_on_the_third_party_env_beats_a_random_policy(site, tmp_path):
    random_return = random_policy_return(site)
    assert 0.3 < random_return < 0.9  # about 0.64: the goal is reachable by chance, not reliably
    run_dir = tmp_path / "chain"
    cli(site, "train", "--env", "example-chain", "--steps", "20000", "--run-dir", str(run_dir), "-q", cwd=tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env"] == "example-chain"
    # Greedy evaluation of a deterministic chain: 1.0 once "right" wins in every state.
    assert summary["final_return"] > random_return + 0.2, (summary["final_return"], random_return)


def test_third_party_loss_added_to_ppo(site, tmp_path):
    run_dir = tmp_path / "catch_l2"
    cli(site, "train", "--env", "catch", "-o", "agent.loss_weights.example_entropy_target=0.001",
        "-o", "losses.example_entropy_target.target=0.3", "--steps", "10000", "--run-dir", str(run_dir), "-q", cwd=tmp_path)
    saved = json.loads((run_dir / "config.json").read_text())
    # The override adds a term to PPO's losses; it does not replace them; its option lives under losses.
    assert saved["agent"]["loss_weights"] == {"ppo_policy": 1.0, "ppo_value": 0.5, "entropy": 0.01, "example_entropy_target": 0.001}
    assert saved["losses"]["example_entropy_target"] == {"target": 0.3}
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "example_entropy_target" in header and "example_entropy_target/mean_entropy" in header
    assert "ppo_policy" in header


# -- a hostile or careless third-party package cannot end or hijack rlk -----------------------------
EVIL_MODULES = {
    "evil_exit": "import sys\nsys.exit(0)\n",
    "evil_interrupt": ("from rlk.core.hookspecs import hookimpl\n\n@hookimpl\ndef rlk_register_envs(register):\n"
                       "    raise KeyboardInterrupt\n"),
    "evil_clash": ("import typer\nfrom rlk.core.hookspecs import hookimpl\n\n@hookimpl\ndef rlk_register_commands(app):\n"
                   "    @app.command('train')\n    def train():\n        print('hijacked')\n"),
    "evil_config": ("from rlk.core.hookspecs import hookimpl\n\n@hookimpl\ndef rlk_register_envs(register):\n"
                    "    register('dict-config-env', lambda config: None, config=dict)\n"),
    "evil_factories": (
        "from rlk.core.hookspecs import hookimpl\n\n"
        "def boom(config):\n    raise ValueError('the boom env is missing its map')\n\n"
        "@hookimpl\ndef rlk_register_envs(register):\n"
        "    register('boom-env', boom)\n    register('none-env', lambda config: None)\n"),
}


@pytest.fixture(scope="module")
def evil_site(tmp_path_factory) -> Path:
    """A fake installed package ``evil_pkg`` whose entry points misbehave, each in its own way."""
    site = tmp_path_factory.mktemp("evil_site")
    info = site / "evil_pkg-6.6.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evil_pkg\nVersion: 6.6\n")
    (info / "entry_points.txt").write_text("[rlk]\n" + "".join(f"{m} = {m}\n" for m in EVIL_MODULES))
    for module, text in EVIL_MODULES.items():
        (site / f"{module}.py").write_text(text)
    return site


def evil_cli(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RLK_LOAD_PLUGINS", "RLK_DISABLE_PLUGINS", "XLA_FLAGS")}
    env["PYTHONPATH"] = os.pathsep.join([str(site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["JAX_PLATFORMS"] = "cpu"
    return subprocess.run([sys.executable, "-m", "rlk.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=180)


def test_misbehaving_plugins_are_listed_broken_with_their_reasons(evil_site, tmp_path):
    proc = evil_cli(evil_site, "list-plugins", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(proc.stdout)
    broken = {r["name"]: r for r in rows if r["status"] == "broken"}
    assert all(r["package"] == "evil_pkg" and r["version"] == "6.6" for r in broken.values()), broken
    assert broken["evil_exit"]["error"] == "SystemExit: 0"
    assert (broken["evil_interrupt"]["kind"], broken["evil_interrupt"]["error"]) == ("env", "KeyboardInterrupt")
    assert broken["evil_clash"]["error"] == "command 'train' clashes with a built-in"
    assert broken["dict-config-env"]["error"] == "env 'dict-config-env': config <class 'dict'> is not a pydantic model class"
    assert set(broken) == {"evil_exit", "evil_interrupt", "evil_clash", "dict-config-env"}
    ok = {(r["kind"], r["name"]) for r in rows if r["status"] == "ok"}
    assert {("env", "boom-env"), ("env", "none-env"), ("agent", "ppo"), ("env", "catch")} <= ok


def test_a_failing_factory_is_one_line_naming_the_plugin_and_its_package(evil_site, tmp_path):
    for env_name, line in (
        ("boom-env", "error: env 'boom-env' (package 'evil_pkg') failed to build: ValueError: the boom env is missing its map"),
        ("none-env", "error: env 'none-env' (package 'evil_pkg'): its factory returned None"),
    ):
        proc = evil_cli(evil_site, "train", "--env", env_name, "--run-dir", str(tmp_path / env_name), cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stderr.strip() == line
        assert not (tmp_path / env_name / "metrics.csv").exists()


def test_rlk_train_is_the_built_in_one_beside_misbehaving_plugins(evil_site, tmp_path):
    run_dir = tmp_path / "run"
    proc = evil_cli(evil_site, "train", "--steps", "2048", "-q", "--run-dir", str(run_dir), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "hijacked" not in proc.stdout and "Traceback" not in proc.stderr
    assert json.loads((run_dir / "summary.json").read_text())["env_steps"] >= 2048
