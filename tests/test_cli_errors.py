"""Bad input: one line naming the culprit, non-zero exit, no traceback (the real CLI, in a subprocess)."""

import pytest

CASES = [
    ("unknown-agent", ["train", "--agent", "nope"], "agent 'nope'", "ppo"),
    ("unknown-env", ["train", "--env", "nope"], "env 'nope'", "rlk list-plugins"),
    ("unknown-backend", ["train", "--backend", "nope"], "backend 'nope'", "cpu"),
    ("wrong-type-override", ["train", "-o", "agent.learning_rate=abc"], "agent.learning_rate", None),
    ("out-of-range-override", ["train", "-o", "agent.num_envs=-3"], "agent.num_envs", None),
    ("unknown-field", ["train", "-o", "agent.lerning_rate=0.1"], "agent.lerning_rate", None),
    ("unknown-top-field", ["train", "-o", "stepz=10"], "stepz", None),
    ("bad-steps", ["train", "--steps", "0"], "steps", None),
    ("tpu-missing", ["train", "--backend", "tpu", "--steps", "10"], "tpu", None),
    ("gpu-missing", ["train", "--backend", "gpu", "--steps", "10"], "gpu", None),
]


def _assert_clean(proc, culprit, also=None):
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "Traceback" not in text, text
    assert culprit in text, text
    if also:
        assert also in text, text
    assert len([l for l in proc.stderr.splitlines() if l.strip()]) == 1, proc.stderr


@pytest.mark.parametrize("name, args, culprit, also", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clean_line(cli, tmp_path, name, args, culprit, also):
    proc = cli(*args, "--run-dir", str(tmp_path / "run"), check=False, timeout=120)
    _assert_clean(proc, culprit, also)
    assert not (tmp_path / "run" / "metrics.csv").exists()  # failed before training


BENCH_CASES = [
    ("tpu-missing", ["bench", "--backend", "tpu"], "backend 'tpu'"),
    ("gpu-missing-sebulba", ["bench", "--backend", "gpu", "--envs", "", "--sebulba", "atari-breakout"], "backend 'gpu'"),
    ("unknown-platform", ["bench", "--backend", "xpu"], "--backend"),
]


@pytest.mark.parametrize("name, args, culprit", BENCH_CASES, ids=[c[0] for c in BENCH_CASES])
def test_bench_bad_platform_is_one_clean_line_before_anything_runs(cli, name, args, culprit):
    proc = cli(*args, check=False, timeout=120)
    _assert_clean(proc, culprit)
    assert "[rlk bench]" not in proc.stderr  # nothing was built or compiled


def test_malformed_yaml(cli, tmp_path):
    bad = tmp_path / "run.yaml"
    bad.write_text("agent: {name: ppo\nsteps: [\n")
    _assert_clean(cli("train", "--config", str(bad), check=False), "run.yaml")


def test_resume_missing_and_empty_folder(cli, tmp_path):
    _assert_clean(cli("train", "--resume", str(tmp_path / "missing"), check=False), "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    _assert_clean(cli("train", "--resume", str(empty), check=False), "no checkpoint")


def test_show_config_lists_fields(cli):
    proc = cli("show-config", "--agent", "ppo")
    for field in ("learning_rate", "clip_eps", "num_envs", "gae_lambda"):
        assert field in proc.stdout
    _assert_clean(cli("show-config", "--agent", "nope", check=False), "nope")
