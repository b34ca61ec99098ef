"""Who is acting and from where: what a service needs to know about the request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user: object | None  # app.models.User, or None for anonymous and system actions
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    key_id: str = ""  # the API key the request authenticated with, if any

    @property
    def user_id(self) -> str | None:
        return self.user.id if self.user is not None else None

    @property
    def username(self) -> str:
        return self.user.username if self.user is not None else ""


SYSTEM = Caller(user=None, user_agent="pycoderd")
