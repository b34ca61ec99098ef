"""The running version: package version as semver, with the commit as build metadata."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

EXTERNAL_URL = "https://github.com/pycoderd/pycoderd"


@functools.cache
def version() -> str:
    try:
        base = metadata.version("pycoderd")
    except metadata.PackageNotFoundError:
        base = "0.0.0"
    return f"v{base}+{_commit() or 'devel'}"


def _commit() -> str:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return ""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=7", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""
