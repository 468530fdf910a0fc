"""SIGINT/SIGTERM for a whole ``rlk`` command: one line on stderr and exit 128 + signal, at any moment.

Why a command used to crash: the default SIGINT handler raises ``KeyboardInterrupt`` wherever the
main thread happens to be (an import, a jax trace, a garbage-collection callback that swallows it, a
``finally`` of orbax), and the interpreter then shuts down while XLA's compile and compute threads
and orbax's save threads still run: finalisation frees what those threads use (exit -11/139), or a
traceback prints, or the interrupt is lost (exit 0).

Here no signal raises. The C-level handler writes the signal's number to a pipe
(``signal.set_wakeup_fd``) that a watcher thread reads at once, even while the main thread is inside a
compile or a device computation. Outside the training loop the watcher prints the line of the
current phase (``on_signal``), runs the release callbacks (``at_exit``: the run folder's lock), and
ends the process with ``os._exit``: no interpreter shutdown, so no thread is torn down under another.
Inside the loop (``deferred``) a first signal only sets the flag the loop polls between compiled
calls (it saves a checkpoint and stops); a second one ends the process at once (the last committed
checkpoint stays: orbax commits by renaming).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """Raised by the training loop after a clean stop on SIGINT/SIGTERM (the checkpoint is saved); the CLI
    prints it and exits with ``exit_code``."""

    def __init__(self, run_dir: Path, env_steps: int, signum: int, unit: str = "env steps"):
        name = signal.Signals(signum).name
        super().__init__(f"{name}: stopped at {env_steps} {unit}; checkpoint saved; resume with: rlk train --resume {run_dir}")
        self.run_dir = run_dir
        self.exit_code = 128 + signum


_lock = threading.Lock()
# received: the first signal inside ``deferred`` (the loop's stop flag); watched: signals the watcher saw there
_state: dict = {"installed": False, "message": "interrupted", "deferred": False, "received": 0, "watched": 0}
_releases: list[Callable[[], None]] = []


def install() -> None:
    """Takes over SIGINT/SIGTERM for this process (main thread, once; later calls do nothing)."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    _state["installed"] = True  # first: a signal as soon as a handler is in place ends the process (_handler)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    threading.Thread(target=_watch, args=(read_fd,), name="rlk-signals", daemon=True).start()


def on_signal(message: str) -> None:
    """The line a signal prints from now on (after ``SIGINT: ``) when it ends the command."""
    _state["message"] = message


def at_exit(release: Callable[[], None]) -> Callable[[], None]:
    """Runs ``release`` before a signal ends the process; returns a function that unregisters it."""
    _releases.append(release)
    return lambda: _releases.remove(release) if release in _releases else None


@contextlib.contextmanager
def deferred() -> Iterator[Callable[[], int]]:
    """Inside (the training loop): a first signal is only recorded; yields a poll of its number (0: none),
    which stays readable after the block (a signal during the last call). Without ``install`` (rlk used
    as a library) the handler is put in place for the block only, and a second signal raises
    ``KeyboardInterrupt`` as Python's default does."""
    _state.update(deferred=True, received=0, watched=0)
    previous = {}
    if not _state["installed"] and threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _handler) for sig in SIGNALS}
    try:
        yield lambda: _state["received"]
    finally:
        _state["deferred"] = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _handler(signum: int, frame) -> None:
    """Python-level handler (main thread, between bytecodes). The watcher thread usually acts first; this
    covers a wakeup fd that something else replaced."""
    if _state["deferred"] and not _state["received"]:
        _state["received"] = signum
        return
    if not _state["installed"]:
        raise KeyboardInterrupt
    _exit(signum, _second_line() if _state["deferred"] else None)


def _watch(read_fd: int) -> None:
    while True:
        data = os.read(read_fd, 1)
        if not data:
            return
        signum = data[0]
        if _state["deferred"]:
            _state["watched"] += 1
            if _state["watched"] == 1:  # the loop saves and stops at its next check
                continue
            _exit(signum, _second_line())
        _exit(signum)


def _second_line() -> str:
    return "again: stopped without waiting for the checkpoint in progress; the last complete checkpoint is kept"


def _exit(signum: int, message: str | None = None) -> None:
    """One line on stderr, the release callbacks, then the process ends with 128 + ``signum``."""
    if not _lock.acquire(blocking=False):  # another thread is already ending the process
        threading.Event().wait()
    line = f"{signal.Signals(signum).name}: {message or _state['message']}\n"
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        os.write(2, (("\r\x1b[?25h" if os.isatty(2) else "") + line).encode())
    for release in list(_releases):
        with contextlib.suppress(Exception):
            release()
    os._exit(128 + signum)
