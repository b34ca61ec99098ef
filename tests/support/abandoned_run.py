"""A stand-in for a test run that gets killed: starts the fixtures' processes, then waits.

`python -m tests.support.abandoned_run ROOT REPORT PART…` starts each PART (registry, live,
nginx, postgres, podman) with the same helpers the fixtures use, writes REPORT (JSON: the pids it
started, the detached ones Podman runs, the folders a later run has to sweep) and sleeps until it
is killed. It stops nothing itself: whatever survives its death is what a killed pytest leaves.
tests/gates/test_killed_run.py kills it.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from tests.gates import nginx, postgres_cluster
from tests.support import live_server, podman, processes, registry

PARTS = ("registry", "live", "nginx", "postgres", "podman")
IMAGE_LABEL = f"{podman.LABEL}=abandoned-run"


def main(root: Path, report: Path, parts: list[str]) -> None:
    # Die of the signals a killed pytest gets, whatever this process inherited: a shell starts
    # background jobs with SIGINT (and SIGQUIT) ignored, nohup ignores SIGHUP, and Python keeps an
    # inherited SIG_IGN instead of installing its KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown parts: {', '.join(sorted(unknown))}")
    started: dict[str, int] = {}
    detached: dict[str, int] = {}
    folders: list[str] = []
    root.mkdir(parents=True, exist_ok=True)
    (root / "live").mkdir()
    local_registry = server = None
    if "registry" in parts or "podman" in parts:
        local_registry = registry.start(root / "registry")
        started["registry"] = local_registry.process.pid
    if "live" in parts or "nginx" in parts:
        server = live_server.start(root / "live")
        started["live server"] = server.process.pid
    if "nginx" in parts:
        proxy = nginx.Nginx(root / "nginx", server.url, {"127.0.0.1": live_server.free_port()})
        started["nginx"] = proxy.process.pid
    if "postgres" in parts:
        cluster = postgres_cluster.PrivateCluster()
        cluster.init()
        cluster.start()
        started["postgres"] = cluster.process.pid
        folders.append(str(cluster.root))
    if "podman" in parts:
        engine = podman.Podman(processes.owned_dir(podman.ROOT_PREFIX), [local_registry.host])
        engine.start()
        started["podman service"] = engine.process.pid
        folders.append(str(engine.root))
        local_registry.push_image("abandoned/busybox", "latest")
        container = engine.podman(
            "run",
            "-d",
            "--network",
            "none",
            "--label",
            IMAGE_LABEL,
            f"{local_registry.host}/abandoned/busybox:latest",
            "sleep",
            "600",
        ).strip()
        state = engine.inspect(container)["State"]
        detached = {"container": state["Pid"], "conmon": state["ConmonPid"]}
    written = report.with_suffix(".tmp")
    written.write_text(json.dumps({"started": started, "detached": detached, "folders": folders}))
    written.rename(report)
    while True:
        signal.pause()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
