"""Bad inputs caught before anything compiles: one line naming the culprit, exit 2, nothing trained.

Each case runs the real CLI in a subprocess and fails at validation or when the run is built (no
compile), so each takes a few seconds.
"""

from __future__ import annotations

import pytest

CASES = [  # (id, args, the whole line printed on stderr)
    ("misspelled-env", ["train", "--env", "catc"], "error: unknown env 'catc'; did you mean 'catch'?"),
    ("misspelled-agent", ["train", "--agent", "muzer"], "error: unknown agent 'muzer'; did you mean 'muzero'?"),
    ("misspelled-backend", ["train", "--backend", "cpo"], "error: unknown backend 'cpo'; did you mean 'cpu'?"),
    ("misspelled-loss", ["train", "-o", "agent.loss_weights.entropi=0.1"], None),
    ("seed-2**32", ["train", "--seed", str(2**32)], "error: seed: Input should be less than 4294967296 (got 4294967296)"),
    ("seed-negative", ["train", "--seed", "-1"], "error: seed: Input should be greater than or equal to 0 (got -1)"),
    ("last-seed-2**32", ["train", "--seed", str(2**32 - 1), "--num-seeds", "2"],
     "error: the last seed, seed + num_seeds - 1 = 4294967296, must be < 2**32"),
    ("hidden-zero", ["train", "-o", "agent.hidden_sizes=[0]"], "error: agent.hidden_sizes.0: Input should be greater than 0 (got 0)"),
    ("hidden-negative", ["train", "--agent", "muzero", "-o", "agent.hidden_sizes=[64,-1]"],
     "error: agent.hidden_sizes.1: Input should be greater than 0 (got -1)"),
    ("ppo-on-go", ["train", "--env", "go_9x9"],
     "error: agent 'ppo' does not play two-player games; env 'go_9x9' has 2 players "
     "(use an agent registered with two_player=True, e.g. muzero)"),
]


def _one_line(proc) -> str:
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, proc.stdout + proc.stderr)
    return lines[0]


@pytest.mark.parametrize("name, args, line", CASES, ids=[c[0] for c in CASES])
def test_bad_train_input_is_one_line_before_compiling(cli, tmp_path, name, args, line):
    proc = cli(*args, "--steps", "1000", "--run-dir", str(tmp_path / "run"), check=False, timeout=180)
    printed = _one_line(proc)
    if line is None:  # a loss: its message lists the agent's loss options, so only its start is fixed
        assert printed.startswith("error: unknown loss 'entropi'; did you mean 'entropy'?"), printed
    else:
        assert printed == line
    assert not (tmp_path / "run").exists()


def test_config_file_that_is_a_directory_or_not_utf8(cli, tmp_path):
    assert _one_line(cli("train", "--config", str(tmp_path), check=False)) == \
        f"error: config file '{tmp_path}' is a directory, not a YAML file"
    latin1 = tmp_path / "run.yaml"
    latin1.write_bytes(b"steps: 1000 # \xe9\n")
    assert _one_line(cli("train", "--config", str(latin1), check=False)) == \
        f"error: config file '{latin1}' is not UTF-8 text (byte 0xe9 at offset 14)"


def test_batches_that_cannot_fit_in_memory_are_refused(cli, tmp_path):
    line = _one_line(cli("train", "-o", "agent.num_envs=100000000", "--run-dir", str(tmp_path / "a"), check=False))
    assert line.startswith("error: agent.num_envs=100000000 x unroll 17 x num_seeds=1 observations of 10x5 float32 "
                           "need at least 316.6 GiB, but cpu has ") and line.endswith(" GiB available; lower them")
    line = _one_line(cli("train", "-o", "eval_episodes=2000000000", "--run-dir", str(tmp_path / "b"), check=False))
    assert line.startswith("error: eval_episodes=2000000000 x num_seeds=1 observations of 10x5 float32 need at least 372.5 GiB")


@pytest.mark.parametrize("args, line", [
    (["--devices", "x"], "error: bench: --devices takes comma-separated whole numbers (e.g. 1,2,4), not 'x'"),
    (["--quick", "--seeds", "1,y"], "error: bench: --seeds takes comma-separated whole numbers (e.g. 1,2,4), not '1,y'"),
    (["--quick", "--envs", "atari-breakout"], "error: bench: env 'atari-breakout' is a host environment; Anakin rows "
                                              "need a JAX env (time it with --envs '' --sebulba atari-breakout)"),
], ids=["devices-x", "seeds-y", "host-env"])
def test_bench_bad_arguments(cli, args, line):
    proc = cli("bench", *args, check=False, timeout=180)
    assert _one_line(proc) == line
    assert "[rlk bench]" not in proc.stderr  # nothing was built or timed


def test_sweep_checks_every_value_before_training_any(cli, tmp_path):
    out = tmp_path / "sweep"
    proc = cli("sweep", "agent.learning_rate=1e-3,abc", "--steps", "1000", "--out", str(out), check=False)
    assert _one_line(proc) == ("error: sweep point agent.learning_rate=abc: agent.learning_rate: Input should be a "
                               "valid number, unable to parse string as a number (got 'abc')")
    assert not out.exists()  # the good first value did not train


def test_unreachable_coordinator_is_a_timeout_not_an_abort(cli, tmp_path):
    proc = cli("train", "--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "1",
               "-o", "backend.init_timeout_s=2", "--run-dir", str(tmp_path / "run"), check=False, timeout=120)
    assert _one_line(proc) == ("error: backend.coordinator: 127.0.0.1:1 unreachable after 2s (Connection refused); "
                               "start process 0 first, or check the address (backend.init_timeout_s sets the wait)")
