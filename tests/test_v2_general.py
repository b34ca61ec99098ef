"""v2 general endpoints: build info, CSP reports, experiments, update check."""

import datetime as dt
import json
import threading

import pytest

from app import buildinfo, db, prometheus
from app.models.base import utcnow
from app.services import experiments, snapshots, updatecheck
from tests.factories import auth_headers, make_token, make_user


def test_buildinfo(make_app):
    client = make_app(CODER_ACCESS_URL="https://coder.example.com").test_client()
    response = client.get("/api/v2/buildinfo")
    assert response.status_code == 200
    body = response.json
    assert body == {
        "external_url": buildinfo.EXTERNAL_URL,
        "version": response.headers["X-Coder-Build-Version"],
        "dashboard_url": "https://coder.example.com",
        "workspace_proxy": False,
    }
    assert updatecheck._SEMVER.match(body["version"]), body["version"]
    assert "+" in body["version"]


def test_buildinfo_without_access_url_names_the_http_address(make_app):
    client = make_app(CODER_HTTP_ADDRESS="127.0.0.1:3999").test_client()
    assert client.get("/api/v2/buildinfo").json["dashboard_url"] == "http://127.0.0.1:3999"


def _csp_count(directive):
    metrics = prometheus.metrics()
    return metrics.csp_violations.labels(directive=directive)._value.get() if metrics else 0.0


def _json_log(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_csp_report_is_logged_and_counted(make_app, tmp_path):
    log = tmp_path / "log.json"
    client = make_app(CODER_PROMETHEUS_ENABLE=True, CODER_LOGGING_JSON=str(log)).test_client()
    before = _csp_count("script-src")
    report = {
        "document-uri": "https://coder.example.com/",
        "effective-directive": "script-src",
        "blocked-uri": "inline",
    }
    response = client.post(
        "/api/v2/csp/reports",
        data=json.dumps({"csp-report": report}),
        content_type="application/csp-report",
    )
    assert response.status_code == 200
    assert response.json == "ok"
    lines = [line for line in _json_log(log) if line.get("logger") == "pycoderd.csp"]
    assert len(lines) == 1, _json_log(log)
    assert lines[0]["level"] == "warning"
    assert "script-src" in lines[0]["msg"]
    assert lines[0]["request_id"] == response.headers["X-Coder-Request-Id"]
    assert _csp_count("script-src") == before + 1


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"{}", b'{"csp-report": "x"}', b'{"csp-report": null}', b"[1]"],
)
def test_csp_report_rejects_anything_else(make_app, tmp_path, body):
    log = tmp_path / "log.json"
    client = make_app(CODER_LOGGING_JSON=str(log)).test_client()
    response = client.post("/api/v2/csp/reports", data=body)
    assert response.status_code == 400
    assert response.json["message"] in ("Validation failed.", "Request body must be valid JSON.")
    assert not [line for line in _json_log(log) if line.get("logger") == "pycoderd.csp"]


def test_experiments_need_a_session(client):
    response = client.get("/api/v2/experiments")
    assert response.status_code == 401
    assert response.json["message"].startswith("You are signed out")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        ("foo,BAR", ["foo", "bar"]),
        ("*", list(experiments.SAFE)),
        ("*,Moons,moons", [*experiments.SAFE, "moons"]),
    ],
)
def test_experiments(make_app, raw, expected):
    client = make_app(CODER_EXPERIMENTS=raw).test_client()
    token = make_token(make_user())
    response = client.get("/api/v2/experiments", headers=auth_headers(token))
    assert response.status_code == 200
    assert response.json == expected


def test_experiments_star_expands_to_the_safe_list(monkeypatch):
    monkeypatch.setattr(experiments, "SAFE", ("one", "two"))
    assert experiments.enabled(["*", "THREE"]) == ["one", "two", "three"]


# --- update check ----------------------------------------------------------------------------


def _echo(app) -> dict:
    return {"current": True, "version": app.config["BUILD_VERSION"], "url": buildinfo.EXTERNAL_URL}


def test_updatecheck_disabled_echoes_the_running_version(client, app):
    response = client.get("/api/v2/updatecheck")
    assert response.status_code == 200
    assert response.json == _echo(app)


def _check_once(app) -> None:
    """One round of the background process's update check."""
    settings = app.config["SETTINGS"]
    with db.database.connection_context():
        snapshots.refresh(updatecheck.kind(settings["pycoderd.update_check_url"]))


def _checked_app(make_app, releases):
    app = make_app(CODER_UPDATE_CHECK=True, CODER_UPDATE_CHECK_URL=releases.url)
    _check_once(app)
    return app, app.test_client()


def test_updatecheck_never_fetches_from_the_api(make_app, releases):
    """Before the background process has checked, the running version is echoed."""
    releases.release = {"tag_name": "v99.1.0", "html_url": "https://example.com/r/v99.1.0"}
    app = make_app(CODER_UPDATE_CHECK=True, CODER_UPDATE_CHECK_URL=releases.url)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/v2/updatecheck").json == _echo(app)
    assert releases.hits == 0


def test_updatecheck_reports_a_newer_release(make_app, releases):
    releases.release = {"tag_name": "v99.1.0", "html_url": "https://example.com/r/v99.1.0"}
    app, client = _checked_app(make_app, releases)
    response = client.get("/api/v2/updatecheck")
    assert response.json == {
        "current": False,
        "version": "v99.1.0",
        "url": "https://example.com/r/v99.1.0",
    }
    assert releases.hits == 1
    client.get("/api/v2/updatecheck")
    _check_once(app)  # not due for a day
    assert releases.hits == 1, "answers come from the stored check"


def test_updatecheck_turned_off_ignores_a_stored_check(make_app, releases):
    releases.release = {"tag_name": "v99.1.0", "html_url": "https://example.com/r/v99.1.0"}
    _checked_app(make_app, releases)
    app = make_app(CODER_UPDATE_CHECK=False)
    assert app.test_client().get("/api/v2/updatecheck").json == _echo(app)


def test_updatecheck_equal_release_is_current(make_app, releases):
    running = buildinfo.version().split("+", 1)[0]
    releases.release = {"tag_name": running, "html_url": "https://example.com/r"}
    app, client = _checked_app(make_app, releases)
    assert client.get("/api/v2/updatecheck").json == {
        "current": True,
        "version": running,
        "url": "https://example.com/r",
    }


def test_updatecheck_failed_check_echoes_the_running_version(make_app, releases):
    releases.release = {"tag_name": "not a version"}
    app = make_app(CODER_UPDATE_CHECK=True, CODER_UPDATE_CHECK_URL=releases.url)
    with pytest.raises(snapshots.Failed, match="no semantic version tag_name"):
        _check_once(app)
    assert app.test_client().get("/api/v2/updatecheck").json == _echo(app)


def test_updatecheck_failure_keeps_the_last_release_and_retries_in_ten_minutes(make_app, releases):
    releases.release = {"tag_name": "v99.1.0", "html_url": "https://example.com/r/v99.1.0"}
    app, client = _checked_app(make_app, releases)
    kind = updatecheck.kind(releases.url)
    releases.release = {"tag_name": "garbage"}
    a_day_later = utcnow() + dt.timedelta(days=1, seconds=1)
    with db.database.connection_context():
        with pytest.raises(snapshots.Failed):
            snapshots.refresh(kind, a_day_later)
        assert snapshots.refresh(kind, a_day_later + dt.timedelta(minutes=9)) is None
        assert snapshots.load(updatecheck.SNAPSHOT).refresh_after == a_day_later + updatecheck.RETRY
    assert releases.hits == 2
    assert client.get("/api/v2/updatecheck").json["version"] == "v99.1.0"


def test_updatecheck_loop_is_off_with_the_check(make_app):
    stop = threading.Event()
    assert updatecheck.start_thread(make_app(CODER_UPDATE_CHECK=False), stop) == []


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("v1.2.3", "v1.2.3", 0),
        ("v1.2.3+abc", "v1.2.3", 0),
        ("v1.2.3", "v1.10.0", -1),
        ("v2.0.0", "v1.99.99", 1),
        ("v1.0.0-rc.1", "v1.0.0", -1),
        ("v1.0.0-rc.2", "v1.0.0-rc.10", -1),
        ("v1.0.0-alpha", "v1.0.0-1", 1),
        ("garbage", "v0.0.1", -1),
        ("garbage", "nonsense", 0),
    ],
)
def test_semver_compare(a, b, expected):
    assert updatecheck.compare(a, b) == expected
