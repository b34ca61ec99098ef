"""PreparedSelect: SQL rendered once, rows hydrated like peewee's get(), one query per call."""

import pytest
from playhouse.test_utils import count_queries

from app import db
from app.models import APIKey, User
from tests.factories import make_token, make_user

KEY_WITH_USER = db.PreparedSelect(
    lambda key_id: APIKey.select(APIKey, User).join(User).where(APIKey.id == key_id).limit(1)
)


def test_same_rows_as_get_with_the_join_attached(app):
    user = make_user(username="prepared")
    ids = [make_token(user, name=f"t{n}").split("-")[0] for n in range(3)]
    with db.database.connection_context():
        for key_id in ids:
            expected = APIKey.select(APIKey, User).join(User).where(APIKey.id == key_id).get()
            with count_queries() as counter:
                found = KEY_WITH_USER.first(key_id)
                assert found.user.username == "prepared"  # joined: no second query
            assert counter.count == 1
            assert found.__data__ == expected.__data__
            assert found.user.__data__ == expected.user.__data__
            assert found.expires_at == expected.expires_at


def test_no_row(app):
    make_token(make_user())
    with db.database.connection_context():
        assert KEY_WITH_USER.first("0123456789") is None
        assert KEY_WITH_USER.first("'; DROP TABLE apikey; --") is None
        assert APIKey.select().count() == 1


USERS_BY_LOGIN = db.PreparedSelect(
    lambda login_type: (
        User.select(User.username, User.created_at)
        .where(User.login_type == login_type)
        .order_by(User.username)
        .dicts()
    )
)


def test_all_rows_as_the_query_returns_them(app):
    for name, login_type in (("ann", "oidc"), ("anna", "oidc"), ("bob", "saml")):
        make_user(username=name, login_type=login_type)
    with db.database.connection_context():
        for login_type, names in (("oidc", ["ann", "anna"]), ("saml", ["bob"]), ("none", [])):
            expected = list(
                User.select(User.username, User.created_at)
                .where(User.login_type == login_type)
                .order_by(User.username)
                .dicts()
            )
            with count_queries() as counter:
                found = USERS_BY_LOGIN.all(login_type)
            assert counter.count == 1
            assert [row["username"] for row in found] == names
            assert found == expected  # converted like peewee's own (datetimes, not text)


def test_a_placeholder_that_is_not_a_plain_value_is_refused(app):
    prepared = db.PreparedSelect(
        lambda prefix: User.select().where(User.username.startswith(prefix))
    )
    with db.database.connection_context():
        with pytest.raises(ValueError, match="plain value"):
            prepared.all("a")
