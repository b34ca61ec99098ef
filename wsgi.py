"""WSGI entry point for running under your own gunicorn: `gunicorn wsgi:app`.

Run `pycoderd db upgrade` first (or use `pycoderd server`, which migrates once and then serves).
"""

from app import create_app

app = create_app()
