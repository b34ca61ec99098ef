"""Request bodies as JSON: what any parser accepts, less what would reach the database as a 500.

Every `@blp.arguments` body is read here (app/api/smorest.py's Parser). Refused with a 400 in the
version's envelope: nesting deeper than MAX_DEPTH (Python's parser would otherwise recurse until
RecursionError), NaN and ±Infinity (not JSON; 1e400 is Infinity too), numbers Python cannot read,
and strings holding a NUL or an unpaired UTF-16 surrogate ("\\ud800": neither encodes as UTF-8,
PostgreSQL refuses both, SQLite would store the surrogate).
"""

from __future__ import annotations

import json
import math
import re

from app import errors

MAX_DEPTH = 32

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def loads(data: bytes):
    """The body's JSON value; json.JSONDecodeError for malformed JSON, errors.BadRequest for
    JSON pycoderd refuses."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise errors.InvalidJSON(detail=str(exc)) from None
    _check(value, "", 0)
    return value


def _refuse_constant(name: str):
    raise errors.InvalidJSON(detail=f"{name} is not a JSON number.")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise errors.InvalidJSON(detail=f"{text} is out of range for a number.")
    return number


def _too_deep() -> errors.BadRequest:
    return errors.BadRequest(f"Request body is nested more than {MAX_DEPTH} levels deep.")


def _check(value, path: str, depth: int) -> None:
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise _too_deep()
        for key, item in value.items():
            inner = f"{path}.{key}" if path else key
            _check_text(key, inner)
            _check(item, inner, depth + 1)
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise _too_deep()
        for index, item in enumerate(value):
            _check(item, f"{path}.{index}" if path else str(index), depth + 1)


def _check_text(text: str, path: str) -> None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        detail = "must not contain NUL characters"
    else:
        detail = "must not contain an unpaired UTF-16 surrogate (\\ud800-\\udfff)"
    raise errors.ValidationFailed(validations=[(_printable(path) or "body", detail)])


def _printable(path: str) -> str:
    """The field's name as the client can read it back (a key may hold the bad character)."""
    return _UNSTORABLE.sub("\ufffd", path)
