"""The update check: the latest release, fetched daily by the background process and stored."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import urllib.request

from app.services import snapshots

SNAPSHOT = "update_check"
INTERVAL = dt.timedelta(hours=24)
RETRY = dt.timedelta(minutes=10)
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


def fetch(url: str) -> dict:
    """`{version, url}` of the release described at `url` (GitHub's "latest release" document:
    `tag_name`, `html_url`)."""
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.github+json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        document = json.loads(response.read(MAX_BODY_BYTES))
    if not isinstance(document, dict):
        raise ValueError("the release document is not a JSON object")
    version = document.get("tag_name")
    if not isinstance(version, str) or not _SEMVER.match(version):
        raise ValueError(f"the release has no semantic version tag_name: {version!r}")
    html_url = document.get("html_url")
    return {"version": version, "url": html_url if isinstance(html_url, str) else ""}


def kind(url: str) -> snapshots.Kind:
    def check(now: dt.datetime) -> dict:
        try:
            return fetch(url)
        except (OSError, ValueError) as exc:
            raise snapshots.Failed(f"update check against {url} failed: {exc}") from exc

    return snapshots.Kind(SNAPSHOT, check, interval=INTERVAL, retry=RETRY)


def start_thread(app, stop: threading.Event) -> list[threading.Thread]:
    """Check once a day (a loop of the server's background process); nothing when turned off."""
    settings = app.config["SETTINGS"]
    if not settings["update_check"]:
        return []
    return [snapshots.start_thread(kind(settings["pycoderd.update_check_url"]), stop)]


def answer(running_version: str, running_url: str, enabled: bool) -> dict:
    """`{current, version, url}` from the last successful check; turned off or never checked
    (yet, or without a background process), it echoes the running version, as Coder does."""
    release = snapshots.load(SNAPSHOT) if enabled else None
    if release is None:
        return {"current": True, "version": running_version, "url": running_url}
    latest = release.data
    return {
        "current": compare(running_version, latest["version"]) >= 0,
        "version": latest["version"],
        "url": latest["url"],
    }
