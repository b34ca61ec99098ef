"""Dev URL host names under the wildcard access URL (SPEC §8), built and parsed; no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

NAME_RE = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_-]{0,41}[a-zA-Z0-9])?$")
_PORT_LABEL = re.compile(r"^(\d{1,5})--(.+)$")


@dataclass(frozen=True)
class NamedAddress:
    """`<name>--<username>`: a named dev URL, stored whole as its host label."""

    label: str


@dataclass(frozen=True)
class PortAddress:
    """`<port>--<workspace>-<username>`: a port of the workspace whose dev URL label is
    `<workspace>-<username>`, named or not."""

    port: int
    workspace_label: str


@dataclass(frozen=True)
class Wildcard:
    """The dev URL host pattern, e.g. `*.apps.example.com` served over https."""

    suffix: str  # lower-case host name after `*.`
    scheme: str
    port: str = ""  # ":8080" when the pattern names a port

    @classmethod
    def parse(cls, pattern: str, access_url: str = "") -> Wildcard | None:
        """`*.suffix`, `*.suffix:port` or `scheme://*.suffix`; None when empty or malformed."""
        pattern = (pattern or "").strip()
        if not pattern:
            return None
        scheme = ""
        if "://" in pattern:
            scheme, _, pattern = pattern.partition("://")
        pattern = pattern.rstrip("/")
        if not pattern.startswith("*.") or "/" in pattern:
            return None
        host, port = _split_port(pattern[2:])
        if not host or "*" in host:
            return None
        if not scheme:
            scheme = urlsplit(access_url).scheme if access_url else ""
        return cls(suffix=host.lower(), scheme=scheme or "http", port=f":{port}" if port else "")

    @classmethod
    def from_settings(cls, settings) -> Wildcard | None:
        return cls.parse(settings["wildcard_access_url"], settings["access_url"])

    def url(self, label: str) -> str:
        return f"{self.scheme}://{label}.{self.suffix}{self.port}"

    def label(self, host: str) -> str | None:
        """The dev URL label of a request's Host (`name--user`), or None when not ours."""
        hostname, _ = _split_port((host or "").strip().lower())
        if not hostname.endswith("." + self.suffix):
            return None
        label = hostname[: -len(self.suffix) - 1]
        if not label or "." in label:
            return None
        return label


def named_label(name: str, username: str) -> str:
    return f"{name}--{username}".lower()


def port_label(port: int, workspace: str, username: str) -> str:
    return f"{port}--{workspace}-{username}".lower()


def address(label: str) -> NamedAddress | PortAddress | None:
    """What a label names. Names start with a letter, so a label starting with digits is a
    port's; which workspace or dev URL it is, is decided by the stored labels (unique)."""
    match = _PORT_LABEL.match(label)
    if match:
        port = int(match.group(1))
        return PortAddress(port, match.group(2)) if 1 <= port <= 65535 else None
    if "--" in label and label[:1].isalpha():
        return NamedAddress(label)
    return None


def _split_port(host: str) -> tuple[str, str]:
    if host.startswith("["):  # IPv6 literal: never a dev URL
        return host, ""
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, port
    return host, ""
