"""A database that cannot be reached answers 503 in the request's envelope, never 500."""

import pytest

from tests.conftest import base_config
from tests.support.live_server import free_port

TOKEN = "abcdefghij-abcdefghijabcdefghijab"


@pytest.fixture
def unreachable_client(tmp_path, make_app):
    # Nothing listens on a just-freed loopback port: connecting is refused at once.
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/pycoderd"
    from app import create_app

    app = create_app({**base_config(tmp_path), "CODER_PG_CONNECTION_URL": url})
    return app.test_client()


def test_v0_envelope(unreachable_client):
    response = unreachable_client.get("/api/v0/users/me", headers={"Session-Token": TOKEN})
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "unavailable"
    assert error["msg"] == "The database is unavailable. Try again shortly."


def test_v2_envelope(unreachable_client):
    response = unreachable_client.get("/api/v2/users/me", headers={"Coder-Session-Token": TOKEN})
    assert response.status_code == 503
    assert response.get_json() == {"message": "The database is unavailable. Try again shortly."}


def test_routes_without_the_database_still_answer(unreachable_client):
    assert unreachable_client.get("/healthz").status_code == 200
    assert unreachable_client.get("/api/v2/").status_code == 200
