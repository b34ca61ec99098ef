"""Flask's JSON provider with orjson doing the encoding, byte for byte as Flask's own would.

Flask's DefaultJSONProvider encodes with the standard library: ASCII only (`ensure_ascii`),
compact answers (`,`/`:`), a trailing newline, dates as HTTP dates, UUIDs and Decimals as
strings, dataclasses as dicts. orjson writes the same text for the same values several times
faster, with three exceptions that are checked for or avoided here: it writes non-ASCII
characters as UTF-8 and DEL unescaped (an answer holding either is re-encoded Flask's way), it has
its own ways with dates and dataclasses (passed through to Flask's `default`), and it refuses
what the standard library accepts (integers past 64 bits, non-string keys, lone surrogates,
deep nesting: those fall back to Flask's way too). Floats are the one difference left: an
exponent is written as orjson writes it (`1e16`, not `1e+16`), the same number to a client;
NaN and infinities, which are not JSON, come out as null. Pretty-printed answers (debug mode),
sorted keys and every other `dumps` argument are Flask's own. Reading JSON stays Flask's.
"""

from __future__ import annotations

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_COMPACT = {"separators": (",", ":")}


class JSONProvider(DefaultJSONProvider):
    def _encode(self, obj, option: int = 0) -> bytes | None:
        """orjson's ASCII text for `obj`, or None where it would differ from Flask's."""
        if self.sort_keys or not self.ensure_ascii:
            return None
        try:
            data = orjson.dumps(obj, default=self.default, option=_OPTIONS | option)
        except TypeError:  # orjson.JSONEncodeError included
            return None
        return data if data.isascii() and b"\x7f" not in data else None

    def dumps(self, obj, **kwargs) -> str:
        if kwargs == _COMPACT:  # e.g. a streamed list's batches (app.api.streaming)
            data = self._encode(obj)
            if data is not None:
                return data.decode("ascii")
        return super().dumps(obj, **kwargs)

    def response(self, *args, **kwargs):
        if self.compact is False or (self.compact is None and self._app.debug):
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        data = self._encode(obj, orjson.OPT_APPEND_NEWLINE)
        if data is None:
            data = f"{super().dumps(obj, **_COMPACT)}\n"
        return self._app.response_class(data, mimetype=self.mimetype)
