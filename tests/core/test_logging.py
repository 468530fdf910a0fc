import math

import pytest

from rlk.core.errors import RlkError
from rlk.core.logging import Loggers, RunInfo, columns, scalars, tag

INFO = RunInfo(config={"losses": {"ppo_policy": {}, "entropy": {}}}, metadata={}, axis="env_steps",
               counters=("step", "seed", "env_steps"), first_columns=("step", "env_steps", "seed"))


def test_tags_are_grouped_and_no_tag_is_a_folder_of_another():
    losses = INFO.config["losses"]
    keys = ["loss", "ppo_policy", "ppo_policy/approx_kl", "entropy", "value_loss", "eval_return", "steps_per_s",
            "episode_return", "grad_norm"]
    tags = [tag(k, losses) for k in keys]
    assert tags == ["loss/total", "loss/ppo_policy", "loss/ppo_policy.approx_kl", "loss/entropy", "loss/value_loss",
                    "eval/return", "time/steps_per_s", "train/episode_return", "train/grad_norm"]
    assert not any(a.startswith(b + "/") for a in tags for b in tags)


def test_scalars_leave_out_counters_and_non_finite_values_and_use_the_axis():
    rows = [{"step": 3, "seed": 0, "env_steps": 300, "episode_return": math.nan, "loss": 0.5, "inf": math.inf,
             "name": "text", "episodes": 4}]
    assert scalars(rows, INFO) == {300: {"loss/total": 0.5, "train/episodes": 4}}
    by_step = RunInfo(**{**INFO.__dict__, "axis": "step"})
    assert scalars(rows, by_step) == {3: {"loss/total": 0.5, "train/episodes": 4}}


def test_scalars_suffix_seeds_when_there_are_several():
    rows = [{"step": 1, "seed": 0, "env_steps": 10, "loss": 1.0}, {"step": 1, "seed": 1, "env_steps": 10, "loss": 2.0}]
    assert scalars(rows, INFO) == {10: {"loss/total/seed_0": 1.0, "loss/total/seed_1": 2.0}}


def test_csv_columns_put_counters_first_and_timing_last():
    row = {"wall_s": 1.0, "loss": 0.1, "seed": 0, "step": 1, "env_steps": 8, "steps_per_s": 2.0, "a": 3}
    assert columns(row, INFO.first_columns) == ["step", "env_steps", "seed", "a", "loss", "steps_per_s", "wall_s"]


class _Fails:
    def __init__(self):
        self.closed = 0

    def write(self, rows):
        raise OSError("disk full")

    def close(self):
        self.closed += 1
        raise ValueError("gone")


class _Ok:
    def __init__(self):
        self.closed = 0

    def write(self, rows):
        pass

    def close(self):
        self.closed += 1


def test_a_failing_logger_is_named_and_every_logger_is_closed_once():
    bad, good = _Fails(), _Ok()
    loggers = Loggers([("bad", bad), ("good", good)])
    with pytest.raises(RlkError, match="logger 'bad' failed to write: OSError: disk full"):
        loggers.write([{"step": 1}])
    with pytest.raises(RlkError, match="logger 'bad' failed to close: ValueError: gone"):
        loggers.close()
    loggers.close()  # a second close (the run's finally after an early one) closes nothing again
    assert (bad.closed, good.closed) == (1, 1)
