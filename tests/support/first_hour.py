"""Run the README's first-hour commands, verbatim, in a network namespace of their own.

`python -m tests.support.first_hour CLONE REPORT` runs inside `unshare --net` (loopback only: no
other address exists, so nothing can be downloaded, and 127.0.0.1:3000 and :5000 are free). The
README's fenced blocks marked `sh first-hour:starter` and `sh first-hour:server` run as
long-lived processes (each in its own session, stopped by process group at the end); the blocks
marked `sh first-hour` run in order in one bash (variables carry over, any failure stops it);
the block marked `sh first-hour:shell` (the SSH line) gets a few commands on its standard
input. The workspace is deleted through the API at the end. REPORT gets
JSON: each step's output, exit status and seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

BLOCK = re.compile(r"^```sh first-hour(?::(\w+))?\n(.*?)^```$", re.M | re.S)
SHELL_INPUT = "echo first-hour-$((6 * 7))\nexit\n"


def blocks(readme: str) -> list[tuple[str, str]]:
    """[(role, commands)] in README order; role "" for the steps."""
    return [(role or "", body) for role, body in BLOCK.findall(readme)]


def _background(command: str, clone: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            ["bash", "-c", command],
            cwd=clone,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _wait(predicate, process: subprocess.Popen, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited {process.returncode}: {log.read_text()[-3000:]}")
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout:g} s: {log.read_text()[-3000:]}")


def _healthy() -> bool:
    try:
        return requests.get("http://127.0.0.1:3000/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        except ProcessLookupError:
            pass


def main(clone: Path, report_path: Path) -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    report: dict = {"steps": []}
    running: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # into the finally below
    roles = blocks((clone / "README.md").read_text())
    steps = "\n".join(body for role, body in roles if role == "")
    shell = [body for role, body in roles if role == "shell"]
    variables = clone / "first-hour.vars"
    try:
        for role, ready, timeout in (
            ("starter", lambda log: "ready in" in log.read_text(), 300),
            ("server", lambda log: _healthy(), 300),
        ):
            (command,) = [body for r, body in roles if r == role]
            log = clone / f"first-hour-{role}.log"
            started = time.monotonic()
            process = _background(command, clone, log)
            running.append(process)
            _wait(lambda log=log, ready=ready: ready(log), process, timeout, role, log)
            report["steps"].append(
                {"role": role, "seconds": time.monotonic() - started, "output": log.read_text()}
            )
        script = f"set -euo pipefail\n{steps}\ndeclare -p TOKEN WORKSPACE > {variables}\n"
        for role, script_text, stdin in [("steps", script, None)] + [
            ("shell", f"set -euo pipefail\n. {variables}\n{body}", SHELL_INPUT) for body in shell
        ]:
            started = time.monotonic()
            result = subprocess.run(
                ["bash", "-c", script_text],
                cwd=clone,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=600,
            )
            report["steps"].append(
                {
                    "role": role,
                    "seconds": time.monotonic() - started,
                    "status": result.returncode,
                    "output": result.stdout,
                    "errors": result.stderr,
                }
            )
            if result.returncode != 0:
                break
    finally:
        if variables.exists():
            report["cleanup"] = _delete_workspace(clone, variables)
        for process in reversed(running):
            _stop(process)
        report_path.write_text(json.dumps(report))
    return 0


def _delete_workspace(clone: Path, variables: Path) -> str:
    """DELETE it through the API and wait until the build job removed its container."""
    script = (
        f". {variables}\n"
        'url="http://127.0.0.1:3000/api/v0/workspaces/$WORKSPACE"\n'
        'curl -sf -X DELETE -H "Session-Token: $TOKEN" "$url" -d "{}" >/dev/null\n'
        "for _ in $(seq 1 120); do\n"
        '  code=$(curl -s -o /dev/null -w "%{http_code}" -H "Session-Token: $TOKEN" "$url")\n'
        '  [ "$code" = 404 ] && echo deleted && exit 0\n'
        "  sleep 0.5\n"
        "done\n"
        "echo still there; exit 1\n"
    )
    result = subprocess.run(
        ["bash", "-c", script], cwd=clone, capture_output=True, text=True, timeout=120
    )
    return (result.stdout + result.stderr).strip()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
