"""GET /api/v0/metrics/usage/active-users: buckets, distinct counts, one query, bad input."""

import datetime as dt
import uuid

import pytest
from playhouse.test_utils import count_queries

from app import db
from app.models import UserActivity
from app.services import metrics
from tests.factories import auth_headers, make_token, make_user

URL = "/api/v0/metrics/usage/active-users"


@pytest.fixture
def headers(app):
    return auth_headers(make_token(make_user("site-auditor")), "v0")


@pytest.fixture
def activity(app):
    """Replace the activity table's rows with {day: [user, ...]} (users named by short tags)."""
    names: dict = {}

    def seed(days: dict) -> None:
        rows = [
            {"day": dt.date.fromisoformat(day), "user_id": names.setdefault(u, str(uuid.uuid4()))}
            for day, users in days.items()
            for u in users
        ]
        with db.database.connection_context():
            UserActivity.delete().execute()
            UserActivity.insert_many(rows).execute()

    return seed


def get(client, headers, start, end, interval, raw=False):
    query = f"start={start}&end={end}&interval={interval if raw else interval.replace(' ', '%20')}"
    return client.get(f"{URL}?{query}", headers=headers)


def counts(response) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.json
    return [(bucket["time"][:10], bucket["count"]) for bucket in response.json["data"]]


@pytest.mark.parametrize("space", ["%20", "+"])
def test_seed_example_months(client, headers, activity, space):
    activity(
        {
            "2022-01-03": ["a", "b"],
            "2022-01-20": ["a"],
            "2022-03-30": ["c"],
            "2022-03-31": ["d"],  # at `end` exactly: outside
            "2021-12-31": ["e"],
        }
    )
    response = client.get(
        f"{URL}?start=2022-01-01T00:00:00.000000Z&end=2022-03-31T00:00:00.000000Z"
        f"&interval=1{space}month",
        headers=headers,
    )
    assert counts(response) == [("2022-01-01", 2), ("2022-02-01", 0), ("2022-03-01", 1)]
    body = response.json
    assert body["interval"] == "1 month"
    assert body["start"] == "2022-01-01T00:00:00.000000Z"
    assert body["end"] == "2022-03-31T00:00:00.000000Z"
    assert body["data"][0]["time"] == "2022-01-01T00:00:00.000000Z"


def test_iso_weeks_start_on_monday(client, headers, activity):
    activity({"2022-01-05": ["a"], "2022-01-10": ["a", "b"], "2022-01-03": ["z"]})
    # 2022-01-05 is a Wednesday: its ISO week began on Monday 2022-01-03, before `start`
    response = get(client, headers, "2022-01-05T00:00:00Z", "2022-01-20T00:00:00Z", "1 week")
    assert counts(response) == [("2022-01-03", 1), ("2022-01-10", 2), ("2022-01-17", 0)]


def test_days_include_empty_ones(client, headers, activity):
    activity({"2022-02-01": ["a", "b", "c"], "2022-02-03": ["a"]})
    response = get(client, headers, "2022-02-01T00:00:00Z", "2022-02-04T00:00:00Z", "1 day")
    assert counts(response) == [("2022-02-01", 3), ("2022-02-02", 0), ("2022-02-03", 1)]


def test_distinct_users_per_bucket(client, headers, activity):
    activity({f"2022-05-{day:02d}": ["a", "b"] for day in range(1, 29)})
    response = get(client, headers, "2022-05-01T00:00:00Z", "2022-06-01T00:00:00Z", "1 month")
    assert counts(response) == [("2022-05-01", 2)]


def test_ninety_days_count_from_start(client, headers, activity):
    activity({"2022-01-15": ["a"], "2022-04-14": ["b"], "2022-04-15": ["c"]})
    response = get(client, headers, "2022-01-15T10:00:00Z", "2022-07-01T00:00:00Z", "90 day")
    assert counts(response) == [("2022-01-15", 2), ("2022-04-15", 1)]


def test_years(client, headers, activity):
    activity({"2020-06-01": ["a"], "2021-02-01": ["a", "b"], "2022-12-31": ["c"]})
    response = get(client, headers, "2020-03-01T00:00:00Z", "2023-01-01T00:00:00Z", "1 year")
    assert counts(response) == [("2020-01-01", 1), ("2021-01-01", 2), ("2022-01-01", 1)]


def test_a_partial_last_day_counts(client, headers, activity):
    activity({"2022-01-02": ["a"]})
    response = get(client, headers, "2022-01-01T00:00:00Z", "2022-01-02T00:00:01Z", "1 day")
    assert counts(response) == [("2022-01-01", 0), ("2022-01-02", 1)]


def test_times_with_offsets_are_utc(client, headers, activity):
    activity({"2022-01-01": ["a"]})
    response = get(client, headers, "2022-01-01T02:00:00%2B02:00", "2022-01-02T00:00:00Z", "1 day")
    assert counts(response) == [("2022-01-01", 1)]


def test_one_query(app, activity):
    activity({"2022-01-03": ["a"]})
    viewer = make_user("site-admin")
    start, end = dt.datetime(2021, 1, 1), dt.datetime(2022, 1, 1)
    with db.database.connection_context(), count_queries() as counted:
        answer = metrics.active_users(viewer, start=start, end=end, interval="1 week")
    assert counted.count == 1
    assert len(answer["data"]) == 53  # the ISO week of 2021-01-01 began on 2020-12-28


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=yesterday&end=2022-01-02T00:00:00Z&interval=1%20day", "start"),
        ("start=2022-01-01&end=2022-01-02T00:00:00Z&interval=1%20day", "start"),
        ("start=2022-01-01T00:00:00Z&end=2022-13-02T00:00:00Z&interval=1%20day", "end"),
        ("start=2022-01-02T00:00:00Z&end=2022-01-01T00:00:00Z&interval=1%20day", "end"),
        ("start=2022-01-01T00:00:00Z&end=2022-01-02T00:00:00Z&interval=2%20days", "interval"),
        ("start=2022-01-01T00:00:00Z&end=2022-01-02T00:00:00Z&interval=", "interval"),
        ("start=2000-01-01T00:00:00Z&end=2022-01-02T00:00:00Z&interval=1%20day", "interval"),
        ("end=2022-01-02T00:00:00Z&interval=1%20day", "start"),
    ],
)
def test_bad_input_is_400_naming_the_parameter(client, headers, query, field):
    response = client.get(f"{URL}?{query}", headers=headers)
    assert response.status_code == 400, response.json
    assert [entry["field"] for entry in response.json["error"]["details"]] == [field]


def test_far_future_end_does_not_overflow(app):
    viewer = make_user("site-admin")
    with db.database.connection_context():
        answer = metrics.active_users(
            viewer,
            start=dt.datetime(9990, 1, 1),
            end=dt.datetime(9999, 12, 31, 23, 59),
            interval="1 year",
        )
    assert [bucket["count"] for bucket in answer["data"]] == [0] * 10
