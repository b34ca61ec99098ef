"""Exit 0 when the test PostgreSQL answers (`python -m tests.pg_available`)."""

import os
import sys

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    return os.environ.get("PYCODERD_TEST_PG_URL") or DEFAULT_URL


def available() -> bool:
    import psycopg2

    try:
        psycopg2.connect(admin_url(), connect_timeout=3).close()
    except psycopg2.Error:
        return False
    return True


if __name__ == "__main__":
    sys.exit(0 if available() else 1)
