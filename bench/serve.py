"""Serve pycoderd or the bare baseline with pycoderd's gunicorn configuration.

python -m bench.serve pycoderd|bare   (settings from the CODER_* environment)
"""

from __future__ import annotations

import sys

from app import options
from app.gunicorn_server import PycoderdServer, gunicorn_options


class BareServer(PycoderdServer):
    def load(self):
        from bench.bare_app import create_bare_app

        return create_bare_app()


def main(argv: list[str]) -> None:
    settings = options.load()
    config = gunicorn_options(settings)
    server_class = BareServer if argv[:1] == ["bare"] else PycoderdServer
    server_class({}, config).run()


if __name__ == "__main__":
    main(sys.argv[1:])
