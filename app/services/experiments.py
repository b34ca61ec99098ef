"""Experiments: which opt-in features the deployment enabled (Coder's ReadExperiments)."""

from __future__ import annotations

import logging

log = logging.getLogger("pycoderd.experiments")

# Experiments safe for everyone, enabled together by `*`. pycoderd has none of its own yet:
# every other name is accepted and reported (clients may gate features on it) but changes
# nothing here.
SAFE: tuple[str, ...] = ()


def enabled(raw) -> list[str]:
    """The enabled experiments: lower-cased, `*` expanded to SAFE, first occurrence kept."""
    result: list[str] = []
    for entry in raw or ():
        names = SAFE if entry.strip() == "*" else (entry.strip().lower(),)
        for name in names:
            if name and name not in result:
                if name not in SAFE:
                    log.warning("opting into hidden experiment %r", name)
                result.append(name)
    return result
