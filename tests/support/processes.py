"""What a test run starts ends with it, however the run ends; what cannot, the next run sweeps.

`start(args, **popen_kwargs)` is `subprocess.Popen` whose child asks Linux, before it execs, for
a signal (SIGTERM unless told otherwise) when its parent goes away: `prctl(PR_SET_PDEATHSIG)`.
A pytest killed with SIGKILL, SIGTERM or SIGINT so takes its registries, servers, nginx,
PostgreSQL clusters and Podman services with it. Rules that follow from how the signal works:

- The kernel sends it when the parent *thread* that forked the child ends, not the process: a
  child started from a short-lived thread would be killed with that thread. `start` therefore
  runs only on the main thread, which lives exactly as long as the run.
- It reaches the direct child only. A program that daemonizes (forks and lets the forked parent
  exit) escapes it, so programs run in the foreground (`postgres` itself rather than `pg_ctl`,
  nginx with `daemon off;`); their own children are theirs to end on SIGTERM (gunicorn's
  workers, nginx's workers and postgres's backends are).
- Setting a user or group in the child clears the setting, so `start` sets it after `user=`.

Podman's containers are deliberately detached from the service that started them (conmon
double-forks), so no signal reaches them: a run keeps such state in an `owned_dir`, a directory
locked by the run's process for as long as it lives, and every run begins by `sweep`ing the
directories whose owner is gone (tests/support/podman.py removes their containers by id).
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LOCK_NAME = ".owner.lock"

_libc = ctypes.CDLL(None, use_errno=True)
_held_locks: dict[Path, int] = {}  # this run's owned directories -> their locked descriptors


def die_with_parent(death_signal: int = signal.SIGTERM, parent_pid: int | None = None) -> None:
    """In a child process: get `death_signal` when the parent thread ends.

    With `parent_pid`, a child whose parent is already gone (it died between fork and here, so
    the signal will never come) exits at once. The signal's disposition is reset first: an
    ignored one (a shell's background job ignores SIGINT) would survive the exec.
    """
    signal.signal(death_signal, signal.SIG_DFL)
    if _libc.prctl(PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def start(args, *, death_signal: int = signal.SIGTERM, **popen_kwargs) -> subprocess.Popen:
    """`subprocess.Popen(args, **popen_kwargs)` whose process gets `death_signal` when the test
    run ends without stopping it. Call it from the main thread only (see the module's text)."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "test processes start from the main thread: the parent-death signal follows the "
            f"thread that starts them, and {threading.current_thread().name} may end first"
        )
    if "preexec_fn" in popen_kwargs:
        raise TypeError("processes.start sets preexec_fn itself")
    hook = functools.partial(die_with_parent, death_signal, os.getpid())
    return subprocess.Popen(args, preexec_fn=hook, **popen_kwargs)


def owned_dir(prefix: str) -> Path:
    """A new directory in the system's temporary folder, locked by this process until it exits.

    The lock (flock on a file inside) is released by the kernel however the process ends, which
    is how `sweep` tells a dead run's directory from a live one, without trusting pids.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    descriptor = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    _held_locks[path] = descriptor
    return path


def release(path: Path) -> None:
    """Remove one of this run's owned directories, at the end of its use."""
    shutil.rmtree(path, ignore_errors=True)
    descriptor = _held_locks.pop(path, None)
    if descriptor is not None:
        os.close(descriptor)


def sweep(prefix: str, clean: Callable[[Path], None] = lambda path: None) -> list[Path]:
    """Clean up and remove every `owned_dir(prefix)` whose owner has ended; return them.

    `clean(path)` runs first, holding the directory's lock, so two runs never sweep the same one.
    Directories without a lock file (an owner killed while creating it) are left alone.
    """
    swept = []
    for path in sorted(Path(tempfile.gettempdir()).glob(f"{prefix}*")):
        try:
            descriptor = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)  # its run is alive
            continue
        try:
            clean(path)
            shutil.rmtree(path, ignore_errors=True)
            swept.append(path)
        finally:
            os.close(descriptor)
    return swept
