"""The background process of `pycoderd server`: long-running loops, once per deployment node.

gunicorn forks several workers; loops such as the provisioner daemons must not run once per
worker, so `pycoderd server` starts ONE extra process (`start_process`) that builds its own app
and runs every loop named in `LOOPS`, each in threads, until it is told to stop or its parent
exits. `pycoderd provisionerd` runs the provisioner loops in the foreground (`run_loops`).

To add a loop (image tag refresh, deployment stats, update check, …), write a function
`start(app, stop: threading.Event) -> Thread | list[Thread]` that starts daemon threads which
return soon after `stop` is set, and add its dotted path to `LOOPS`.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading

log = logging.getLogger("pycoderd.background")

PROVISIONER_LOOPS = (
    "app.provisioner.daemon:start_threads",
    "app.provisioner.stats:start_thread",
    "app.provisioner.pools:start_health_thread",
)
# Everything the server's background process runs; `pycoderd provisionerd` runs only the above.
# The rest serve the API (images, deployment stats, update check, auto-off), so they run where a
# server runs; several servers share each round through the database (app/services/snapshots.py;
# auto-off claims each stop), and a provisioner-only machine never contacts the release feed.
LOOPS = PROVISIONER_LOOPS + (
    "app.services.images:start_refresh_thread",
    "app.services.deployment:start_stats_thread",
    "app.services.updatecheck:start_thread",
    "app.services.auto_off:start_thread",
)
JOIN_TIMEOUT = 15.0


def _resolve(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def run_loops(app, stop: threading.Event, loops=LOOPS, parent_pid: int | None = None) -> None:
    """Start every loop and block until `stop` is set (or the parent process is gone)."""
    threads: list[threading.Thread] = []
    for path in loops:
        started = _resolve(path)(app, stop)
        threads.extend(started if isinstance(started, list | tuple) else [started])
    log.info("background loops running: %s", ", ".join(t.name for t in threads))
    while not stop.wait(1.0):
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning("the server process is gone; stopping the background loops")
            stop.set()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)


def stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())


def start_process(flags: dict) -> subprocess.Popen:
    """Start the background process for a server run with these option flags.

    A plain subprocess, not multiprocessing: gunicorn forks workers from this process, and a
    worker exiting must not take the background process down with it.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "app.provisioner.background", json.dumps(flags), str(os.getpid())]
    )


def stop_process(process: subprocess.Popen, timeout: float = JOIN_TIMEOUT + 5) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str]) -> int:
    from app import create_app

    flags, parent_pid = json.loads(argv[0]), int(argv[1])
    app = create_app({"OPTION_FLAGS": flags})
    stop = threading.Event()
    stop_on_signals(stop)
    run_loops(app, stop, parent_pid=parent_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
