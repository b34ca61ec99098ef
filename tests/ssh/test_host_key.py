"""The gateway's host key: generated once, encrypted at rest, one for every process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app import db
from app.models import SSHHostKey
from app.ssh import host_key
from tests.conftest import base_config

SECRET = "test-secret-key-not-for-production"

# Each process builds its own app on the test's database, says it is ready, waits for the
# word to go, then asks for the host key.
RACER = """
import json, sys
from app import create_app
from app.ssh import host_key
app = create_app(json.loads(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
print(host_key.load_or_create(app.config["SECRET_KEY"]).public_key, flush=True)
"""


def test_generated_once_and_stored_encrypted(app):
    first = host_key.load_or_create(SECRET)
    assert first.public_key.startswith("ssh-ed25519 ")
    assert "OPENSSH PRIVATE KEY" in first.private_key
    assert host_key.load_or_create(SECRET) == first
    with db.database.connection_context():
        row = SSHHostKey.get()
    assert row.public_key == first.public_key
    assert "PRIVATE" not in row.private_key_encrypted
    with pytest.raises(host_key.HostKeyError, match="another CODER_SECRET_KEY"):
        host_key.load_or_create("another-secret")


def test_processes_starting_at_once_all_use_the_one_that_won(app, tmp_path, pg_database):
    config = json.dumps(base_config(tmp_path, pg_database))
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for racer in racers:
        assert racer.stdout.readline() == "ready\n", racer.communicate(timeout=60)[1]
    for racer in racers:
        racer.stdin.write("go\n")
        racer.stdin.flush()
    results = [racer.communicate(timeout=60) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in results]
    keys = {out.strip() for out, _ in results}
    assert len(keys) == 1, keys
    with db.database.connection_context():
        assert [row.public_key for row in SSHHostKey.select()] == list(keys)
