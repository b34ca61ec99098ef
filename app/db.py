"""The database: one DatabaseProxy, bound to SQLite or PostgreSQL by the app factory."""

from __future__ import annotations

import os
import threading
import weakref
from pathlib import Path
from urllib.parse import urlsplit

from peewee import (
    DatabaseError,
    DatabaseProxy,
    Field,
    InterfaceError,
    OperationalError,
    SqliteDatabase,
    _StringField,
)
from playhouse.db_url import connect as connect_url
from playhouse.migrations import Runner
from playhouse.pool import PooledSqliteDatabase

from app.options import OptionError

database = DatabaseProxy()

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 10_000,
    "foreign_keys": 1,
    "synchronous": "normal",
    "cache_size": -16_000,
}


PG_URL_OPTION = "CODER_PG_CONNECTION_URL"
PG_URL_EXAMPLE = "postgresql://user:password@host:5432/database"


def check_pg_url(url: str) -> None:
    """Refuse a value that is not a PostgreSQL URL, in one line naming the option (never echoing
    the value: it may hold a password)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        message = f"{PG_URL_OPTION}: not a URL ({exc}); expected {PG_URL_EXAMPLE}"
        raise OptionError(message) from None
    if "://" not in url or not parts.scheme:
        raise OptionError(
            f"{PG_URL_OPTION}: not a URL; expected {PG_URL_EXAMPLE} "
            "(or nothing, for the embedded SQLite database)"
        )
    if parts.scheme not in ("postgres", "postgresql"):
        raise OptionError(
            f'{PG_URL_OPTION}: unsupported scheme "{parts.scheme}": pycoderd runs on PostgreSQL '
            f"({PG_URL_EXAMPLE}) or, with the option empty, on its embedded SQLite database"
        )
    if not parts.path.strip("/"):
        raise OptionError(f"{PG_URL_OPTION}: no database name; expected {PG_URL_EXAMPLE}")


def check_connection(settings, timeout: int = 10) -> None:
    """Connect once to the configured PostgreSQL database, or raise an OptionError saying why
    (server unreachable, no such database, authentication failed...). SQLite: nothing to do."""
    url = settings["pg_connection_url"]
    if not url:
        return
    check_pg_url(url)
    probe = connect_url(url, connect_timeout=timeout)
    try:
        probe.connect()
    except (DatabaseError, InterfaceError) as exc:
        reason = " ".join(str(exc).split())  # libpq's lines and tabs, as one line
        raise OptionError(f"{PG_URL_OPTION}: cannot connect: {reason}") from None
    finally:
        probe.close()


def open_database(settings, instance_path: str):
    """Build the configured database (not yet connected) and bind the proxy to it."""
    url = settings["pg_connection_url"]
    if url:
        check_pg_url(url)
        if url.startswith(("postgres://", "postgresql://")):
            url = url.replace("://", "+pool://", 1)
        # jit off: compiling a plan costs ~100 ms, more than any of pycoderd's queries save
        # (a one-year weekly metrics query went from 20 ms to 190 ms at 10^6 rows with it on).
        db = connect_url(
            url, max_connections=32, stale_timeout=300, timeout=10, options="-c jit=off"
        )
    else:
        path = settings["pycoderd.sqlite_path"] or os.path.join(instance_path, "pycoderd.sqlite3")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Pooled: the pragmas run once per connection, not once per request.
        # IMMEDIATE: a writer takes the lock when its transaction starts, so concurrent
        # writers wait for busy_timeout instead of failing on a lock upgrade.
        db = PooledSqliteDatabase(
            path,
            pragmas=SQLITE_PRAGMAS,
            lock_type="IMMEDIATE",
            max_connections=32,
            stale_timeout=300,
            check_same_thread=False,
        )
    database.initialize(db)
    return db


def is_postgres() -> bool:
    return not isinstance(database.obj, SqliteDatabase)


def close() -> None:
    """End the request's use of the database (a pooled connection goes back to the pool).

    Requests connect lazily, on their first query, so routes that need no database pay nothing.
    """
    if not database.is_closed():
        database.close()


class PreparedSelect:
    """A model SELECT rendered to SQL once per database, then re-run with new values.

    Peewee renders SQL from its query tree and resolves the result columns on every execution;
    for a wide join that costs more than running the query (the per-request key lookup spent
    1.3 ms of 2 ms there). Here both are done once: `build(*placeholders)` returns the query,
    its placeholders standing for the values later given to `first()` or `all()` (database values:
    strings, numbers); rows are turned into models (joined models attached, as `get()` does)
    by peewee's own cursor wrapper, initialized once from the first result.
    """

    def __init__(self, build):
        self.build = build
        self._rendered = weakref.WeakKeyDictionary()  # database -> _Rendered
        self._lock = threading.Lock()

    def _render(self, db) -> _Rendered:
        with self._lock:
            rendered = self._rendered.get(db)
            if rendered is None:
                count = self.build.__code__.co_argcount
                markers = tuple(f"\x00prepared-{i}\x00" for i in range(count))
                query = self.build(*markers)
                sql, params = query.sql()
                slots = [markers.index(p) if p in markers else None for p in params]
                if set(slots) - {None} != set(range(count)):
                    # e.g. startswith(x) sends `x || '%'`: not a value that can be swapped.
                    raise ValueError("every placeholder must be compared as a plain value")
                rendered = self._rendered[db] = _Rendered(query, sql, params, slots)
            return rendered

    def first(self, *values):
        """The first row as a model instance, or None."""
        rendered, cursor = self._execute(values)
        row = cursor.fetchone()
        if row is None:
            return None
        return rendered.wrapper_for(cursor).process_row(row)

    def all(self, *values) -> list:
        """Every row, as the query's rows (model instances, dicts or tuples)."""
        rendered, cursor = self._execute(values)
        rows = cursor.fetchall()
        if not rows:
            return []
        process = rendered.wrapper_for(cursor).process_row
        return [process(row) for row in rows]

    def _execute(self, values):
        rendered = self._rendered.get(database.obj) or self._render(database.obj)
        bound = [
            values[s] if s is not None else p
            for p, s in zip(rendered.params, rendered.slots, strict=True)
        ]
        return rendered, database.execute_sql(rendered.sql, bound)


class _Rendered:
    __slots__ = ("query", "sql", "params", "slots", "wrapper")

    def __init__(self, query, sql, params, slots):
        self.query, self.sql, self.params, self.slots = query, sql, params, slots
        self.wrapper = None

    def wrapper_for(self, cursor):
        """peewee's cursor wrapper for this query, initialized once from the first result
        (cursor.description is the same on every run of this SQL)."""
        if self.wrapper is None:
            wrapper = self.query._get_cursor_wrapper(cursor)
            wrapper.initialize()
            wrapper.cursor = None
            # Text columns come back as str from both drivers: peewee's str() is a no-op.
            if hasattr(wrapper, "_row_spec"):  # models joined to models
                wrapper._row_spec = tuple(
                    (i, key, column, None if _is_text(wrapper.fields[i]) else convert)
                    for i, key, column, convert in wrapper._row_spec
                )
            elif hasattr(wrapper, "convert"):  # one model, dicts or tuples
                text = [i for i in wrapper.convert if _is_text(wrapper.fields[i])]
                wrapper.convert = [i for i in wrapper.convert if i not in text]
                wrapper.no_convert = [*wrapper.no_convert, *text]
            self.wrapper = wrapper
        return self.wrapper


def _is_text(field) -> bool:
    return (
        isinstance(field, _StringField)
        and type(field).python_value is Field.python_value
        and type(field).adapt is _StringField.adapt
    )


def migration_runner() -> Runner:
    return Runner(database.obj, directory=str(MIGRATIONS_DIR))


def upgrade(target: str | None = None) -> list[str]:
    """Apply pending migrations (under a lock on PostgreSQL, so one process does it)."""
    with database.connection_context():
        if is_postgres():
            database.execute_sql("SELECT pg_advisory_lock(727274)")
            try:
                return migration_runner().up(target)
            finally:
                database.execute_sql("SELECT pg_advisory_unlock(727274)")
        return migration_runner().up(target)


def downgrade(target: str | None = None) -> list[str]:
    with database.connection_context():
        return migration_runner().down(target)


def status():
    with database.connection_context():
        return migration_runner().status()


def pending() -> list[str]:
    try:
        return [m.name for m in status() if not m.applied and m.path]
    except OperationalError:
        return ["(database unreachable)"]
