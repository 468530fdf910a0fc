"""Checkpoints restore exactly what was saved, including zero-size leaves orbax cannot write."""

import jax.numpy as jnp
import numpy as np

from rlk.core.checkpoint import Checkpointer


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
