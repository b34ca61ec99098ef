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


ZERO_TIME = "0001-01-01T00:00:00Z"


class ZeroTimestamp(Timestamp):
    """A Timestamp for clients whose type is Go's `time.Time` (or a string, never null): no time
    is written as Go's zero time, as coderd's NOT NULL columns hold it."""

    def _serialize(self, value, attr, obj, **kwargs):
        return ZERO_TIME if value is None else super()._serialize(value, attr, obj, **kwargs)


class Text(ma.fields.String):
    """A string input; NUL characters (which no database column can hold) are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ma.ValidationError("must not contain NUL characters")
        return text


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT64_ERROR = f"must be a 64-bit integer ({INT64_MIN} to {INT64_MAX})"


class Integer(ma.fields.Integer):
    """An integer that fits in 64 bits (what SQLite's INTEGER and PostgreSQL's bigint hold):
    every integer argument and field is one; 99999999999999999999 is a 400, not the database's
    OverflowError. The range is a validator too, so the documents show it."""

    def __init__(self, *args, validate=None, **kwargs):
        if validate is None:
            validate = []
        elif callable(validate):
            validate = [validate]
        int64 = ma.validate.Range(min=INT64_MIN, max=INT64_MAX, error=INT64_ERROR)
        super().__init__(*args, validate=[int64, *validate], **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if number is not None and not INT64_MIN <= number <= INT64_MAX:
            raise ma.ValidationError(INT64_ERROR)  # alone, before the field's own ranges
        return number
