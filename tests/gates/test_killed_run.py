"""A killed test run leaves nothing running: its processes get the parent-death signal, and the
next run removes the Podman containers that nothing can signal (tests/support/processes.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gates import nginx, postgres_cluster
from tests.gates.conftest import need
from tests.support import podman, processes, registry

REPO = Path(__file__).resolve().parents[2]
GONE_WITHIN = 20.0  # seconds; gunicorn's graceful stop is the slowest part


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], fields[19]


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(processes_: dict[int, str]) -> dict[int, str]:
    """Those still running (the same process: same start time; a zombie counts as gone)."""
    alive = {}
    for pid, started in processes_.items():
        stat = _stat(pid)
        if stat is not None and stat[1] == started and stat[0] != "Z":
            alive[pid] = _command(pid)
    return alive


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def _wait_gone(watched: dict[int, str], timeout: float) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while (alive := _alive(watched)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _abandoned_run(tmp_path: Path, parts: list[str]) -> tuple[subprocess.Popen, dict]:
    report = tmp_path / "report.json"
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed with the process
    run = processes.start(
        [sys.executable, "-m", "tests.support.abandoned_run", str(tmp_path), str(report), *parts],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 180
    while not report.exists():
        if run.poll() is not None or time.monotonic() > deadline:
            if run.poll() is None:
                run.kill()
            run.wait()
            pytest.fail("the abandoned run did not start: " + (tmp_path / "run.log").read_text())
        time.sleep(0.2)
    return run, json.loads(report.read_text())


def _require(parts: list[str]) -> None:
    if "registry" in parts or "podman" in parts:
        need(registry.available(), f"a local registry: {registry.HOW_TO_GET}")
    if "nginx" in parts:
        need(nginx.binary() is not None, "nginx: apt-get install nginx")
    if "postgres" in parts:
        need(postgres_cluster.binaries() is not None, "PostgreSQL: apt-get install postgresql")
    if "podman" in parts:
        need(not podman.missing_tools(), podman.INSTALL_HINT)


@pytest.mark.parametrize(
    ("signum", "parts"),
    [
        (signal.SIGKILL, ["registry", "live", "nginx", "postgres", "podman"]),
        (signal.SIGTERM, ["registry", "live"]),
        (signal.SIGINT, ["registry", "live"]),
    ],
    ids=["SIGKILL", "SIGTERM", "SIGINT"],
)
def test_a_killed_run_leaves_no_process_behind(tmp_path, signum, parts):
    _require(parts)
    run, report = _abandoned_run(tmp_path, parts)
    try:
        # Everything it started, and everything those started in turn (workers, backends...).
        pids = set(report["started"].values()) | _descendants(run.pid)
        assert set(report["started"].values()) <= _descendants(run.pid)
        watched = {pid: stat[1] for pid in pids if (stat := _stat(pid)) is not None}
        detached = {
            pid: stat[1] for pid in report["detached"].values() if (stat := _stat(pid)) is not None
        }
        assert len(detached) == len(report["detached"])
    finally:
        os.kill(run.pid, signum)
        run.wait(30)
    started = time.monotonic()
    left = _wait_gone(watched, GONE_WITHIN)
    assert left == {}, f"still running {GONE_WITHIN}s after the run's {signum.name}: {left}"
    print(f"{signum.name}: {len(watched)} processes gone in {time.monotonic() - started:.1f}s")

    # What nothing could signal (a container and its conmon) goes with the next run's sweep.
    podman.sweep_dead_runs()
    postgres_cluster.sweep_dead_runs()
    assert _wait_gone(detached, 30) == {}
    assert [folder for folder in report["folders"] if Path(folder).exists()] == []
