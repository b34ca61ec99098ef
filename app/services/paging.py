"""Long lists a batch at a time: each batch its own SELECT, continuing after the last row seen.

A whole-deployment list (10^4 workspaces) read at once holds every row as a model and every
dumped dict until the answer is written; here at most one batch is alive, so a worker's memory
does not grow with the list and the cost per item stays flat. Batches continue by keyset on the
list's order (`keys`, unique together), not by OFFSET: each SELECT reads its batch through the
order's index, however deep in the list it is. A list is not a snapshot: a row created or
deleted while it streams may or may not appear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

BATCH = 500


def _key(row, keys) -> tuple:
    if isinstance(row, dict):
        return tuple(row[field.name] for field in keys)
    return tuple(getattr(row, field.name) for field in keys)


def _after(keys, values):
    """Rows strictly after `values` in the order of `keys` (a pair, compared in order)."""
    (first, second), (first_value, second_value) = keys, values
    return (first > first_value) | ((first == first_value) & (second > second_value))


def batches(
    query,
    keys: tuple,
    *,
    limit: int | None = None,
    offset: int = 0,
    first: Callable[[], list] | None = None,
    size: int = BATCH,
) -> Iterator[list]:
    """Rows of `query` (without ORDER BY or LIMIT) in `keys` order, `size` at a time, from
    `offset`, at most `limit` in all. `first()` may give the first batch another way (the
    same rows as the query's first `size`, e.g. a prepared statement) when there is no offset.
    """
    remaining = limit
    last = None
    while remaining is None or remaining > 0:
        want = size if remaining is None else min(size, remaining)
        if last is None and first is not None and not offset and want == size:
            page = first()
        else:
            page_query = query if last is None else query.where(_after(keys, last))
            page_query = page_query.order_by(*keys).limit(want)
            if last is None and offset:
                page_query = page_query.offset(offset)
            page = list(page_query)
        if not page:
            return
        yield page
        if remaining is not None:
            remaining -= len(page)
        if len(page) < want:
            return
        last = _key(page[-1], keys)
