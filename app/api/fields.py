"""Shared marshmallow fields: Coder's timestamps and the like."""

from __future__ import annotations

import datetime as dt

import marshmallow as ma


class Timestamp(ma.fields.Field):
    """RFC 3339 in UTC with a Z and microseconds; the database keeps naive UTC."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        # isoformat is several times faster than strftime and pads the year the same way.
        return value.isoformat(timespec="microseconds") + "Z"

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ma.ValidationError(
                "must be an RFC 3339 time, e.g. 2022-01-01T00:00:00Z"
            ) from None
        if parsed.tzinfo is None:
            raise ma.ValidationError("must include a time zone (Z or +hh:mm)")
        return parsed.astimezone(dt.UTC).replace(tzinfo=None)


class Text(ma.fields.String):
    """A string input; NUL characters (which no database column can hold) are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ma.ValidationError("must not contain NUL characters")
        return text
