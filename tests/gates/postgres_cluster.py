"""A private PostgreSQL cluster in a temporary directory, for tests that stop and start it.

The shared server on 127.0.0.1:5432 is never touched: this one is initdb'd afresh on a free
loopback port, run as the `postgres` user when the tests run as root, and stopped by its pid.
The postmaster runs in the foreground as the test run's own child (not through `pg_ctl`, which
would detach it), so a killed run takes it along (`processes.start`); the folders of killed runs
are removed by the next run (`sweep_dead_runs`).
"""

from __future__ import annotations

import glob
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import psycopg2

from tests.support import processes
from tests.support.live_server import free_port

ROOT_PREFIX = "pycoderd-test-pg-"


def binaries() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin that has initdb and pg_ctl."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    return Path(found[-1]).parent if found else None


def _major(path: str) -> int:
    try:
        return int(Path(path).parent.parent.name)
    except ValueError:
        return 0


class PrivateCluster:
    def __init__(self):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
        self.root = processes.owned_dir(ROOT_PREFIX)
        self.data = self.root / "data"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.root.chmod(0o700)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120, cwd=self.root)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self, timeout: float = 60) -> None:
        """Run the postmaster in the foreground; a killed test run sends it SIGINT (fast
        shutdown: its sessions are gone with the run anyway)."""
        credentials = {}
        if self.user is not None:
            credentials = {
                "user": self.user.pw_uid,
                "group": self.user.pw_gid,
                "extra_groups": os.getgrouplist(self.user.pw_name, self.user.pw_gid),
            }
        with open(self.root / "log", "ab") as log:
            self.process = processes.start(
                [
                    str(self.bin / "postgres"),
                    *("-D", str(self.data), "-p", str(self.port), "-k", str(self.root)),
                    *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
                    *("-c", "max_connections=100"),
                ],
                death_signal=signal.SIGINT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                **credentials,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "private PostgreSQL exited: " + (self.root / "log").read_text()[-2000:]
                )
            try:
                psycopg2.connect(self.url, connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"private PostgreSQL did not answer on port {self.port}")

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown by the postmaster's pid: sessions are terminated, nothing is lost."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def create_database(self, name: str) -> str:
        connection = psycopg2.connect(self.url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url_for(name)

    def destroy(self) -> None:
        self.stop()
        processes.release(self.root)


def sweep_dead_runs() -> list[Path]:
    """Remove the cluster folders of runs that were killed (their postmasters went with them)."""
    return processes.sweep(ROOT_PREFIX)
