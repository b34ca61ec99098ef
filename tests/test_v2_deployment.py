"""v2 deployment config and SSH settings: real values, wire format, secrets never shown."""

import subprocess
import sys

import pytest

from app import create_app, options
from tests.conftest import base_config
from tests.factories import auth_headers, make_token, make_user

SECRETS = {
    "CODER_OAUTH2_GITHUB_CLIENT_SECRET": "gh-secret-0123456789",
    "CODER_OIDC_CLIENT_SECRET": "oidc-secret-0123456789",
    "CODER_TRACE_HONEYCOMB_API_KEY": "honeycomb-secret-0123456789",
    "CODER_SCIM_AUTH_HEADER": "scim-secret-0123456789",
}


def _admin_get(client, path):
    token = make_token(make_user("site-admin"))
    return client.get(path, headers=auth_headers(token))


@pytest.mark.parametrize("path", ["/api/v2/deployment/config"])
@pytest.mark.parametrize("roles", [(), ("site-manager",), ("site-auditor",)])
def test_config_is_for_site_admins_only(client, path, roles):
    token = make_token(make_user(*roles))
    response = client.get(path, headers=auth_headers(token))
    assert response.status_code == 403
    assert response.json == {"message": "Forbidden."}


def test_config_needs_a_session(client):
    assert client.get("/api/v2/deployment/config").status_code == 401


def test_secrets_from_env_come_back_blank(make_app, monkeypatch):
    for name in SECRETS:
        assert options.find(name) is not None and options.find(name).secret, name
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CODER_VERBOSE", "true")
    app = make_app(IGNORE_ENV=False)
    response = _admin_get(app.test_client(), "/api/v2/deployment/config")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for value in [*SECRETS.values(), app.config["SECRET_KEY"]]:
        assert value not in text
    by_env = {option["env"]: option for option in response.json["options"] if "env" in option}
    for name in [*SECRETS, "CODER_SECRET_KEY", "CODER_PG_CONNECTION_URL"]:
        option = by_env[name]
        assert option["value"] == "", name
        assert option["annotations"]["secret"] == "true", name
    assert by_env["CODER_OIDC_CLIENT_SECRET"]["value_source"] == "env"
    assert response.json["config"]["oidc"]["client_secret"] == ""
    assert "scim_api_key" not in response.json["config"]


def test_value_sources(make_app, monkeypatch, tmp_path):
    config_file = tmp_path / "coder.yaml"
    config_file.write_text("networking:\n  http:\n    disablePasswordAuth: true\n")
    monkeypatch.setenv("CODER_VERBOSE", "true")
    monkeypatch.setenv("CODER_CONFIG_PATH", str(config_file))
    app = make_app(IGNORE_ENV=False, OPTION_FLAGS={"ssh-keygen-algorithm": "rsa4096"})
    body = _admin_get(app.test_client(), "/api/v2/deployment/config").json
    by_env = {option.get("env"): option for option in body["options"]}
    assert by_env["CODER_VERBOSE"]["value_source"] == "env"
    assert by_env["CODER_VERBOSE"]["value"] is True
    assert by_env["CODER_DISABLE_PASSWORD_AUTH"]["value_source"] == "yaml"
    assert by_env["CODER_SSH_KEYGEN_ALGORITHM"]["value_source"] == "flag"
    assert by_env["CODER_SSH_KEYGEN_ALGORITHM"]["value"] == "rsa4096"
    assert by_env["CODER_ACCESS_URL"]["value_source"] == "default"


def test_config_wire_format(make_app):
    app = make_app(
        CODER_ACCESS_URL="https://coder.example.com",
        CODER_MAX_TOKEN_LIFETIME="2h30m",
        CODER_PROXY_TRUSTED_HEADERS="X-Forwarded-For",
    )
    body = _admin_get(app.test_client(), "/api/v2/deployment/config").json
    config = body["config"]
    assert config["access_url"] == "https://coder.example.com"
    assert config["wildcard_access_url"] == ""  # URLs are structs in Coder: never omitted
    assert config["http_address"] == "127.0.0.1:3000"
    assert config["max_token_lifetime"] == 9_000_000_000_000
    assert config["agent_stat_refresh_interval"] == 30_000_000_000
    assert config["proxy_trusted_headers"] == ["X-Forwarded-For"]
    assert config["rate_limit"] == {"disable_all": True, "api": 512}
    assert config["config_ssh"] == {"DeploymentName": "coder.", "SSHConfigOptions": []}
    assert config["oidc"]["auth_url_params"] == {"access_type": "offline"}
    assert config["git_auth"] is None
    # Top-level zero values are left out, as Go's omitempty does.
    for key in ("verbose", "experiments", "in_memory_database", "strict_transport_security"):
        assert key not in config, key
    option = next(o for o in body["options"] if o.get("env") == "CODER_MAX_TOKEN_LIFETIME")
    assert option["value"] == 9_000_000_000_000
    assert option["default"] == "876600h0m0s"
    address = next(o for o in body["options"] if o["name"] == "Address")
    assert address["hidden"] is True
    assert [o["name"] for o in address["use_instead"]] == ["HTTP Address", "TLS Address"]
    tls = next(o for o in body["options"] if o["name"] == "TLS Address")
    assert tls["group"] == {
        "name": "TLS",
        "yaml": "tls",
        "description": tls["group"]["description"],
        "parent": {"name": "Networking", "yaml": "networking"},
    }
    assert len(body["options"]) == len(options.all_options())


def test_ssh_config(make_app):
    app = make_app(
        CODER_SSH_CONFIG_OPTIONS="bar=buzz=bazz,test value", CODER_SSH_HOSTNAME_PREFIX="dev."
    )
    token = make_token(make_user())
    response = app.test_client().get("/api/v2/deployment/ssh", headers=auth_headers(token))
    assert response.status_code == 200
    assert response.json == {
        "hostname_prefix": "dev.",
        "ssh_config_options": {"bar": "buzz=bazz", "test": "value"},
    }


def test_ssh_config_defaults(client):
    token = make_token(make_user())
    response = client.get("/api/v2/deployment/ssh", headers=auth_headers(token))
    assert response.json == {"hostname_prefix": "coder.", "ssh_config_options": {}}
    assert client.get("/api/v2/deployment/ssh").status_code == 401


def test_ssh_option_without_separator_refuses_to_start(tmp_path):
    with pytest.raises(options.OptionError, match="CODER_SSH_CONFIG_OPTIONS"):
        create_app({**base_config(tmp_path), "CODER_SSH_CONFIG_OPTIONS": "good=1,novalue"})


def test_server_refuses_to_start_with_a_one_line_error(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CODER_SQLITE_PATH": str(tmp_path / "x.db"),
        "CODER_SSH_CONFIG_OPTIONS": "novalue",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "server"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'pycoderd: CODER_SSH_CONFIG_OPTIONS: "novalue" has no separator '
        '(write "Key value" or "Key=value")'
    )
