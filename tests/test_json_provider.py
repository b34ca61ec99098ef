"""app.api.json_provider: orjson behind Flask's JSON provider writes what Flask's own writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import uuid

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from app.api.json_provider import JSONProvider


@dataclasses.dataclass
class Point:
    x: int
    label: str


ASCII = "".join(chr(n) for n in range(128))
VALUES = [
    None,
    True,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64,  # past orjson's integers: Flask's way
    10**30,
    0.5,
    -0.0,
    3.0,
    1.25,
    123456.789,
    "",
    ASCII,  # every control character, quote, backslash and DEL
    "</script>&<>'",
    "café ☕ 𝄞",  # not ASCII: escaped as Flask escapes it
    "lone \ud800 surrogate",
    [],
    {},
    (1, "two"),
    {"b": 1, "a": [1, {"z": None, "y": "x"}]},  # key order kept
    {1: "int key", "s": 2},  # non-string keys: Flask's way
    {"when": dt.datetime(2022, 1, 2, 3, 4, 5, 678901)},  # HTTP dates, as Flask writes them
    dt.datetime(2022, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.date(2022, 1, 2),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("1.10"),
    Point(1, "p"),
    [Point(2, "q")],
    Markup("<b>x</b>"),
]


def _providers(**config):
    app = Flask("test")
    app.config.update(config)
    app.json = JSONProvider(app)
    app.json.sort_keys = False
    flask_app = Flask("flask")
    flask_app.config.update(config)
    flask_app.json = DefaultJSONProvider(flask_app)
    flask_app.json.sort_keys = False
    return app, flask_app


def _deep(depth: int):
    value = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value", [*VALUES, _deep(300)], ids=repr)
def test_answers_are_flasks_byte_for_byte(value):
    app, flask_app = _providers()
    with app.app_context():
        ours = app.json.response(value)
    with flask_app.app_context():
        theirs = flask_app.json.response(value)
    assert ours.get_data() == theirs.get_data()
    assert ours.mimetype == theirs.mimetype == "application/json"
    assert ours.get_data().endswith(b"\n")


@pytest.mark.parametrize("value", VALUES, ids=repr)
@pytest.mark.parametrize("kwargs", [{}, {"separators": (",", ":")}, {"indent": 2}])
def test_dumps_is_flasks(value, kwargs):
    app, flask_app = _providers()
    assert app.json.dumps(value, **kwargs) == flask_app.json.dumps(value, **kwargs)


def test_sorted_keys_and_debug_answers_are_flasks():
    value = {"b": 1, "a": {"d": [1, 2], "c": "é"}}
    for config in ({}, {"DEBUG": True}):
        app, flask_app = _providers(**config)
        app.json.sort_keys = flask_app.json.sort_keys = True
        with app.app_context():
            ours = app.json.response(value).get_data()
        with flask_app.app_context():
            theirs = flask_app.json.response(value).get_data()
        assert ours == theirs


def test_what_flask_cannot_encode_fails_as_in_flask():
    app, flask_app = _providers()
    for provider in (app.json, flask_app.json):
        with pytest.raises(TypeError, match="not JSON serializable"):
            provider.dumps({"x": object()}, separators=(",", ":"))
        with app.app_context(), pytest.raises(TypeError, match="not JSON serializable"):
            provider.response({"t": dt.time(1, 2)})


def test_floats_read_back_the_same():
    """The one documented difference: orjson spells exponents its own way."""
    import json

    app, _ = _providers()
    for value in (1e16, 1.5e-7, 1e300, 2.5e-300):
        assert json.loads(app.json.dumps([value], separators=(",", ":"))) == [value]


def test_the_app_answers_through_it(client):
    assert isinstance(client.application.json, JSONProvider)
    response = client.get("/api/v2/buildinfo")
    assert response.status_code == 200
    assert response.get_data().endswith(b"}\n")
    assert b": " not in response.get_data() and b", " not in response.get_data()
