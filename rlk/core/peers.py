"""A run on many processes whose peer died: one line and exit 1, never a traceback or a hang.

When another process of the run dies (SIGKILL, a lost node), the next collective on the survivors fails
(gloo on CPUs: "Connection closed by peer"); no further collective can complete (a checkpoint, JAX's own
shutdown barrier at exit, which would wait up to 300 s), so the survivor prints one line and ends at once,
keeping the run folder's last checkpoint for ``--resume`` on every process.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import jax

from rlk.core.errors import RlkError

LOST_PEER_MARKS = ("gloo", "connection", "coordination", "heartbeat", "unavailable")  # a dead peer's collective errors


def abandon(exc: BaseException, who: str = "run") -> None:
    """One line on stderr naming ``who`` lost a peer, and exit 1 at once."""
    what = " ".join(str(exc).split())[:300]
    print(f"error: {who}: lost another process of this run ({what}); stopped without a checkpoint "
          "(the run folder keeps its last one; resume every process with --resume)", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)


@contextlib.contextmanager
def guard(who: str = "run") -> Iterator[None]:
    """Inside, a collective that fails because another process died ends this one (``abandon``)."""
    try:
        yield
    except RlkError:
        raise
    except Exception as exc:  # noqa: BLE001 - only a dead peer's error ends the process here
        if jax.process_count() > 1 and any(m in str(exc).lower() for m in LOST_PEER_MARKS):
            abandon(exc, who)
        raise
