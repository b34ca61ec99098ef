"""The gateway's host key: generated once for the deployment, kept encrypted in the database."""

from __future__ import annotations

from dataclasses import dataclass

from app import crypto
from app.db import database
from app.models import SSHHostKey
from app.services import ssh_keys

ALGORITHM = "ssh-ed25519"


class HostKeyError(RuntimeError):
    """The stored host key cannot be used (it was encrypted with another secret key)."""


@dataclass(frozen=True)
class HostKey:
    public_key: str  # "ssh-ed25519 AAAA…", what clients keep in known_hosts
    private_key: str  # OpenSSH PEM


def load_or_create(secret_key: str) -> HostKey:
    """The deployment's host key, generated and stored by the first process that asks.

    Two processes starting at once may both generate one: each inserts its own only if no row
    exists (the algorithm is the primary key), then both read back the row that won.
    """
    with database.connection_context():
        row = SSHHostKey.get_or_none(SSHHostKey.algorithm == ALGORITHM)
        if row is None:
            pair = ssh_keys.generate(ssh_keys.Keygen("ed25519", secret_key))
            SSHHostKey.insert(
                algorithm=ALGORITHM,
                public_key=pair.public_key,
                private_key_encrypted=pair.private_key_encrypted,
            ).on_conflict_ignore().execute()
            row = SSHHostKey.get(SSHHostKey.algorithm == ALGORITHM)
    try:
        private_key = crypto.decrypt(secret_key, row.private_key_encrypted)
    except ValueError:
        raise HostKeyError(
            "the stored SSH host key was encrypted with another CODER_SECRET_KEY; set the "
            "original key (or delete the ssh_host_key row to make a new host key, which every "
            "client will then warn about)"
        ) from None
    return HostKey(public_key=row.public_key, private_key=private_key)
