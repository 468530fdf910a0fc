"""RunConfig: overrides, YAML and validation errors that name the field."""

import pytest

from rlk.core.config import Component, apply_override, build_run_config, load_yaml, parse_value, validate_component
from rlk.core.errors import RlkError
from rlk.plugins.actor_critic.ppo import PPOConfig


def test_parse_value_types():
    assert parse_value("3e-4") == pytest.approx(3e-4)
    assert parse_value("64") == 64 and isinstance(parse_value("64"), int)
    assert parse_value("true") is True
    assert parse_value("[32, 32]") == [32, 32]
    assert parse_value("relu") == "relu"


def test_override_nested_and_validated():
    data = {}
    apply_override(data, "agent.learning_rate=1e-3")
    apply_override(data, "steps=1000")
    cfg = build_run_config(data)
    assert cfg.steps == 1000 and cfg.agent.name == "ppo"
    agent = validate_component(cfg.agent, PPOConfig, "agent")
    assert isinstance(agent, PPOConfig)  # the typed config, validated once
    assert agent.learning_rate == pytest.approx(1e-3)
    assert agent.num_envs == PPOConfig().num_envs  # defaults filled in


@pytest.mark.parametrize(
    "override, culprit",
    [("agent.learning_rate=abc", "agent.learning_rate"), ("agent.learning_rate=-1", "agent.learning_rate"),
     ("agent.no_such_field=1", "agent.no_such_field")],
)
def test_bad_component_override_names_field(override, culprit):
    data = {}
    apply_override(data, override)
    cfg = build_run_config(data)
    with pytest.raises(RlkError, match=culprit.replace(".", r"\.")):
        validate_component(cfg.agent, PPOConfig, "agent")


def test_unknown_top_level_field_and_bad_steps():
    with pytest.raises(RlkError, match="unknown config field 'stepz'"):
        build_run_config({"stepz": 5})
    with pytest.raises(RlkError, match="steps"):
        build_run_config({"steps": 0})


def test_override_without_equals():
    with pytest.raises(RlkError, match="path.to.field=value"):
        apply_override({}, "agent.learning_rate")


def test_yaml_loading(tmp_path):
    good = tmp_path / "run.yaml"
    good.write_text("agent: {name: ppo, learning_rate: 0.001}\nsteps: 2000\n")
    cfg = build_run_config(load_yaml(good))
    assert cfg.steps == 2000 and cfg.agent.options() == {"learning_rate": 0.001}
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: [unclosed\n")
    with pytest.raises(RlkError, match="malformed YAML"):
        load_yaml(bad)
    with pytest.raises(RlkError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    assert isinstance(Component(name="x"), Component)


def test_config_file_that_is_a_directory_or_not_utf8(tmp_path):
    with pytest.raises(RlkError, match=r"is a directory, not a YAML file"):
        load_yaml(tmp_path)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("steps: 2000 # réglage\n".encode("latin-1"))
    with pytest.raises(RlkError, match=r"'.*latin1\.yaml' is not UTF-8 text \(byte 0xe9 at offset 15\)"):
        load_yaml(latin1)


@pytest.mark.parametrize("data, message", [
    ({"seed": 2**32}, r"^seed: Input should be less than 4294967296"),
    ({"seed": -1}, r"^seed: Input should be greater than or equal to 0"),
    ({"seed": 2**32 - 2, "num_seeds": 3}, r"^the last seed, seed \+ num_seeds - 1 = 4294967296, must be < 2\*\*32$"),
])
def test_seeds_beyond_32_bits_are_refused(data, message):
    """jax.random.key keeps a seed's low 32 bits: 2**32 + 5 would silently be seed 5."""
    with pytest.raises(RlkError, match=message):
        build_run_config(data)
    assert build_run_config({"seed": 2**32 - 2, "num_seeds": 2}).seed == 2**32 - 2


@pytest.mark.parametrize("sizes, culprit", [([0], r"agent\.hidden_sizes\.0: Input should be greater than 0 \(got 0\)"),
                                            ([64, -3], r"agent\.hidden_sizes\.1: .* \(got -3\)")])
def test_hidden_sizes_must_be_positive(sizes, culprit):
    with pytest.raises(RlkError, match=culprit):
        validate_component(Component(name="ppo", hidden_sizes=sizes), PPOConfig, "agent")
    assert validate_component(Component(name="ppo", hidden_sizes=[]), PPOConfig, "agent").hidden_sizes == ()
