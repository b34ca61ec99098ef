"""A release feed on loopback (what the update check fetches), counting the requests it serves.

Fixture `releases` (enabled for every test through `pytest_plugins` in tests/conftest.py):
`releases.url` is the feed's URL; set `releases.release` to the document it serves (GitHub's
"latest release": `tag_name`, `html_url`); `releases.hits` counts the requests.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Releases(BaseHTTPRequestHandler):
    release: dict = {}
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        body = json.dumps(self.release).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def releases():
    handler = type("Handler", (_Releases,), {"release": {}, "hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/releases/latest"
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
