"""The pycoderd command: users, tokens, db, openapi, and one-line errors."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from app import cli, db, options
from tests.conftest import base_config
from tests.support.live_server import free_port


def _env(tmp_path, pg_database):
    config = base_config(tmp_path, pg_database)
    env = {k: str(v) for k, v in config.items() if k.startswith("CODER_")}
    return env


def test_users_then_tokens_authenticate(app, tmp_path, pg_database, monkeypatch):
    for key, value in _env(tmp_path, pg_database).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    result = runner.invoke(
        cli.main, ["users", "create", "admin", "--email", "a@example.com", "--role", "site-admin"]
    )
    assert result.exit_code == 0, result.output
    user_id = result.output.strip()
    result = runner.invoke(cli.main, ["tokens", "create", "ci", "--user", "admin"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    key_id, secret = token.split("-")
    assert len(key_id) == 10 and len(secret) == 22
    db.close()
    client = app.test_client()
    for path, header in (
        ("/api/v0/users/me", "Session-Token"),
        ("/api/v2/users/me", "Coder-Session-Token"),
    ):
        response = client.get(path, headers={header: token})
        assert response.status_code == 200, response.json
        assert response.json["id"] == user_id


def test_duplicate_user_is_one_line_error(app, tmp_path, pg_database, monkeypatch):
    for key, value in _env(tmp_path, pg_database).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    args = ["users", "create", "bob", "--email", "b@example.com"]
    assert runner.invoke(cli.main, args).exit_code == 0
    result = runner.invoke(cli.main, args)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "already exists" in result.output


def test_token_lifetime_over_max(app, tmp_path, pg_database, monkeypatch):
    for key, value in _env(tmp_path, pg_database).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CODER_MAX_TOKEN_LIFETIME", "720h")
    runner = CliRunner()
    assert (
        runner.invoke(cli.main, ["users", "create", "c", "--email", "c@example.com"]).exit_code == 0
    )
    result = runner.invoke(cli.main, ["tokens", "create", "x", "--user", "c", "--lifetime", "31d"])
    assert result.exit_code == 1
    assert "lifetime must be less than 720h0m0s" in result.output


def test_bad_option_is_one_line_nonzero(tmp_path):
    env = {
        "CODER_API_RATE_LIMIT": "lots",
        "CODER_SQLITE_PATH": str(tmp_path / "x.db"),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == 'pycoderd: CODER_API_RATE_LIMIT: invalid integer "lots"'


def test_db_status_and_openapi_write(app, tmp_path, pg_database, monkeypatch):
    for key, value in _env(tmp_path, pg_database).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    result = runner.invoke(cli.main, ["db", "status"])
    assert result.exit_code == 0
    assert "0001_initial\tapplied" in result.output
    result = runner.invoke(cli.main, ["openapi", "write", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
    for version in ("v0", "v2"):
        document = json.loads((tmp_path / "docs" / f"openapi-{version}.json").read_text())
        assert document["paths"]


def test_server_help_lists_options():
    result = CliRunner().invoke(cli.main, ["server", "--help"])
    assert result.exit_code == 0
    assert "--access-url" in result.output
    assert "CODER_ACCESS_URL" in result.output


def _help_sections(text: str) -> dict[str, list[str]]:
    sections, current = {}, None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            current = sections.setdefault(line[:-1], [])
        elif current is not None and line.startswith("  -"):
            current.append(line.strip())
    return sections


def test_server_help_groups_options_as_coder_does_with_their_types():
    text = CliRunner().invoke(cli.main, ["server", "--help"], terminal_width=200).output
    sections = _help_sections(text)
    assert list(sections)[:3] == ["Options", "Networking options", "Networking / TLS options"]
    assert "pycoderd options" in sections
    assert sections.pop("Other options") == ["-h, --help  Show this message and exit."]
    lines = {
        next(word for word in line.split() if word.startswith("--")): line
        for lines in sections.values()
        for line in lines
    }
    assert lines["--access-url"] == "--access-url url, $CODER_ACCESS_URL"
    assert lines["--provisioner-daemons"] == "--provisioner-daemons int, $CODER_PROVISIONER_DAEMONS"
    assert lines["--session-duration"].startswith("--session-duration duration, ")
    assert lines["--update-check"].startswith("--update-check bool, ")
    assert lines["--experiments"].startswith("--experiments list, ")
    assert "--provisioner-daemons" in " ".join(sections["Provisioning options"])
    assert "--access-url" in " ".join(sections["Networking options"])
    assert " TEXT" not in text  # click's placeholder for an untyped value
    assert "downloaded from Maven" not in text  # pycoderd's own word where it differs
    # Every visible registry flag is listed once.
    visible = [o.flag for o in options.all_options() if o.flag and not o.hidden]
    assert sorted(lines) == sorted("--" + flag for flag in visible)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--provisioner-daemons", "-1"], {}, "--provisioner-daemons: must not be negative"),
        (["--provisioner-daemons", "lots"], {}, '--provisioner-daemons: invalid integer "lots"'),
        (
            [],
            {"CODER_PROVISIONER_DAEMONS": "-1"},
            "CODER_PROVISIONER_DAEMONS: must not be negative",
        ),
        (["--workspace-network", "moon"], {}, '--workspace-network: "moon" is not one of'),
        (["--proxy-trusted-origins", "nowhere"], {}, '--proxy-trusted-origins: "nowhere" is not'),
        (["--wildcard-access-url", "apps.example.com"], {}, "--wildcard-access-url: "),
    ],
)
@pytest.mark.backend("sqlite")
def test_an_option_error_names_the_flag_or_variable_that_was_used(tmp_path, args, env, message):
    env = {"CODER_SQLITE_PATH": str(tmp_path / "x.db"), "CODER_SECRET_KEY": "k", **env}
    result = CliRunner().invoke(cli.main, ["server", *args], env=env)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"pycoderd: {message}"), result.output


def _pg_missing_database_url() -> str:
    from urllib.parse import urlsplit, urlunsplit

    from tests import pg_available

    if not pg_available.available():
        pytest.skip("PostgreSQL does not answer: start it or set PYCODERD_TEST_PG_URL")
    return urlunsplit(urlsplit(pg_available.admin_url())._replace(path="/pycoderd_no_such_db"))


BAD_DATABASE_URLS = [
    ("notaurl", "not a URL"),
    ("mysql://coder@127.0.0.1/coder", 'unsupported scheme "mysql"'),
    ("postgresql://coder@127.0.0.1:5432", "no database name"),
    ("postgresql://coder@127.0.0.1:{free_port}/coder", "cannot connect: "),
    ("missing-database", 'database "pycoderd_no_such_db" does not exist'),
]


def _bad_url(url: str) -> str:
    if url == "missing-database":
        return _pg_missing_database_url()
    return url.format(free_port=free_port())


@pytest.mark.parametrize(("url", "reason"), BAD_DATABASE_URLS, ids=lambda v: v.split(":")[0])
@pytest.mark.parametrize(
    "command", [["db", "status"], ["users", "create", "x", "--email", "x@example.com"]]
)
@pytest.mark.backend("sqlite")
def test_bad_database_url_is_one_line_naming_the_option(tmp_path, url, reason, command):
    # No CODER_SECRET_KEY: its check must not speak before the database's.
    env = {"CODER_PG_CONNECTION_URL": _bad_url(url), "CODER_SECRET_KEY": None}
    result = CliRunner().invoke(cli.main, command, env=env)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("pycoderd: CODER_PG_CONNECTION_URL: "), result.output
    assert result.output.count("\n") == 1, result.output
    assert reason in result.output


@pytest.mark.parametrize(("url", "reason"), BAD_DATABASE_URLS[1::2], ids=["mysql", "unreachable"])
@pytest.mark.backend("sqlite")
def test_server_with_a_bad_database_url_exits_1_with_one_line(tmp_path, url, reason):
    env = {"CODER_PG_CONNECTION_URL": _bad_url(url), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "server"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("pycoderd: CODER_PG_CONNECTION_URL: "), result.stderr
    assert reason in result.stderr
