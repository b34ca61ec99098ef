"""Logs: one access line per request at info, credentials kept out, formats as chosen."""

import json
import logging
import re

from tests.factories import make_token, make_user


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_access_line_per_request_without_credentials(make_app, tmp_path):
    log_file = tmp_path / "log.json"
    app = make_app(CODER_LOGGING_JSON=str(log_file))
    user = make_user(username="ada")
    token = make_token(user)
    client = app.test_client()
    assert client.get(f"/api/v0/users/me?coder_session_token={token}&x=1").status_code == 200
    assert client.get("/api/v2/users/me", headers={"Coder-Session-Token": token}).status_code == 200
    assert client.get("/api/v0/nowhere?token=jupyter-secret").status_code == 404

    access = [entry for entry in _lines(log_file) if entry["logger"] == "pycoderd.access"]
    assert [(e["method"], e["path"], e["status"], e["user"]) for e in access] == [
        ("GET", "/api/v0/users/me?coder_session_token=REDACTED&x=1", 200, "ada"),
        ("GET", "/api/v2/users/me", 200, "ada"),
        ("GET", "/api/v0/nowhere?token=REDACTED", 404, ""),
    ]
    for entry in access:
        assert entry["level"] == "info"
        assert entry["duration_ms"] >= 0
        assert len(entry["request_id"]) == 36
        assert entry["msg"].startswith(f"{entry['method']} {entry['path']} {entry['status']} ")
    text = log_file.read_text()
    assert token not in text and token.split("-")[1] not in text
    assert "jupyter-secret" not in text


def test_human_lines_name_the_user_and_carry_a_request_id_only_in_a_request(make_app, tmp_path):
    log_file = tmp_path / "log.txt"
    app = make_app(CODER_LOGGING_HUMAN=str(log_file))
    token = make_token(make_user(username="bob"))
    response = app.test_client().get("/api/v0/users/me", headers={"Session-Token": token})
    request_id = response.headers["X-Coder-Request-Id"]
    logging.getLogger("pycoderd.background").info("a line outside any request")
    lines = log_file.read_text().splitlines()
    access = [line for line in lines if "pycoderd.access:" in line]
    assert len(access) == 1
    pattern = (
        r"\[INFO\] pycoderd\.access: GET /api/v0/users/me 200 [0-9.]+ms user=bob "
        f"request_id={request_id}$"
    )
    assert re.search(pattern, access[0]), access[0]
    outside = [line for line in lines if "outside any request" in line]
    assert outside and outside[0].endswith("a line outside any request")
    assert all(not line.rstrip().endswith("request_id=") for line in lines)


def test_json_lines_outside_a_request_have_no_request_id(make_app, tmp_path):
    log_file = tmp_path / "log.json"
    make_app(CODER_LOGGING_JSON=str(log_file))
    logging.getLogger("pycoderd.provisioner").info("daemon started")
    (entry,) = [e for e in _lines(log_file) if e["msg"] == "daemon started"]
    assert "request_id" not in entry


def test_no_destination_no_access_record_and_a_handler_added_later_gets_its_lines(app, monkeypatch):
    """With logging.human and logging.json both empty the access line has nowhere to go: it is
    not even made. A handler attached later (as a library or an operator may) gets every line."""
    access = logging.getLogger("pycoderd.access")
    # pytest's capture handlers aside: what the app itself configured (a NullHandler)
    monkeypatch.setattr(logging.getLogger("pycoderd"), "handlers", [logging.NullHandler()])

    def no_record(*args, **kwargs):
        raise AssertionError("an access record was made with nowhere to write it")

    monkeypatch.setattr(access, "makeRecord", no_record)
    client = app.test_client()
    assert client.get("/api/v2/buildinfo").status_code == 200
    monkeypatch.undo()

    seen = []
    handler = logging.Handler()
    handler.emit = seen.append
    logging.getLogger("pycoderd").addHandler(handler)
    try:
        assert client.get("/api/v2/buildinfo").status_code == 200
    finally:
        logging.getLogger("pycoderd").removeHandler(handler)
    assert [r.getMessage().split(" ")[:3] for r in seen] == [["GET", "/api/v2/buildinfo", "200"]]


def test_request_ids_are_version_4_uuids_and_differ(client):
    import uuid

    ids = [client.get("/api/v2/buildinfo").headers["X-Coder-Request-Id"] for _ in range(50)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
