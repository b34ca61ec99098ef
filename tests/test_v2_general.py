"""v2 general endpoints: build info, CSP reports, experiments, update check."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app import buildinfo, prometheus
from app.services import experiments, updatecheck
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


class _Releases(BaseHTTPRequestHandler):
    release: dict = {}
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        body = json.dumps(self.release).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def releases():
    """A release server on loopback serving whatever `handler.release` holds."""
    handler = type("Handler", (_Releases,), {"release": {}, "hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/releases/latest"
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_updatecheck_disabled_echoes_the_running_version(client, app):
    response = client.get("/api/v2/updatecheck")
    assert response.status_code == 200
    assert response.json == {
        "current": True,
        "version": app.config["BUILD_VERSION"],
        "url": buildinfo.EXTERNAL_URL,
    }


def _checked_app(make_app, releases):
    app = make_app(CODER_UPDATE_CHECK=True, CODER_UPDATE_CHECK_URL=releases.url)
    client = app.test_client()
    client.get("/healthz")  # the first request starts the background check
    assert app.extensions["pycoderd.updatecheck"].wait(30)
    return app, client


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
    assert releases.hits == 1, "answers come from the cache"


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
    app, client = _checked_app(make_app, releases)
    assert client.get("/api/v2/updatecheck").json["version"] == app.config["BUILD_VERSION"]


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
