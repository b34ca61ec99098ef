"""Dev URL sign-in tickets: single use, stored as the SHA-256 of the random token."""

from peewee import CharField, DateTimeField, Model, TextField


def _models(db):
    class DevURLTicket(Model):
        token_hash = CharField(primary_key=True, max_length=64)
        user_id = CharField(max_length=36)
        api_key_id = CharField(max_length=10)
        host = CharField(max_length=255)
        path = TextField()
        expires_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "devurl_ticket"

    return [DevURLTicket]


def up(migrator, db):
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(_models(db))
