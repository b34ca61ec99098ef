"""Done when (issue 17): the README's first-screen commands, extracted from the README itself and
run verbatim on a fresh instance, take a machine with no internet to a workspace ON.

The commands run in a copy of this checkout (a fresh `instance/`), in a network namespace with
loopback only (tests/support/first_hour.py). `make run` would first `pip install`; the copy gets
an equivalent `.venv` instead (this checkout's packages, the copy's own `app`), so the run stays
offline and quick. Everything started ends with the run: the workspace is deleted through the
API, the server and the starter are stopped by process group, and Podman's folder is an
`owned_dir` that a later run sweeps if this one is killed.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import first_hour, podman, processes, registry

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.backend("sqlite"), pytest.mark.podman]


def test_readme_has_the_first_hour_blocks():
    roles = [role for role, _ in first_hour.blocks((REPO / "README.md").read_text())]
    assert roles.count("starter") == 1 and roles.count("server") == 1
    assert roles.count("shell") == 1
    assert roles.count("") >= 1
    # The blocks are the first screen: before the reference's table of contents.
    readme = (REPO / "README.md").read_text()
    assert readme.index("```sh first-hour") < readme.index("## Contents")


def _copy_checkout(clone: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = REPO / name
        if source.is_file():
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _venv(clone: Path) -> None:
    """What `make run`'s install step gives, without the download: a venv whose `app` is the
    copy's and whose other packages are this checkout's."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (lib,) = (venv / "lib").glob("python3*/site-packages")
    (lib / "first-hour.pth").write_text(f"{clone}\n{site.getsitepackages()[0]}\n")
    script = venv / "bin" / "pycoderd"
    script.write_text(
        f"#!{venv}/bin/python\nimport sys\nfrom app.cli import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    time.sleep(0.01)
    (venv / ".installed-serve").touch()


def test_readme_first_hour_commands_reach_a_workspace_on(tmp_path):
    podman.require_tools()  # outside CI a missing part skips, under CI=true it fails
    registry.require_available()
    missing = [tool for tool in ("unshare", "ip", "curl", "make", "ssh") if not shutil.which(tool)]
    assert not missing, f"needs {missing}"
    clone = tmp_path / "clone"
    _copy_checkout(clone)
    _venv(clone)
    engine_root = processes.owned_dir(podman.ROOT_PREFIX)  # swept if this run is killed
    (clone / "instance").mkdir(exist_ok=True)
    (clone / "instance" / "starter").symlink_to(engine_root)
    report_path = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODER_") and k != "DOCKER_HOST"}
    driver = processes.start(
        ["unshare", "--net", "--", sys.executable, "-m", "tests.support.first_hour"]
        + [str(clone), str(report_path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = driver.communicate(timeout=900)
    finally:
        if driver.poll() is None:
            driver.terminate()
            driver.communicate(timeout=120)
        podman.Podman(engine_root).remove_labelled()
        processes.release(engine_root)
    assert report_path.exists(), output
    report = json.loads(report_path.read_text())
    steps = {step["role"]: step for step in report["steps"]}
    assert set(steps) >= {"starter", "server", "steps"}, output
    assert steps["steps"]["status"] == 0, steps["steps"]["output"] + steps["steps"]["errors"]
    assert steps["steps"]["output"].strip().splitlines()[-1] == "ON", steps["steps"]["output"]
    shell = steps["shell"]  # the README's SSH line: a shell that runs what it is given
    assert shell["status"] == 0, shell["output"] + shell["errors"]
    assert "first-hour-42" in shell["output"], shell["output"] + shell["errors"]
    assert report.get("cleanup") == "deleted", report.get("cleanup")
    for step in report["steps"]:
        print(f"{step['role']}: {step['seconds']:.1f}s")
