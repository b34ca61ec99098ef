"""The option registry: Coder's table, precedence of sources, and one-line errors."""

import pytest

from app import options


def test_table_is_consistent():
    assert options.check_table() == []


@pytest.mark.parametrize(
    "env",
    [
        "CODER_ACCESS_URL",
        "CODER_WILDCARD_ACCESS_URL",
        "CODER_HTTP_ADDRESS",
        "CODER_PG_CONNECTION_URL",
        "CODER_API_RATE_LIMIT",
        "CODER_DANGEROUS_DISABLE_RATE_LIMITS",
        "CODER_EXPERIMENTS",
        "CODER_UPDATE_CHECK",
        "CODER_MAX_TOKEN_LIFETIME",
        "CODER_SESSION_DURATION",
        "CODER_DISABLE_SESSION_EXPIRY_REFRESH",
        "CODER_DISABLE_PASSWORD_AUTH",
        "CODER_SSH_KEYGEN_ALGORITHM",
        "CODER_SSH_HOSTNAME_PREFIX",
        "CODER_SSH_CONFIG_OPTIONS",
        "CODER_SWAGGER_ENABLE",
        "CODER_PROMETHEUS_ENABLE",
        "CODER_PROMETHEUS_ADDRESS",
        "CODER_LOGGING_HUMAN",
        "CODER_LOGGING_JSON",
        "CODER_VERBOSE",
        "CODER_PROXY_TRUSTED_HEADERS",
        "CODER_PROXY_TRUSTED_ORIGINS",
        "CODER_SECURE_AUTH_COOKIE",
        "CODER_STRICT_TRANSPORT_SECURITY",
        "CODER_PROVISIONER_DAEMONS",
        "CODER_PROVISIONER_DAEMON_POLL_INTERVAL",
        "CODER_AGENT_STATS_REFRESH_INTERVAL",
        "CODER_CACHE_DIRECTORY",
        "CODER_DANGEROUS_ALLOW_CORS_REQUESTS",
        "CODER_SQLITE_PATH",
        "CODER_SECRET_KEY",
        "CODER_DOCKER_HOST",
        "CODER_WORKSPACE_NETWORK",
        "CODER_REGISTRY_INSECURE",
        "CODER_REGISTRY_ALLOWED",
        "CODER_AUTO_MIGRATE",
        "CODER_UPDATE_CHECK_URL",
        "CODER_RATE_LIMIT_STORAGE_URL",
    ],
)
def test_behaviour_options_exist_and_are_acted_on(env):
    option = options.find(env)
    assert option is not None, env
    assert option.acted_on, env


def test_defaults():
    settings = options.load(env={})
    assert settings["http_address"] == "127.0.0.1:3000"
    assert settings["rate_limit.api"] == 512
    assert settings["swagger.enable"] is True
    assert settings["max_token_lifetime"] > 0
    assert all(source == "default" for source in settings.sources.values())


def test_precedence_and_sources(tmp_path):
    config = tmp_path / "coder.yaml"
    http = options.find("CODER_HTTP_ADDRESS")
    verbose = options.find("CODER_VERBOSE")
    rate = options.find("CODER_PROVISIONER_DAEMONS")

    def nest(option, value):
        document = value
        for key in reversed(options.yaml_path(option)):
            document = {key: document}
        return document

    def merge(a, b):
        for key, value in b.items():
            if isinstance(value, dict) and isinstance(a.get(key), dict):
                merge(a[key], value)
            else:
                a[key] = value
        return a

    import yaml

    document = merge(merge(nest(http, "127.0.0.1:4000"), nest(verbose, True)), nest(rate, 10))
    config.write_text(yaml.safe_dump(document))
    settings = options.load(
        env={"CODER_CONFIG_PATH": str(config), "CODER_PROVISIONER_DAEMONS": "20"},
        flags={rate.flag: "30"},
    )
    assert settings["http_address"] == "127.0.0.1:4000"
    assert settings.source("http_address") == "yaml"
    assert settings["verbose"] is True
    assert settings["provisioner.daemons"] == 30
    assert settings.source("provisioner.daemons") == "flag"
    settings = options.load(
        env={"CODER_CONFIG_PATH": str(config), "CODER_PROVISIONER_DAEMONS": "20"}
    )
    assert settings["provisioner.daemons"] == 20
    assert settings.source("provisioner.daemons") == "env"
    settings = options.load(
        env={"CODER_PROVISIONER_DAEMONS": "20"}, overrides={"provisioner.daemons": 7}
    )
    assert settings["provisioner.daemons"] == 7


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"CODER_API_RATE_LIMIT": "lots"}, 'CODER_API_RATE_LIMIT: invalid integer "lots"'),
        ({"CODER_VERBOSE": "maybe"}, 'CODER_VERBOSE: invalid boolean "maybe"'),
        ({"CODER_HTTP_ADDRESS": "nowhere"}, "CODER_HTTP_ADDRESS: invalid address"),
        ({"CODER_MAX_TOKEN_LIFETIME": "forever"}, "CODER_MAX_TOKEN_LIFETIME: invalid duration"),
        ({"CODER_ACCESS_URL": "not a url"}, "CODER_ACCESS_URL: invalid URL"),
        ({"CODER_SSH_CONFIG_OPTIONS": "Nonsense"}, "has no separator"),
        ({"CODER_WORKSPACE_NETWORK": "mesh"}, "CODER_WORKSPACE_NETWORK"),
    ],
)
def test_bad_values_name_the_option(env, fragment):
    with pytest.raises(options.OptionError) as caught:
        options.load(env=env)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: [unclosed")
    with pytest.raises(options.OptionError, match="CODER_CONFIG_PATH"):
        options.load(env={"CODER_CONFIG_PATH": str(path)})


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("1s", 10**9),
        ("1h30m", 5400 * 10**9),
        ("24h0m0s", 86400 * 10**9),
        ("300ms", 3 * 10**8),
        ("1.5h", 5400 * 10**9),
    ],
)
def test_durations(text, nanoseconds):
    assert options.parse_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [(86400 * 10**9, "24h0m0s"), (10**9, "1s"), (90 * 10**9, "1m30s"), (0, "0s")],
)
def test_duration_format(nanoseconds, text):
    assert options.format_duration(nanoseconds) == text
