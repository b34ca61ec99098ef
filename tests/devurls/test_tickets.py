"""Issue 14 findings 11 and 15: dev URL sign-in tickets redirect only on their own host, work
once and say nothing about who asked."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app import db
from app.devurls import tickets
from app.models import DevURLTicket
from app.models.base import utcnow
from tests.devurls.conftest import WILDCARD, dev_host, make_devurl, make_workspace
from tests.factories import auth_headers, make_token, make_user
from tests.support import live_server

HOST = dev_host("web--owner")


@pytest.fixture
def owner(app, upstream):
    user = make_user(username="owner")
    make_devurl(make_workspace(user, name="box"), upstream.port, name="web")
    return user, make_token(user)


def _issue(client, token, url):
    issued = client.get(
        "/api/v0/devurls/ticket", query_string={"url": url}, headers=auth_headers(token, "v0")
    )
    assert issued.status_code == 302, issued.json
    location = urlsplit(issued.headers["Location"])
    assert (location.netloc, location.path) == (HOST, tickets.REDEEM_PATH)
    return parse_qs(location.query)["ticket"][0]


def _redeem(client, ticket, host=HOST):
    return client.get(
        tickets.REDEEM_PATH, base_url=f"http://{host}", query_string={"ticket": ticket}
    )


def test_a_ticket_works_once(client, owner):
    _, token = owner
    ticket = _issue(client, token, f"http://{HOST}/page")
    first = _redeem(client, ticket)
    assert first.status_code == 302 and first.headers["Location"] == "/page"
    assert first.headers["Set-Cookie"].startswith(f"{tickets.COOKIE}=")
    again = _redeem(client, ticket)
    assert again.status_code == 401
    assert "Set-Cookie" not in again.headers
    assert again.json["error"]["code"] == "unauthorized"


def test_a_ticket_is_opaque_and_stored_only_as_a_digest(client, owner):
    user, token = owner
    key_id = token.split("-")[0]
    ticket = _issue(client, token, f"http://{HOST}/")
    padded = ticket + "=" * (-len(ticket) % 4)
    readable = ticket + base64.urlsafe_b64decode(padded).decode("latin-1")
    for secret in (user.id, key_id, "owner", HOST):
        assert secret not in readable
    with db.database.connection_context():
        (row,) = DevURLTicket.select()
        stored = [str(value) for value in DevURLTicket.select().tuples().get()]
    assert ticket not in stored
    assert row.token_hash == tickets.digest(ticket)


def test_a_ticket_is_bound_to_its_host_and_expires(client, owner, upstream):
    user, token = owner
    make_devurl(make_workspace(user, name="box2"), upstream.port + 1, name="other")
    ticket = _issue(client, token, f"http://{HOST}/")
    assert _redeem(client, ticket, dev_host("other--owner")).status_code == 401
    assert _redeem(client, ticket).status_code == 401  # used up by the wrong host's attempt
    late = _issue(client, token, f"http://{HOST}/")
    with db.database.connection_context():
        past = utcnow() - dt.timedelta(seconds=1)
        DevURLTicket.update(expires_at=past).execute()
    assert _redeem(client, late).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/\\evil.example/x",  # the review's: ticket?url=...%5Cevil.example
        "/%5Cevil.example/x",
        "/%5cevil.example/x",
        "//evil.example/x",
        "/%2Fevil.example/x",
        "/%2F%2Fevil.example",
        "/\t/evil.example",
        "/%09/evil.example",
        "/%0d%0a/evil.example",
        "/x?next=\\evil",
    ],
)
def test_the_redirect_after_sign_in_stays_on_the_host(client, owner, path):
    _, token = owner
    ticket = _issue(client, token, f"http://{HOST}{path}")
    redeemed = _redeem(client, ticket)
    assert redeemed.status_code == 302
    assert redeemed.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/deep/page?tab=2&q=a%20b", "/deep/page?tab=2&q=a%20b"),
        ("/caf\u00e9", "/caf%C3%A9"),
        ("", "/"),
        ("/a/./b/..//c", "/a/./b/..//c"),
    ],
)
def test_same_host_paths_are_kept(client, owner, path, location):
    _, token = owner
    redeemed = _redeem(client, _issue(client, token, f"http://{HOST}{path}"))
    assert redeemed.headers["Location"] == location


def test_one_redemption_wins_across_workers(app, tmp_path, pg_database, owner):
    """Two gunicorn workers, eight browsers racing with one ticket: one cookie."""
    env = {"CODER_WILDCARD_ACCESS_URL": WILDCARD, "CODER_WORKSPACE_NETWORK": "host"}
    if pg_database:
        env["CODER_PG_CONNECTION_URL"] = pg_database
    else:
        env["CODER_SQLITE_PATH"] = str(tmp_path / "pycoderd.sqlite3")
    server = live_server.start(tmp_path, env, workers=2)
    try:
        _, token = owner
        for _ in range(3):
            issued = requests.get(
                f"{server.url}/api/v0/devurls/ticket",
                params={"url": f"http://{HOST}/"},
                headers=auth_headers(token, "v0"),
                allow_redirects=False,
                timeout=10,
            )
            redeem = issued.headers["Location"].split(HOST, 1)[1]
            start = threading.Barrier(8)
            statuses = []

            def race(redeem=redeem, start=start, statuses=statuses):
                session = requests.Session()  # a connection each: both workers take part
                start.wait(timeout=10)
                answer = session.get(
                    f"{server.url}{redeem}",
                    headers={"Host": HOST},
                    allow_redirects=False,
                    timeout=10,
                )
                statuses.append(answer.status_code)

            threads = [threading.Thread(target=race) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert sorted(statuses) == [302] + [401] * 7
    finally:
        live_server.stop(server)
