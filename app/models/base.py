"""The base model, id and time helpers shared by every table."""

from __future__ import annotations

import datetime as dt
import uuid

from peewee import CharField, DateTimeField, Model

from app.db import database


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> dt.datetime:
    """Now, in UTC, as a naive datetime (the database stores UTC without a zone)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class UUIDModel(BaseModel):
    id = CharField(primary_key=True, max_length=36, default=new_id)


class TimestampedModel(UUIDModel):
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
