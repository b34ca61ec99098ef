"""The update check: the latest release, fetched in the background and cached per process."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import threading
import urllib.request

from app.services import periodic

log = logging.getLogger("pycoderd.updatecheck")

INTERVAL_SECONDS = 24 * 3600
RETRY_SECONDS = 600
TIMEOUT_SECONDS = 10
MAX_BODY_BYTES = 1 << 20

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


def _prerelease_key(text: str | None):
    # A release sorts after every pre-release of the same version; numeric identifiers sort
    # numerically and before alphanumeric ones (semver.org §11).
    if text is None:
        return (1,)
    return (0, *[(0, int(p), "") if p.isdigit() else (1, 0, p) for p in text.split(".")])


def compare(a: str, b: str) -> int:
    """Compare two semantic versions as Go's x/mod/semver does (build metadata ignored).

    An invalid version sorts before every valid one; two invalid versions are equal.
    """
    ma, mb = _SEMVER.match(a.strip()), _SEMVER.match(b.strip())
    if not ma or not mb:
        return (1 if ma else 0) - (1 if mb else 0)
    ka = (tuple(int(x) for x in ma.group(1, 2, 3)), _prerelease_key(ma.group(4)))
    kb = (tuple(int(x) for x in mb.group(1, 2, 3)), _prerelease_key(mb.group(4)))
    return (ka > kb) - (ka < kb)


@dataclasses.dataclass(frozen=True)
class Release:
    version: str
    url: str
    checked_at: dt.datetime


class Checker:
    """Fetch `{tag_name, html_url}` from `url` (a GitHub "latest release" document)."""

    def __init__(self, url: str):
        self.url = url
        self._latest: Release | None = None
        self._attempted = threading.Event()
        self._ok = True
        self._job = periodic.Periodic("update-check", self.check, self._next_interval)

    def start(self) -> None:
        self._job.start()

    @property
    def started(self) -> bool:
        return self._job.started

    def stop(self) -> None:
        self._job.stop()

    def wait(self, timeout: float) -> bool:
        """Wait for the first attempt to finish; True when it has."""
        return self._attempted.wait(timeout)

    def latest(self) -> Release | None:
        """The last release seen, or None when no check has succeeded yet."""
        return self._latest

    def _next_interval(self) -> float:
        return INTERVAL_SECONDS if self._ok else RETRY_SECONDS

    def check(self) -> None:
        try:
            self._latest = self.fetch()
            self._ok = True
        except (OSError, ValueError) as exc:
            self._ok = False
            log.warning("update check against %s failed: %s", self.url, exc)
        finally:
            self._attempted.set()

    def fetch(self) -> Release:
        request = urllib.request.Request(
            self.url, headers={"Accept": "application/vnd.github+json"}
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            document = json.loads(response.read(MAX_BODY_BYTES))
        if not isinstance(document, dict):
            raise ValueError("the release document is not a JSON object")
        version = document.get("tag_name")
        if not isinstance(version, str) or not _SEMVER.match(version):
            raise ValueError(f"the release has no semantic version tag_name: {version!r}")
        url = document.get("html_url")
        return Release(
            version=version,
            url=url if isinstance(url, str) else "",
            checked_at=dt.datetime.now(dt.UTC),
        )


def answer(running_version: str, running_url: str, checker: Checker | None) -> dict:
    """`{current, version, url}`; disabled or never checked echoes the running version."""
    release = checker.latest() if checker is not None else None
    if release is None:
        return {"current": True, "version": running_version, "url": running_url}
    return {
        "current": compare(running_version, release.version) >= 0,
        "version": release.version,
        "url": release.url,
    }
