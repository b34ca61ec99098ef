"""The option registry: every setting, where its value came from, and how it is shown."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import yaml

from app.coder_options import GROUPS, OPTIONS
from app.option_types import VALUE_TYPES, Option

SOURCES = ("default", "yaml", "env", "flag", "override")

_GROUPS_BY_NAME = {group.name: group for group in GROUPS}
_BY_KEY = {option.key: option for option in OPTIONS}
_BY_ENV = {option.env: option for option in OPTIONS if option.env}
_BY_FLAG = {option.flag: option for option in OPTIONS if option.flag}


class OptionError(ValueError):
    """A setting whose value cannot be used; the message names the option."""


def all_options() -> tuple[Option, ...]:
    return OPTIONS


def find(name: str) -> Option | None:
    """Look an option up by key, env name or flag name."""
    return _BY_KEY.get(name) or _BY_ENV.get(name) or _BY_FLAG.get(name.lstrip("-"))


def group_names() -> list[str]:
    """Every group's name, in the registry's order (Coder's)."""
    return [group.name for group in GROUPS]


def name_as_given(message: str, flags: Mapping) -> str:
    """An OptionError message naming an option by its environment variable ("CODER_X: …"),
    renamed to the option's flag ("--x: …") when the value came from that flag (`flags` keyed
    by option key, as `load` takes them)."""
    name, sep, rest = message.partition(": ")
    option = _BY_ENV.get(name)
    if sep and option is not None and option.flag and option.key in flags:
        return f"--{option.flag}: {rest}"
    return message


def group_path(option: Option) -> list:
    """The option's groups, outermost first."""
    path = []
    name = option.group
    while name:
        group = _GROUPS_BY_NAME[name]
        path.insert(0, group)
        name = group.parent
    return path


def yaml_path(option: Option) -> list[str] | None:
    if not option.yaml:
        return None
    return [group.yaml for group in group_path(option) if group.yaml] + [option.yaml]


# --- parsing -------------------------------------------------------------------------------

_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Parse a Go duration ("1h30m", "24h0m0s", "300ms") into nanoseconds."""
    text = text.strip()
    sign = 1
    if text[:1] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError("empty duration")
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f'invalid duration "{text}" (use Go syntax such as 30s, 5m, 24h0m0s)')
    return sign * int(round(total))


def format_duration(nanoseconds: int) -> str:
    """Render nanoseconds the way Go's time.Duration.String does (whole units only)."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    rest = abs(nanoseconds)
    if rest < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if rest >= size:
                return f"{sign}{rest / size:g}{unit}"
    hours, rest = divmod(rest, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = rest / 1_000_000_000
    text = f"{seconds:g}s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


def parse_value(option: Option, raw):
    """Turn a raw value (text from env/flags, or a YAML/Python value) into the option's type."""
    kind = option.type
    if kind == "struct":
        if isinstance(raw, str):
            raw = raw.strip()
            return yaml.safe_load(raw) if raw else None
        return raw
    if kind == "string-array":
        if raw is None:
            return []
        if isinstance(raw, list | tuple):
            return [str(item) for item in raw]
        return [part.strip() for part in str(raw).split(",") if part.strip()]
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f'invalid boolean "{raw}" (use true or false)')
    if kind == "int":
        if isinstance(raw, bool):
            raise ValueError(f'invalid integer "{raw}"')
        if isinstance(raw, int):
            return raw
        text = str(raw).strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f'invalid integer "{raw}"')
        return int(text)
    if kind == "float":
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ValueError(f'invalid number "{raw}"') from None
    if kind == "duration":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        return parse_duration(str(raw))
    if kind == "url":
        text = "" if raw is None else str(raw).strip()
        # A wildcard host ("*.apps.example.com", the wildcard access URL) needs no scheme.
        if text and not text.startswith("*."):
            parts = urlsplit(text)
            if not parts.scheme or not (parts.netloc or parts.path):
                raise ValueError(f'invalid URL "{text}" (expected scheme://host)')
        return text
    if kind == "host:port":
        text = "" if raw is None else str(raw).strip()
        if text:
            host, sep, port = text.rpartition(":")
            if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError(f'invalid address "{text}" (expected host:port)')
        return text
    if kind == "string":
        return "" if raw is None else str(raw)
    raise ValueError(
        f"unknown option type {kind!r}"
    )  # pragma: no cover - table is checked in tests


def _label(option: Option, source: str) -> str:
    if source == "env" and option.env:
        return option.env
    if source == "flag" and option.flag:
        return "--" + option.flag
    if source == "yaml" and option.yaml:
        return ".".join(yaml_path(option))
    return option.env or option.key


# --- the loaded settings -------------------------------------------------------------------


class Settings(Mapping):
    """Every option's value (by key) and where it came from."""

    def __init__(self, values: dict, sources: dict):
        self._values = values
        self.sources = sources

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def source(self, key: str) -> str:
        return self.sources[key]


def load(
    *,
    env: Mapping | None = None,
    flags: Mapping | None = None,
    overrides: Mapping | None = None,
    config_path: str | None = None,
) -> Settings:
    """Load settings: defaults, then the YAML file, then env, then flags, then overrides.

    `flags` and `overrides` are keyed by option key, env name or flag name. Raises OptionError
    with one line naming the option when a value cannot be used.
    """
    env = os.environ if env is None else env
    values: dict = {}
    sources: dict = {}

    def put(option: Option, raw, source: str):
        try:
            values[option.key] = parse_value(option, raw)
        except ValueError as exc:
            raise OptionError(f"{_label(option, source)}: {exc}") from None
        sources[option.key] = source

    for option in OPTIONS:
        put(option, option.default, "default")

    path = config_path or env.get("CODER_CONFIG_PATH") or ""
    if overrides and overrides.get("CODER_CONFIG_PATH"):
        path = overrides["CODER_CONFIG_PATH"]
    if path:
        for option, raw in _read_yaml(path):
            put(option, raw, "yaml")

    for option in OPTIONS:
        if option.env and option.env in env:
            put(option, env[option.env], "env")

    for source, mapping in (("flag", flags or {}), ("override", overrides or {})):
        for name, raw in mapping.items():
            option = find(name)
            if option is None:
                raise OptionError(f"{name}: unknown option")
            put(option, raw, source)

    settings = Settings(values=values, sources=sources)
    _check(settings)
    return settings


def _read_yaml(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise OptionError(f"CODER_CONFIG_PATH: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise OptionError(f"CODER_CONFIG_PATH: {path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise OptionError(f"CODER_CONFIG_PATH: {path} must hold a mapping")
    for option in OPTIONS:
        keys = yaml_path(option)
        if not keys:
            continue
        node = document
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            yield option, node


_SSH_SEPARATOR = re.compile(r"[ =]")


def split_ssh_option(entry: str) -> tuple[str, str]:
    """Split an SSH config option at the first space or `=` (ValueError when it has neither)."""
    entry = entry.strip()
    match = _SSH_SEPARATOR.search(entry)
    if match is None:
        raise ValueError(f'"{entry}" has no separator (write "Key value" or "Key=value")')
    return entry[: match.start()], entry[match.end() :]


def _check(settings: Settings) -> None:
    """Cross-option rules that a single value cannot express."""
    for line in settings.get("config_ssh.SSHConfigOptions", []) or []:
        try:
            split_ssh_option(line)
        except ValueError as exc:
            raise OptionError(f"{_BY_KEY['config_ssh.SSHConfigOptions'].env}: {exc}") from None
    algorithm = settings.get("ssh_keygen_algorithm")
    if algorithm is not None and algorithm not in ("ed25519", "ecdsa", "rsa4096"):
        raise OptionError(
            f'CODER_SSH_KEYGEN_ALGORITHM: unsupported algorithm "{algorithm}" '
            "(use ed25519, ecdsa or rsa4096)"
        )
    network = settings.get("pycoderd.workspace_network")
    if network is not None and network not in ("bridge", "host"):
        raise OptionError(f'CODER_WORKSPACE_NETWORK: "{network}" is not one of bridge, host')
    classic = settings.get("pycoderd.classic_api_version")
    if classic is not None and not (classic.strip() and classic.isprintable()):
        raise OptionError("CODER_CLASSIC_API_VERSION: must be a version such as 1.20.0")
    for key in (
        "rate_limit.api",
        "provisioner.daemons",
        "pycoderd.workers",
        "pycoderd.devurl_websocket_limit",
        "pycoderd.devurl_websocket_idle_timeout",
        "pycoderd.websocket_limit",
        "pycoderd.websocket_idle_timeout",
    ):
        if key in settings and settings[key] < 0:
            raise OptionError(f"{_BY_KEY[key].env}: must not be negative")


def check_table() -> list[str]:
    """Problems in the option table itself (used by the tests)."""
    problems = []
    seen: dict = {}
    for option in OPTIONS:
        if option.type not in VALUE_TYPES:
            problems.append(f"{option.key}: unknown type {option.type}")
        if option.group and option.group not in _GROUPS_BY_NAME:
            problems.append(f"{option.key}: unknown group {option.group}")
        for attr in ("key", "env", "flag"):
            value = getattr(option, attr)
            if value and (attr, value) in seen:
                problems.append(f"{attr} {value} used twice")
            seen[(attr, value)] = option
    return problems
