"""The audit contract: every mutating /api route, and the audit entry a successful call writes.

HOW TO ADD YOUR ROUTE (tests/test_audit_contract.py fails while a POST/PUT/PATCH/DELETE route
under /api is served without an entry here, or an entry names a route that is not served):

    CONTRACT = {
        # (method, Flask rule exactly as app.url_map spells it): what one successful call writes
        ("POST", "/api/v0/users"): Audited("create", "user", example=create_user),
        ("DELETE", "/api/v0/images/<string:image_id>"): Audited(
            "delete", "image", checked_by="tests/test_images.py::test_delete_is_audited"
        ),
        ("POST", "/api/v2/csp/reports"): NotAudited("a browser's report: logged, changes nothing"),
    }

- `Audited(action, resource_type, example=..., checked_by=...)`: a successful call writes
  EXACTLY ONE entry with this `action` and `resource_type` (values from app/services/audit.py
  ACTIONS and RESOURCE_TYPES; add new ones there). Give either
  * `example`: a function `(env: Env) -> Call` that prepares what the call needs (users, tokens,
    objects, through tests/factories.py or env.client) and returns the request to send. The
    contract test sends it and checks: a 2xx answer and exactly one new entry with this action
    and resource type (and `resource_id`, when the example sets `Call.resource_id`); then it
    prepares the example AGAIN, makes the database refuse the audit insert, sends it, and checks
    that nothing at all changed in the database (the change and its entry share one
    transaction). Examples run once per call: use `env.unique()` for names. Or
  * `checked_by`: where the owner's own test checks the same thing, when the example needs
    fixtures the contract test does not have (containers, a registry...).
- `NotAudited(reason)`: the route changes nothing an audit log is about; say why.

Keep entries grouped by area, one line (or one call) each; keep everyone's lines on rebase.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Call:
    """The request an example sends. Headers default to the site admin's token."""

    path: str
    json: object = None
    headers: dict | None = None
    resource_id: str | None = None  # when set, the entry's resource_id must equal it


@dataclass(frozen=True)
class Audited:
    action: str
    resource_type: str
    example: Callable | None = None
    checked_by: str = ""


@dataclass(frozen=True)
class NotAudited:
    reason: str


@dataclass
class Env:
    """What an example may use: the test client, a site admin and their token."""

    client: object
    admin: object
    admin_token: str
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def unique(self, prefix: str = "c") -> str:
        return f"{prefix}{next(self._counter)}"


# --- examples ------------------------------------------------------------------------------


# --- the table -----------------------------------------------------------------------------

CONTRACT: dict[tuple[str, str], Audited | NotAudited] = {
    # v2 general
    ("POST", "/api/v2/csp/reports"): NotAudited(
        "a browser's Content-Security-Policy report: logged and counted, changes nothing"
    ),
}


def mutating_routes(app) -> set[tuple[str, str]]:
    """(method, rule) of every POST/PUT/PATCH/DELETE route the app serves under /api."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods & MUTATING
    }
