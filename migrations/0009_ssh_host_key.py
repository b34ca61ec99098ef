"""The SSH gateway's host keys, generated once per deployment."""

from peewee import CharField, DateTimeField, Model, TextField


def _models(db):
    class SSHHostKey(Model):
        algorithm = CharField(primary_key=True, max_length=32)
        public_key = TextField()
        private_key_encrypted = TextField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "ssh_host_key"

    return [SSHHostKey]


def up(migrator, db):
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(_models(db))
