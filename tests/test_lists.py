"""Whole lists streamed a batch at a time (app.services.paging, app.api.streaming): the admin's
workspace and user lists past several batches, ties in the order, limit/offset, members.

The rows are inserted with one shared `created_at`, so the order (and each batch's continuation)
rests on the second key: a keyset that compared the first key alone would skip or repeat rows.
"""

import datetime as dt
import uuid

import pytest

from app import db
from app.models import User, Workspace
from app.services import addresses, paging, workspaces
from tests.factories import auth_headers, make_token, make_user
from tests.support.workspaces import make_image

MANY = 2 * paging.BATCH + 37
SAME_TIME = dt.datetime(2026, 1, 2, 3, 4, 5, 678000)


@pytest.fixture
def admin(app):
    user = make_user("site-admin", username="root")
    return user, auth_headers(make_token(user), "v0")


def _insert_workspaces(owner, image, count):
    rows = []
    for n in range(count):
        name = f"w{n}"
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "name": name,
                "user": owner.id,
                "organization": image.organization_id,
                "image": image.id,
                "container_status": "OFF",
                "created_at": SAME_TIME,
                "updated_at": SAME_TIME,
                **addresses.workspace_names(name, owner.username),
            }
        )
    with db.database.connection_context(), db.database.atomic():
        for start in range(0, count, 200):
            Workspace.insert_many(rows[start : start + 200]).execute()
    return sorted(row["id"] for row in rows)


def _insert_users(count):
    rows = [
        {
            "id": str(uuid.uuid4()),
            "username": f"many{n:04d}",
            "username_key": f"many{n:04d}",
            "email": f"many{n:04d}@example.com",
            "created_at": SAME_TIME,
            "updated_at": SAME_TIME,
        }
        for n in range(count)
    ]
    with db.database.connection_context(), db.database.atomic():
        for start in range(0, count, 200):
            User.insert_many(rows[start : start + 200]).execute()
    return [row["id"] for row in sorted(rows, key=lambda row: row["username_key"])]


def test_admin_workspace_list_streams_every_workspace_once_in_order(client, admin):
    user, headers = admin
    image = make_image()
    ids = _insert_workspaces(user, image, MANY)
    response = client.get("/api/v0/workspaces", headers=headers, buffered=False)
    assert response.status_code == 200
    assert response.is_streamed and response.mimetype == "application/json"
    body = response.json
    assert [w["id"] for w in body] == ids  # (created_at, id) order, ties by id
    with db.database.connection_context():
        one = workspaces.one_for_api(Workspace.get_by_id(ids[-1]))
    from app.api.v0.workspaces_schemas import WorkspaceSchema

    with client.application.test_request_context():
        expected = WorkspaceSchema().dump(one)
    assert body[-1] == expected  # the same wire shape as a single workspace's answer


def test_workspace_list_limit_and_offset_slice_the_whole_list(client, admin):
    user, headers = admin
    ids = _insert_workspaces(user, make_image(), paging.BATCH + 20)
    for query, expected in (
        ("limit=3", ids[:3]),
        ("offset=498&limit=5", ids[498:503]),
        (f"offset={paging.BATCH}", ids[paging.BATCH :]),
        (f"limit={paging.BATCH + 1}", ids[: paging.BATCH + 1]),
        ("offset=10000", []),
    ):
        response = client.get(f"/api/v0/workspaces?{query}", headers=headers)
        assert response.status_code == 200, (query, response.json)
        assert [w["id"] for w in response.json] == expected, query


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "offset=-1", "limit=abc"])
@pytest.mark.parametrize("path", ["/api/v0/workspaces", "/api/v0/users"])
def test_bad_paging_is_a_400_in_the_v0_envelope(client, admin, path, query):
    _, headers = admin
    response = client.get(f"{path}?{query}", headers=headers)
    assert response.status_code == 400
    assert "error" in response.json, response.json


def test_admin_user_list_streams_every_user_once_in_order(client, admin):
    user, headers = admin
    many = _insert_users(MANY)
    response = client.get("/api/v0/users", headers=headers, buffered=False)
    assert response.status_code == 200 and response.is_streamed
    listed = [u["id"] for u in response.json]
    assert listed[:MANY] == many and listed[-1] == user.id  # created today, after SAME_TIME
    assert len(listed) == len(set(listed)) == MANY + 1
    assert {"roles", "username", "email"} <= set(response.json[-1])
    assert "site_roles" not in response.json[-1] and "username_key" not in response.json[-1]
    sliced = client.get(f"/api/v0/users?offset={paging.BATCH - 1}&limit=3", headers=headers)
    assert [u["id"] for u in sliced.json] == listed[paging.BATCH - 1 : paging.BATCH + 2]


def test_member_lists_hold_only_their_own(client, admin):
    member = make_user(username="member1")
    headers = auth_headers(make_token(member), "v0")
    image = make_image()
    _insert_workspaces(admin[0], image, 3)
    own = _insert_workspaces(member, image, 2)
    assert [w["id"] for w in client.get("/api/v0/workspaces", headers=headers).json] == own
    assert [u["id"] for u in client.get("/api/v0/users", headers=headers).json] == [member.id]
    assert client.get("/api/v0/users?offset=1", headers=headers).json == []
    empty = client.get("/api/v0/workspaces?users=nobody-at-all", headers=headers)
    assert empty.status_code == 200 and empty.get_data() == b"[]\n"


def test_a_list_within_one_batch_is_answered_whole_with_the_streamed_bytes(client, admin):
    """The first batch ending the list, the answer is an ordinary one (Content-Length, one
    write); its bytes are what the streamed answer of a longer list writes for the same items."""
    _, headers = admin
    ids = _insert_users(3)
    whole = client.get("/api/v0/users", headers=headers, buffered=False)
    assert whole.status_code == 200
    assert whole.headers["Content-Length"] == str(len(whole.get_data()))
    assert [u["id"] for u in whole.json][:3] == ids
    _insert_users_after(paging.BATCH)
    streamed = client.get("/api/v0/users", headers=headers, buffered=False)
    assert streamed.is_streamed and "Content-Length" not in streamed.headers
    body = streamed.get_data()
    assert body.startswith(whole.get_data()[:-2] + b",") and body.endswith(b"]\n")


def _insert_users_after(count):
    """Users created after every existing one (so they come last in the list)."""
    later = dt.datetime(2999, 1, 1)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "username": f"later{n:04d}",
            "username_key": f"later{n:04d}",
            "email": f"later{n:04d}@example.com",
            "created_at": later,
            "updated_at": later,
        }
        for n in range(count)
    ]
    with db.database.connection_context(), db.database.atomic():
        for start in range(0, count, 200):
            User.insert_many(rows[start : start + 200]).execute()
