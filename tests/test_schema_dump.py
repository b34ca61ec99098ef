"""app.api.schemas.Schema dumps exactly what marshmallow's own Schema dumps."""

from __future__ import annotations

import datetime as dt
from collections import namedtuple

import marshmallow as ma
import pytest

from app.api.fields import Timestamp
from app.api.schemas import Schema


class Upper(ma.fields.String):
    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value).upper()


class Inner(ma.Schema):
    code = ma.fields.String()


FIELDS = {
    "text": ma.fields.String(),
    "number_as_text": ma.fields.String(attribute="number", dump_only=True),
    "flag": ma.fields.Boolean(),
    "number": ma.fields.Integer(),
    "number_string": ma.fields.Integer(attribute="number", as_string=True, dump_only=True),
    "ratio": ma.fields.Float(),
    "renamed": ma.fields.String(data_key="renamedKey"),
    "with_default": ma.fields.String(dump_default="fallback"),
    "dotted": ma.fields.String(attribute="inner.code", dump_only=True),
    "inner": ma.fields.Nested(Inner),
    "tags": ma.fields.List(ma.fields.String()),
    "when": Timestamp(allow_none=True),
    "shout": Upper(attribute="text", dump_only=True),
    "method": ma.fields.Method("describe"),
    "function": ma.fields.Function(lambda obj: "function"),
    "constant": ma.fields.Constant(7),
    "write_only": ma.fields.String(load_only=True),
}


def describe(self, obj):
    return f"method:{type(obj).__name__}"


Plain = type("Plain", (ma.Schema,), {**FIELDS, "describe": describe})
Fast = type("Fast", (Schema,), {**FIELDS, "describe": describe})


class Thing:
    def __init__(self, **values):
        self.__dict__.update(values)


FULL = {
    "text": "hello",
    "flag": True,
    "number": 5,
    "ratio": 1.5,
    "renamed": "r",
    "with_default": "given",
    "inner": {"code": "c1"},
    "tags": ["a", "b"],
    "when": dt.datetime(2026, 12, 2, 7, 0, 0, 123456),
    "write_only": "secret",
}
ODD = {
    "text": 42,  # not a str: the field converts it
    "flag": "yes",  # not a bool: the field's truthy set decides
    "number": True,
    "ratio": None,
    "renamed": None,
    "inner": None,
    "tags": None,
    "when": None,
}
Row = namedtuple("Row", sorted(FULL))


class Indexable(Thing):
    """Has attributes and answers obj[key] differently: marshmallow reads obj[key] first."""

    def __getitem__(self, key):
        return FULL[key]


@pytest.mark.parametrize(
    "obj",
    [
        FULL,
        ODD,
        {},  # every value missing
        Thing(**FULL),
        Thing(**{**FULL, "inner": Thing(code="c2")}),
        Thing(**ODD),
        Thing(),
        Row(**FULL),  # has __getitem__: marshmallow's own reading
        Indexable(**ODD),
    ],
    ids=[
        "dict",
        "odd-dict",
        "empty-dict",
        "object",
        "object-nested",
        "odd-object",
        "bare",
        "row",
        "indexable",
    ],
)
def test_fast_dump_equals_marshmallow(obj):
    assert Fast().dump(obj) == Plain().dump(obj)
    assert Fast(many=True).dump([obj, obj]) == Plain(many=True).dump([obj, obj])


class Text(str):
    pass


@pytest.mark.parametrize(
    "tags", [["a", "b"], [], ["a", 1], ("a", "b"), ["a", Text("b")], {"a"}, "ab", None]
)
def test_string_lists_dump_as_marshmallow_dumps_them(tags):
    dumped = Fast().dump({"tags": tags})["tags"]
    assert dumped == Plain().dump({"tags": tags})["tags"]
    assert [type(t) for t in dumped or ()] == [
        type(t) for t in Plain().dump({"tags": tags})["tags"] or ()
    ]
    if isinstance(tags, list):
        assert dumped is not tags  # a copy, as marshmallow's


def test_only_and_exclude_are_respected():
    assert Fast(only=("text", "flag")).dump(FULL) == {"text": "hello", "flag": True}
    assert "text" not in Fast(exclude=("text",)).dump(FULL)


def test_a_schema_with_its_own_accessor_keeps_it():
    class Prefixed(Schema):
        text = ma.fields.String()

        def get_attribute(self, obj, attr, default):
            return "prefixed-" + obj[attr]

    assert Prefixed().dump({"text": "x"}) == {"text": "prefixed-x"}
