"""A run folder claimed by one process: created and checked before anything compiles, and locked.

``rlk.lock`` in the folder is both the lock and rlk's mark on the folder. While a run holds it, it is
``flock``-ed and names the owner (``pid host``); a clean exit empties it (and releases the flock, as the
kernel does for a process that dies in any way). A second run finds the flock taken and refuses,
naming the owner. A lock whose flock is free but which still names an owner was left by a process
that died (SIGKILL, power cut): on the same host it is taken over with a one-line warning; a lock of
another host (a shared file system) is refused, since that process cannot be checked from here.

A new run goes only into a missing or empty folder, or one that rlk marked and that holds no
checkpoint yet (a run stopped before its first checkpoint starts over); a folder with anything rlk
did not write is refused, so a user's files are never overwritten.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Callable, Iterator, Optional

from rlk.core import interrupts
from rlk.core.errors import RlkError

LOCK = "rlk.lock"
# What rlk writes into a run folder: its own files, provenance, and those of the built-in loggers (csv,
# tensorboard, wandb's and mlflow's local stores); a logger plugin that writes more adds its names here.
RUN_FILES = frozenset({LOCK, "config.json", "run_info.json", "summary.json", "checkpoints",
                       "metrics.csv", "metrics.jsonl", "tb", "wandb", "mlruns"})


def has_checkpoint(run_dir: Path) -> bool:
    d = run_dir / "checkpoints"
    return d.is_dir() and any(p.name.isdigit() for p in d.iterdir())


def check_free(run_dir: Path) -> None:
    """A one-line error if a live process holds ``run_dir``'s lock (checked before anything else of a
    resume, so a run still starting is named as the cause, not its missing checkpoint)."""
    try:
        fd = os.open(run_dir / LOCK, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        raise RlkError(f"run folder '{run_dir}' is in use by {_describe(_owner(fd))}; "
                       "wait for it to end or pick another --run-dir") from None
    finally:
        os.close(fd)


def preflight(run_dir: Path, new: bool) -> None:
    """The checks ``claim`` makes, without writing anything (before the program is built): a one-line error
    for a path under a file or in a folder this process cannot write, or (``new``) a folder a new run may
    not write into."""
    if run_dir.exists():
        if not run_dir.is_dir():
            raise RlkError(f"--run-dir '{run_dir}' is a file, not a folder")
        if new and not (run_dir / LOCK).exists():
            check_new(run_dir)
        return
    parent = run_dir.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RlkError(f"--run-dir '{run_dir}': a part of the path is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RlkError(f"--run-dir '{run_dir}' cannot be created: no permission to write in '{parent}'")


def create(run_dir: Path) -> None:
    """Makes ``run_dir`` (and its parents): a one-line error for a file in the way or no permission."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RlkError(f"--run-dir '{run_dir}' is a file, not a folder") from None
    except NotADirectoryError:
        raise RlkError(f"--run-dir '{run_dir}': a part of the path is a file, not a folder") from None
    except OSError as err:
        raise RlkError(f"--run-dir '{run_dir}' cannot be created: {err.strerror}") from None
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise RlkError(f"--run-dir '{run_dir}' is not writable")


def check_new(run_dir: Path) -> None:
    """A new run may write into ``run_dir``: else a one-line error saying why not."""
    if has_checkpoint(run_dir):
        raise RlkError(f"run folder '{run_dir}' already holds a run; resume it with --resume or pick another --run-dir")
    names = sorted(p.name for p in run_dir.iterdir())
    foreign = [n for n in names if n not in RUN_FILES]
    if not foreign and names and LOCK not in names:  # rlk's file names, but not rlk's mark: a user's files
        foreign = names
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise RlkError(f"run folder '{run_dir}' holds files rlk did not write ({shown}); "
                       "pick another --run-dir or empty it")


@contextlib.contextmanager
def claim(run_dir: Path, new: bool, warn: Callable[[str], None]) -> Iterator[None]:
    """Holds ``run_dir``'s lock inside the block (``new``: checked for a new run first, under the lock);
    ``warn`` prints the line of a stale lock taken over."""
    create(run_dir)
    if new and not (run_dir / LOCK).exists():  # not rlk's folder yet: refused before rlk leaves a file in it
        check_new(run_dir)
    fd = _acquire(run_dir / LOCK, warn)
    forget = interrupts.at_exit(lambda: release(fd))  # a signal ends the process without this block's finally
    _stamp(fd)
    try:
        if new:
            check_new(run_dir)
        yield
    finally:
        forget()
        release(fd)


def release(fd: int) -> None:
    """Empties the lock (the folder stays rlk's) and frees it."""
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    with contextlib.suppress(OSError):
        os.close(fd)


def _acquire(path: Path, warn: Callable[[str], None]) -> int:
    """Opens and flocks ``path`` (a stale owner's stamp taken over); the file descriptor. The flock lives
    as long as this process."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise RlkError(f"run folder '{path.parent}': cannot write its lock file ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = _owner(fd)
            os.close(fd)
            raise RlkError(f"run folder '{path.parent}' is in use by {_describe(owner)}; "
                           "wait for it to end or pick another --run-dir") from None
        if _same_file(path, fd):
            break
        os.close(fd)  # replaced while we waited for it: lock the new one
    owner = _owner(fd)
    if owner is not None:
        pid, host = owner
        if host != socket.gethostname():
            os.close(fd)
            raise RlkError(f"run folder '{path.parent}' is locked by {_describe(owner)}; if that run has ended, "
                           f"delete {path} and run again")
        warn(f"warning: run folder '{path.parent}': taking over the lock of process {pid}, which is gone")
    return fd


def _stamp(fd: int) -> None:
    """Writes this process's ``pid host`` into the held lock."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    os.fsync(fd)


def _owner(fd: int) -> Optional[tuple[int, str]]:
    """``(pid, host)`` stamped in the lock, or None for an empty (released) one."""
    text = os.pread(fd, 256, 0).decode(errors="replace").split()
    if len(text) != 2 or not text[0].isdigit():
        return None
    return int(text[0]), text[1]


def _describe(owner: Optional[tuple[int, str]]) -> str:
    return f"process {owner[0]} on host {owner[1]}" if owner else "another process"


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def check_metrics(run_dir: Path, last_step: int, rows: int) -> None:
    """A resume keeps the metric rows up to its checkpoint (``step <= last_step``): both files must hold
    exactly ``rows`` of them (one per seed and call), else a one-line error (a deleted, truncated or
    mixed-up file is not silently rebuilt)."""
    for name in ("metrics.csv", "metrics.jsonl"):
        path = run_dir / name
        if not path.is_file():
            raise RlkError(f"run folder '{run_dir}': {name} is missing; a resume appends to it (restore it, or start a new run)")
        try:
            if name.endswith(".csv"):
                with path.open(newline="") as f:
                    steps = [int(r["step"]) for r in csv.DictReader(f)]
            else:
                steps = [int(json.loads(l)["step"]) for l in path.read_text().splitlines() if l.strip()]
        except (ValueError, KeyError, TypeError) as err:
            raise RlkError(f"run folder '{run_dir}': {name} is damaged ({type(err).__name__}: {err})") from None
        kept = sum(s <= last_step for s in steps)
        if kept != rows:
            raise RlkError(f"run folder '{run_dir}': {name} holds {kept} rows up to the checkpoint's update (step column) {last_step}, "
                           f"expected {rows}; restore it, or start a new run")
