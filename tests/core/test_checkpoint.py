"""Checkpoints restore exactly what was saved, including zero-size leaves orbax cannot write; a
checkpoint that does not fit the state is a one-line error."""

import jax.numpy as jnp
import numpy as np
import pytest

from rlk.core.checkpoint import Checkpointer
from rlk.core.errors import RlkError


def test_zero_size_leaves_survive_save_and_restore(tmp_path):
    # pgx's MinAtar Asterix state holds a zero-length field: saving it used to fail in orbax
    state = {"params": jnp.arange(6.0).reshape(2, 3), "empty": jnp.zeros((4, 0), jnp.int32),
             "host": np.ones((0,), np.float32), "step": jnp.int32(7)}
    saver = Checkpointer(tmp_path)
    saver.save(3, state, {"train_s": 1.5})
    saver.close()
    template = {"params": jnp.zeros((2, 3)), "empty": jnp.zeros((4, 0), jnp.int32),
                "host": np.zeros((0,), np.float32), "step": jnp.int32(0)}
    loader = Checkpointer(tmp_path)
    call, restored, meta = loader.restore(template, ["train_s"])
    loader.close()
    assert call == 3 and meta == {"train_s": 1.5}
    for key in state:
        got, want = np.asarray(restored[key]), np.asarray(state[key])
        assert got.shape == want.shape and got.dtype == want.dtype, key
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("template", [
    {"params": jnp.zeros((3, 2)), "step": jnp.int32(0)},  # another shape (e.g. a transposed layer)
    {"params": jnp.zeros((2, 3)), "step": jnp.int32(0), "extra": jnp.zeros(1)},  # another tree
    {"params": jnp.zeros((2, 3))},
], ids=["shape", "more-leaves", "fewer-leaves"])
def test_a_checkpoint_of_another_state_is_a_one_line_error(tmp_path, template):
    saver = Checkpointer(tmp_path)
    saver.save(2, {"params": jnp.ones((2, 3)), "step": jnp.int32(1)}, {"train_s": 0.5})
    saver.close()
    loader = Checkpointer(tmp_path)
    with pytest.raises(RlkError) as err:
        loader.restore(template, ["train_s"])
    loader.close()
    message = str(err.value)
    assert "\n" not in message and "step 2" in message and str(tmp_path) in message


def test_a_checkpoint_of_an_older_format_is_refused(tmp_path, monkeypatch):
    import rlk.core.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "FORMAT", 1)
    saver = Checkpointer(tmp_path)
    saver.save(1, {"w": jnp.ones((4, 4))}, {"train_s": 0.5})  # a square layer: same shape either way
    saver.close()
    monkeypatch.setattr(checkpoint, "FORMAT", 2)
    loader = Checkpointer(tmp_path)
    with pytest.raises(RlkError, match="has format 1, this rlk reads format 2"):
        loader.restore({"w": jnp.zeros((4, 4))}, ["train_s"])
    loader.close()
