"""Usage: which user was active on which UTC day."""

from peewee import AutoField, CharField, DateField

from app.models.base import BaseModel


class UserActivity(BaseModel):
    id = AutoField()
    day = DateField()
    user_id = CharField(max_length=36)

    class Meta:
        indexes = ((("day", "user_id"), True),)
