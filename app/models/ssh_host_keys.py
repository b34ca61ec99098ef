"""The SSH gateway's host keys: one per algorithm, the private half encrypted at rest."""

from peewee import CharField, TextField

from app.models.base import BaseModel, DateTimeField, utcnow


class SSHHostKey(BaseModel):
    """Generated once for the whole deployment, so every process and instance shows clients the
    same host key, across restarts. The first process to insert its row wins (primary key)."""

    algorithm = CharField(primary_key=True, max_length=32)  # ssh-ed25519
    public_key = TextField()  # OpenSSH one-line form, for known_hosts
    private_key_encrypted = TextField()  # app.crypto, keyed by the secret key
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "ssh_host_key"
