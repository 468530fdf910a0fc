"""The plugin registry: guarded loading, broken plugins, duplicates, plugin selection, lookups.

Unit tests drive ``Registry.load_module`` with fake plugin modules; the last two tests run the real
CLI with a broken third-party package (a fake dist-info on ``PYTHONPATH``) beside the built-ins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from rlk.core.errors import RlkError
from rlk.core.hookspecs import hookimpl
from rlk.core.registry import Registry


def fake_module(name: str, **hooks) -> types.ModuleType:
    """A plugin module whose attributes are the given ``@hookimpl`` functions."""
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, fn)
    return module


def registering(kind_hook: str, *names: str):
    """A hookimpl registering each of ``names`` (factory: a dummy class)."""

    def hook(register):
        for n in names:
            register(n, lambda config=None: None, description=f"{n} from a fake plugin")

    hook.__name__ = kind_hook
    return hookimpl(hook)


def load(reg: Registry, ep_name: str, module_or_exc, package: str = "pkg", version: str = "1.0") -> None:
    def loader():
        if isinstance(module_or_exc, BaseException):
            raise module_or_exc
        return module_or_exc

    reg.load_module(ep_name, loader, package, version)


# -- guarded loading --------------------------------------------------------------------------------
def test_a_module_whose_import_raises_is_broken_and_the_others_still_load():
    reg = Registry()
    load(reg, "first", fake_module("first", rlk_register_envs=registering("rlk_register_envs", "env-a")), "pkg-a")
    load(reg, "bad", ImportError("No module named 'missing_lib'"), "pkg-bad", "0.3")
    load(reg, "last", fake_module("last", rlk_register_losses=registering("rlk_register_losses", "aux")), "pkg-c")

    assert reg.names("env") == ["env-a"] and reg.names("loss") == ["aux"]
    assert len(reg.broken) == 1
    b = reg.broken[0]
    assert (b.kind, b.name, b.package, b.version) == ("plugin", "bad", "pkg-bad", "0.3")
    assert b.error == "ImportError: No module named 'missing_lib'"
    rows = {r["name"]: r for r in reg.rows()}
    assert rows["bad"]["status"] == "broken" and "missing_lib" in rows["bad"]["error"]
    assert rows["env-a"]["status"] == "ok" and rows["env-a"]["package"] == "pkg-a"


def test_any_exception_at_import_is_contained():
    reg = Registry()
    load(reg, "zero", ZeroDivisionError("division by zero"))
    load(reg, "ok", fake_module("ok", rlk_register_envs=registering("rlk_register_envs", "fine")))
    assert reg.names("env") == ["fine"]
    assert reg.broken[0].error == "ZeroDivisionError: division by zero"


def test_a_hook_that_raises_is_broken_and_the_module_s_other_hooks_still_register():
    @hookimpl
    def rlk_register_envs(register):
        raise RuntimeError("env hook exploded")

    module = fake_module("half", rlk_register_envs=rlk_register_envs,
                         rlk_register_losses=registering("rlk_register_losses", "good_loss"))
    reg = Registry()
    load(reg, "half", module, "pkg-half")
    assert reg.names("loss") == ["good_loss"]
    assert reg.names("env") == []
    assert [(b.kind, b.name, b.package, b.error) for b in reg.broken] == [
        ("env", "half", "pkg-half", "RuntimeError: env hook exploded")
    ]


def test_a_hook_with_a_wrong_signature_is_broken_not_a_crash():
    """pluggy rejects a hookimpl whose arguments the spec lacks; that must not stop other plugins."""

    @hookimpl
    def rlk_register_envs(reg):  # should be `register`
        reg("never", object)

    reg = Registry()
    load(reg, "typo", fake_module("typo", rlk_register_envs=rlk_register_envs), "pkg-typo")
    load(reg, "ok", fake_module("ok", rlk_register_envs=registering("rlk_register_envs", "fine")))
    assert reg.names("env") == ["fine"]
    assert [(b.name, b.package) for b in reg.broken] == [("typo", "pkg-typo")]
    assert "reg" in reg.broken[0].error


def test_an_entry_point_name_taken_by_another_package_is_broken_not_a_crash():
    """Two packages may both name their entry point ``envs``; the second is reported, not fatal."""
    reg = Registry()
    load(reg, "envs", fake_module("builtin_envs", rlk_register_envs=registering("rlk_register_envs", "catch")), "rlk")
    load(reg, "envs", fake_module("their_envs", rlk_register_envs=registering("rlk_register_envs", "theirs")), "their-pkg")
    assert "catch" in reg.names("env")
    assert "theirs" in reg.names("env") or any(b.package == "their-pkg" for b in reg.broken)


# -- duplicates and lookups -------------------------------------------------------------------------
def test_a_duplicate_name_is_rejected_naming_both_packages():
    reg = Registry()
    load(reg, "one", fake_module("one", rlk_register_envs=registering("rlk_register_envs", "dup", "only-one")), "pkg-one")
    load(reg, "two", fake_module("two", rlk_register_envs=registering("rlk_register_envs", "dup")), "pkg-two")
    assert reg.get("env", "dup").package == "pkg-one"  # the first registration is kept
    assert reg.names("env") == ["dup", "only-one"]
    (b,) = reg.broken
    assert (b.kind, b.name, b.package) == ("env", "dup", "pkg-two")
    assert "duplicate" in b.error and "'pkg-one'" in b.error and "'pkg-two'" in b.error


def test_the_same_name_in_different_kinds_is_not_a_duplicate():
    reg = Registry()
    load(reg, "both", fake_module("both", rlk_register_envs=registering("rlk_register_envs", "same"),
                                  rlk_register_losses=registering("rlk_register_losses", "same")))
    assert reg.get("env", "same").kind == "env" and reg.get("loss", "same").kind == "loss"
    assert reg.broken == []


def test_get_of_an_unknown_name_lists_the_few_known_ones():
    reg = Registry()
    load(reg, "m", fake_module("m", rlk_register_envs=registering("rlk_register_envs", "beta", "alpha")))
    with pytest.raises(RlkError, match=r"unknown env 'gamma' \(known: alpha, beta\)"):
        reg.get("env", "gamma")
    with pytest.raises(RlkError, match=r"unknown agent 'ppo' \(known: none\)"):
        reg.get("agent", "ppo")


def test_get_of_a_misspelled_name_suggests_the_close_ones_not_the_whole_list():
    reg = Registry()
    names = ["catch", "CartPole-v1", "go_9x9", "minatar-breakout"] + [f"game-{i}" for i in range(20)]
    load(reg, "m", fake_module("m", rlk_register_envs=registering("rlk_register_envs", *names)))
    with pytest.raises(RlkError, match=r"^unknown env 'catc'; did you mean 'catch'\?$"):
        reg.get("env", "catc")
    with pytest.raises(RlkError, match=r"^unknown env 'cartpole-v1'; did you mean 'CartPole-v1'\?$"):
        reg.get("env", "cartpole-v1")
    with pytest.raises(RlkError, match=r"^unknown env 'zzz' \(24 known; `rlk list-plugins` lists them\)$"):
        reg.get("env", "zzz")


# -- isolation: what a plugin registers or raises never ends rlk --------------------------------------
@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
def test_a_base_exception_at_import_or_in_a_hook_is_broken_not_fatal(exc):
    @hookimpl
    def rlk_register_envs(register):
        raise exc

    reg = Registry()
    load(reg, "at_import", exc, "pkg-a")
    load(reg, "in_hook", fake_module("in_hook", rlk_register_envs=rlk_register_envs), "pkg-b")
    load(reg, "ok", fake_module("ok", rlk_register_envs=registering("rlk_register_envs", "fine")))
    assert reg.names("env") == ["fine"]
    assert [(b.kind, b.name, b.package) for b in reg.broken] == [("plugin", "at_import", "pkg-a"), ("env", "in_hook", "pkg-b")]
    assert reg.broken[0].error.startswith(type(exc).__name__)


@pytest.mark.parametrize("kwargs, error", [
    (dict(config=dict), "env 'bad': config <class 'dict'> is not a pydantic model class"),
    (dict(config=object()), "is not a pydantic model class"),
    (dict(factory="not callable"), "env 'bad': factory 'not callable' is not callable"),
    (dict(name=3), "env name must be a non-empty string, not 3"),
])
def test_a_bad_registration_is_broken_with_its_reason(kwargs, error):
    @hookimpl
    def rlk_register_envs(register):
        args = {"name": "bad", "factory": lambda config: object(), **kwargs}
        register(args.pop("name"), args.pop("factory"), **args)

    reg = Registry()
    load(reg, "bad_ep", fake_module("bad_ep", rlk_register_envs=rlk_register_envs), "pkg-bad")
    assert reg.names("env") == []
    (b,) = reg.broken
    assert error in b.error and b.package == "pkg-bad"


def test_a_factory_that_raises_or_returns_none_names_the_plugin_and_package():
    @hookimpl
    def rlk_register_envs(register):
        register("raises", lambda config: {}["missing"])
        register("none", lambda config: None)
        register("user-error", lambda config: (_ for _ in ()).throw(RlkError("env 'user-error': width must be odd")))

    reg = Registry()
    load(reg, "f", fake_module("f", rlk_register_envs=rlk_register_envs), "pkg-f")
    with pytest.raises(RlkError, match=r"^env 'raises' \(package 'pkg-f'\) failed to build: KeyError: 'missing'$"):
        reg.get("env", "raises").factory(None)
    with pytest.raises(RlkError, match=r"^env 'none' \(package 'pkg-f'\): its factory returned None$"):
        reg.get("env", "none").factory(None)
    with pytest.raises(RlkError, match=r"^env 'user-error': width must be odd$"):  # already names the culprit
        reg.get("env", "user-error").factory(None)


def commands_app():
    import typer

    app = typer.Typer()

    @app.command()
    def train():
        """the built-in"""

    return app


def test_a_plugin_command_never_replaces_a_built_in_and_a_failed_hook_adds_nothing():
    @hookimpl
    def rlk_register_commands(app):
        @app.command("extra")
        def extra():
            """kept? no: the same hook also clashes"""

        @app.command("train")
        def train():
            """hijack"""

    @hookimpl(specname="rlk_register_commands")
    def exits(app):
        @app.command("half")
        def half():
            """added before the hook exits"""

        raise SystemExit(0)

    @hookimpl(specname="rlk_register_commands")
    def fine(app):
        @app.command("report")
        def report():
            """a plugin's own command"""

    reg = Registry()
    load(reg, "clash", fake_module("clash", rlk_register_commands=rlk_register_commands), "pkg-clash", "1.2")
    load(reg, "exits", fake_module("exits", exits=exits), "pkg-exit")
    load(reg, "fine", fake_module("fine", fine=fine), "pkg-fine")
    app = commands_app()
    reg.call_commands(app)
    names = [(c.name or c.callback.__name__, c.callback.__doc__) for c in app.registered_commands]
    assert names == [("train", "the built-in"), ("report", "a plugin's own command")]
    broken = {b.name: (b.kind, b.package, b.version, b.error) for b in reg.broken}
    assert broken == {"clash": ("command", "pkg-clash", "1.2", "command 'train' clashes with a built-in"),
                      "exits": ("command", "pkg-exit", "1.0", "SystemExit: 0")}


def test_two_player_flag_gates_two_player_envs():
    from rlk.core.types import DiscreteSpec, EnvSpec, ArraySpec

    @hookimpl
    def rlk_register_agents(register):
        register("solo", lambda *a: object())
        register("duo", lambda *a: object(), two_player=True)

    reg = Registry()
    load(reg, "a", fake_module("a", rlk_register_agents=rlk_register_agents))
    go = EnvSpec(name="go", observation=ArraySpec(shape=(3,)), action=DiscreteSpec(num_values=2), num_players=2)
    reg.get("agent", "duo").check_players(go)
    reg.get("agent", "solo").check_players(go.model_copy(update={"num_players": 1}))
    with pytest.raises(RlkError, match=r"^agent 'solo' does not play two-player games; env 'go' has 2 players"):
        reg.get("agent", "solo").check_players(go)


def test_get_of_a_broken_plugin_says_why():
    reg = Registry()
    load(reg, "gone", ImportError("needs libfoo"))
    with pytest.raises(RlkError, match=r"env 'gone' is broken: ImportError: needs libfoo"):
        reg.get("env", "gone")


def test_register_records_config_description_and_origin():
    from rlk.core.config import PluginConfig

    class Cfg(PluginConfig):
        size: int = 3

    def factory(config):
        """First docstring line.

        More."""

    @hookimpl
    def rlk_register_envs(register):
        register("with-doc", factory, config=Cfg)
        register("with-desc", factory, description="given")

    reg = Registry()
    load(reg, "ep", fake_module("ep", rlk_register_envs=rlk_register_envs), "pkg-x", "2.1")
    p = reg.get("env", "with-doc")
    assert (p.config, p.description, p.package, p.version, p.entry_point) == (Cfg, "First docstring line.", "pkg-x", "2.1", "ep")
    assert reg.get("env", "with-desc").description == "given"


# -- choosing entry points --------------------------------------------------------------------------
@pytest.fixture
def no_selection(monkeypatch):
    monkeypatch.delenv("RLK_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("RLK_DISABLE_PLUGINS", raising=False)
    return monkeypatch


def test_all_built_in_entry_points_load_by_default(no_selection):
    reg = Registry().load_entry_points()
    assert {"ppo", "vtrace"} <= set(reg.names("agent"))
    assert "catch" in reg.names("env") and "cpu" in reg.names("backend")
    assert reg.get("agent", "ppo").package == "rlk"


def test_rlk_disable_plugins_skips_entry_points(no_selection):
    no_selection.setenv("RLK_DISABLE_PLUGINS", "actor_critic")
    reg = Registry().load_entry_points()
    assert "ppo" not in reg.names("agent")
    assert not {"ppo_policy", "entropy", "value"} & set(reg.names("loss"))
    assert "catch" in reg.names("env") and "cpu" in reg.names("backend")


def test_rlk_load_plugins_loads_only_those_named(no_selection):
    no_selection.setenv("RLK_LOAD_PLUGINS", " envs , actor_critic ")
    reg = Registry().load_entry_points()
    assert "catch" in reg.names("env") and "ppo" in reg.names("agent")
    assert reg.names("backend") == [] and reg.names("architecture") == []


def test_rlk_disable_plugins_wins_over_rlk_load_plugins(no_selection):
    no_selection.setenv("RLK_LOAD_PLUGINS", "envs,actor_critic")
    no_selection.setenv("RLK_DISABLE_PLUGINS", "actor_critic")
    reg = Registry().load_entry_points()
    assert "catch" in reg.names("env") and reg.names("agent") == []


# -- the CLI with a broken third-party package installed --------------------------------------------
@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    """A folder holding a fake installed package whose plugin module fails to import."""
    site = tmp_path_factory.mktemp("broken_site")
    info = site / "broken_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken_pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[rlk]\nbroken = broken_plugin_mod\n")
    (site / "broken_plugin_mod.py").write_text('raise ImportError("broken_plugin_mod needs libnotthere")\n')
    return site


def run_cli(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RLK_LOAD_PLUGINS", "RLK_DISABLE_PLUGINS")}
    env["PYTHONPATH"] = os.pathsep.join([str(site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["JAX_PLATFORMS"] = "cpu"
    return subprocess.run([sys.executable, "-m", "rlk.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=180)


def test_cli_lists_a_broken_third_party_plugin_beside_working_built_ins(broken_site, tmp_path):
    proc = run_cli(broken_site, "list-plugins", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    broken = [r for r in rows if r["status"] == "broken"]
    assert [(r["name"], r["kind"], r["package"], r["version"]) for r in broken] == [("broken", "plugin", "broken_pkg", "0.1")]
    assert broken[0]["error"] == "ImportError: broken_plugin_mod needs libnotthere"
    ok = {(r["kind"], r["name"]) for r in rows if r["status"] == "ok"}
    assert {("agent", "ppo"), ("env", "catch"), ("backend", "cpu"), ("architecture", "anakin")} <= ok
    assert all(r["package"] == "rlk" for r in rows if r["status"] == "ok")


def test_cli_trains_with_a_broken_third_party_plugin_present(broken_site, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(broken_site, "train", "--steps", "5000", "-q", "--run-dir", str(run_dir), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["agent"], summary["env"]) == ("ppo", "catch")
    assert "Traceback" not in proc.stderr
