import functools
import math

from rlk.core.logging import TensorBoardSink


class _Recorder:
    def __init__(self):
        self.scalars = []

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def flush(self):
        pass


def _sink(cls, tmp_path):
    sink = cls(tmp_path)
    sink.writer.close()
    sink.writer = _Recorder()
    return sink


def test_tensorboard_leaves_out_non_finite_values_and_uses_its_axis(tmp_path):
    rows = [{"step": 3, "seed": 0, "env_steps": 300, "episode_return": math.nan, "loss": 0.5, "inf": math.inf,
             "name": "text"}]
    env_axis = _sink(TensorBoardSink, tmp_path / "a")
    env_axis.write(rows)
    assert env_axis.writer.scalars == [("env_steps", 300, 300), ("loss", 0.5, 300)]
    step_axis = _sink(functools.partial(TensorBoardSink, axis="step"), tmp_path / "b")
    step_axis.write(rows)
    assert step_axis.writer.scalars == [("env_steps", 300, 3), ("loss", 0.5, 3)]


def test_tensorboard_prefixes_seeds_when_there_are_several(tmp_path):
    sink = _sink(TensorBoardSink, tmp_path)
    sink.write([{"step": 1, "seed": 0, "env_steps": 10, "loss": 1.0}, {"step": 1, "seed": 1, "env_steps": 10, "loss": 2.0}])
    assert ("seed_0/loss", 1.0, 10) in sink.writer.scalars and ("seed_1/loss", 2.0, 10) in sink.writer.scalars
