"""Resource pools as engines: each pool's engine address, access host, TLS material (encrypted),
cordon state and last health check."""

from peewee import BooleanField, CharField, DateTimeField, TextField

TABLE = "resource_pool"
COLUMNS = {
    "engine_type": lambda: CharField(max_length=16, default="docker"),
    "cluster_address": lambda: CharField(max_length=1024, default=""),
    "hostname": lambda: CharField(max_length=1024, default=""),
    "tls_ca_encrypted": lambda: TextField(default=""),
    "tls_cert_encrypted": lambda: TextField(default=""),
    "tls_key_encrypted": lambda: TextField(default=""),
    "cordoned": lambda: BooleanField(default=False),
    "cordon_reason": lambda: TextField(default=""),
    "status": lambda: CharField(max_length=16, default=""),
    "status_error": lambda: TextField(default=""),
    "checked_at": lambda: DateTimeField(null=True),
}


def up(migrator, db):
    migrator.migrate(*(migrator.add_column(TABLE, name, make()) for name, make in COLUMNS.items()))


def down(migrator, db):
    migrator.migrate(*(migrator.drop_column(TABLE, name) for name in COLUMNS))
