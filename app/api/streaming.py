"""Lists answered as they are read: a JSON array written one batch at a time.

The view documents its answer with `@blp.response(200, Schema(many=True))` as any other and
returns `json_list(schema, batches)`: each batch is dumped by the schema and encoded as the app
encodes every answer (same keys, order and separators), then sent (chunked). The first batch is
read before the answer starts, so an error there is an ordinary error answer; the request's
context, and so its database connection, lives until the last batch is sent. A list that ends
with its first batch (most lists: a batch holds 500 items) is known whole before answering, and
is answered as any other answer is (the same bytes, with a Content-Length, in one write).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from flask import Response, current_app, stream_with_context


def json_list(schema, batches: Iterable[list]) -> Response:
    rows = iter(batches)
    first = next(rows, [])
    second = next(rows, None)  # a short first batch ends the list without another query
    if second is None:
        return current_app.json.response(schema.dump(first, many=True))
    rows = itertools.chain([first, second], rows)  # read now; none kept once sent
    dumps = current_app.json.dumps

    def generate():
        sent = False
        for batch in rows:
            if batch:
                text = dumps(schema.dump(batch, many=True), separators=(",", ":"))[1:-1]
                yield ("," if sent else "[") + text
                sent = True
        yield "]\n" if sent else "[]\n"

    return current_app.response_class(
        stream_with_context(generate()), mimetype=current_app.json.mimetype
    )
