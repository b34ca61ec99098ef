"""Usage metrics: distinct active users per interval, counted in one SQL query (SPEC §10)."""

from __future__ import annotations

import datetime as dt

from app import errors, rbac
from app.db import database, is_postgres

INTERVALS = ("1 day", "1 week", "1 month", "90 day", "1 year")
MAX_BUCKETS = 3660  # ten years of days


def parse_interval(text: str) -> str:
    """`1 month`, `1  Month`, … as one of INTERVALS; 400 naming `interval` otherwise."""
    interval = " ".join(str(text).split()).lower()
    if interval not in INTERVALS:
        raise errors.ValidationFailed(
            validations=[("interval", f"must be one of: {', '.join(INTERVALS)}")]
        )
    return interval


def _first_bucket(interval: str, day: dt.date) -> dt.date:
    if interval == "1 week":  # ISO weeks start on Monday
        return day - dt.timedelta(days=day.weekday())
    if interval == "1 month":
        return day.replace(day=1)
    if interval == "1 year":
        return day.replace(month=1, day=1)
    return day  # `1 day`, and `90 day` counted from start


def _next_bucket(interval: str, day: dt.date) -> dt.date:
    if interval == "1 day":
        return day + dt.timedelta(days=1)
    if interval == "1 week":
        return day + dt.timedelta(days=7)
    if interval == "90 day":
        return day + dt.timedelta(days=90)
    if interval == "1 month":
        return day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1)
    return day.replace(year=day.year + 1)


def buckets(interval: str, start: dt.datetime, end: dt.datetime) -> list[tuple]:
    """[(bucket start, first day counted, first day not counted)] covering [start, end).

    Activity is kept per UTC day; a day counts when it overlaps [start, end).
    """
    first_day = start.date()
    end_day = end.date()
    if end.time() != dt.time() and end_day < dt.date.max:
        end_day += dt.timedelta(days=1)
    result = []
    bucket = _first_bucket(interval, first_day)
    while bucket < end_day:
        if len(result) == MAX_BUCKETS:
            raise errors.ValidationFailed(
                validations=[("interval", f"gives more than {MAX_BUCKETS} buckets: widen it")]
            )
        try:
            following = _next_bucket(interval, bucket)
        except (OverflowError, ValueError):
            following = dt.date.max
        result.append((bucket, max(bucket, first_day), min(following, end_day)))
        bucket = following
    return result


def active_users(viewer, *, start: dt.datetime, end: dt.datetime, interval: str) -> dict:
    """{"interval", "start", "end", "data": [{"time", "count"}]}, one entry per bucket."""
    rbac.require(viewer, "metrics:read")
    interval = parse_interval(interval)
    if end <= start:
        raise errors.ValidationFailed(validations=[("end", "must be after start")])
    spans = buckets(interval, start, end)
    counts = _count(spans)
    data = [
        {"time": dt.datetime.combine(bucket, dt.time()), "count": counts[n]}
        for n, (bucket, _, _) in enumerate(spans)
    ]
    return {"interval": interval, "start": start, "end": end, "data": data}


def _count(spans: list[tuple]) -> list[int]:
    """Distinct users per span, all spans in one query (a range scan of the (day, user) index
    per span: the cost follows the activity inside [start, end), not the table)."""
    if not spans:
        return []
    param = "%s" if is_postgres() else "?"
    day = f"CAST({param} AS date)" if is_postgres() else param
    rows = ", ".join(f"({param}, {day}, {day})" for _ in spans)
    sql = (
        f"WITH bucket (n, lo, hi) AS (VALUES {rows}) "
        "SELECT bucket.n, COUNT(DISTINCT user_activity.user_id) FROM bucket "
        "LEFT JOIN user_activity "
        "ON user_activity.day >= bucket.lo AND user_activity.day < bucket.hi "
        "GROUP BY bucket.n ORDER BY bucket.n"
    )
    params = []
    for n, (_, lo, hi) in enumerate(spans):
        params += [n, lo.isoformat(), hi.isoformat()]
    counts = [0] * len(spans)
    with database.connection_context():
        for n, count in database.execute_sql(sql, params).fetchall():
            counts[int(n)] = count
    return counts
