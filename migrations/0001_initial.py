"""Users, organizations (with the default one), memberships, API keys, audit log, activity."""

import datetime
import uuid

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def _models(db):
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        id = CharField(primary_key=True, max_length=36)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        username = CharField(max_length=39)
        username_key = CharField(max_length=39, unique=True)
        email = CharField(max_length=320, unique=True)
        name = CharField(max_length=255, default="")
        password_hash = CharField(max_length=255, default="")
        login_type = CharField(max_length=16, default="built-in")
        temporary_password = BooleanField(default=False)
        status = CharField(max_length=16, default="active")
        site_roles = CharField(max_length=255, default="")
        avatar_url = CharField(max_length=1024, default="")
        ssh_key_algorithm = CharField(max_length=16, default="")
        ssh_public_key = TextField(default="")
        ssh_private_key_encrypted = TextField(default="")
        key_regenerated_at = DateTimeField(null=True)
        last_seen_at = DateTimeField(null=True)

    class Organization(Base):
        id = CharField(primary_key=True, max_length=36)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        name = CharField(max_length=255, unique=True)
        description = CharField(max_length=1024, default="")
        is_default = BooleanField(default=False)
        resource_namespace = CharField(max_length=255, default="")
        auto_off_threshold_ms = BigIntegerField(default=0)
        cpu_provisioning_rate = FloatField(default=4.0)
        memory_provisioning_rate = FloatField(default=1.0)

    class OrganizationMember(Base):
        id = CharField(primary_key=True, max_length=36)
        organization = ForeignKeyField(Organization, on_delete="CASCADE")
        user = ForeignKeyField(User, on_delete="CASCADE")
        org_roles = CharField(max_length=255, default="")
        roles_updated_at = DateTimeField()
        created_at = DateTimeField()

        class Meta:
            indexes = ((("organization", "user"), True),)

    class APIKey(Base):
        id = CharField(primary_key=True, max_length=10)
        user = ForeignKeyField(User, on_delete="CASCADE")
        hashed_secret = CharField(max_length=64)
        login_type = CharField(max_length=16, default="password")
        scope = CharField(max_length=32, default="all")
        token_name = CharField(max_length=255, null=True)
        application = BooleanField(default=False)
        lifetime_seconds = BigIntegerField()
        expires_at = DateTimeField()
        last_used = DateTimeField()
        ip_address = CharField(max_length=64, default="")
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            table_name = "api_key"
            indexes = ((("user", "token_name"), True),)

    class AuditLog(Base):
        id = CharField(primary_key=True, max_length=36)
        time = DateTimeField()
        organization_id = CharField(max_length=36, null=True)
        user_id = CharField(max_length=36, null=True)
        username = CharField(max_length=255, default="")
        ip = CharField(max_length=64, default="")
        user_agent = CharField(max_length=1024, default="")
        action = CharField(max_length=32)
        resource_type = CharField(max_length=32)
        resource_id = CharField(max_length=64, default="")
        resource_target = CharField(max_length=255, default="")
        diff = TextField(default="{}")
        status_code = IntegerField(default=200)
        request_id = CharField(max_length=36, default="")

        class Meta:
            indexes = (
                (("time",), False),
                (("resource_type", "time"), False),
                (("resource_id", "time"), False),
                (("user_id", "time"), False),
                (("action", "time"), False),
            )

    class UserActivity(Base):
        id = AutoField()
        day = DateField()
        user_id = CharField(max_length=36)

        class Meta:
            indexes = ((("day", "user_id"), True),)

    return [User, Organization, OrganizationMember, APIKey, AuditLog, UserActivity]


def up(migrator, db):
    models = _models(db)
    db.create_tables(models)
    organization = models[1]
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    organization.create(
        id=str(uuid.uuid4()),
        name="default",
        description="The default organization",
        is_default=True,
        resource_namespace="coder",
        created_at=now,
        updated_at=now,
    )


def down(migrator, db):
    db.drop_tables(list(reversed(_models(db))))
