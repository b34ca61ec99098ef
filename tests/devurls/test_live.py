"""The proxy inside a real `pycoderd server` (gunicorn): bounded memory, chunked uploads, 504."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.devurls.conftest import live_proxy, make_devurl, make_workspace
from tests.devurls.upstream import MB
from tests.factories import make_user
from tests.support import live_server

BIG_MB = 64
# A worker that held a 64 MiB body would grow by at least that much; streaming stays flat.
GROWTH_LIMIT = 16 * MB


@pytest.fixture
def server(app, tmp_path, pg_database):
    """pycoderd server on the test's own database, with a one-second proxy timeout."""
    yield from live_proxy(tmp_path, pg_database, CODER_DEVURL_PROXY_TIMEOUT="1s")


@pytest.fixture
def public_url(client, upstream):
    owner = make_user(username="streamer")
    workspace = make_workspace(owner, name="big")
    make_devurl(workspace, upstream.port, access="PUBLIC", name="blob")
    return "blob--streamer.apps.test"


def _worker_peak_rss(server) -> int:
    """VmHWM (peak resident memory) of the single gunicorn worker, in bytes."""
    children = live_server.worker_pids(server)
    assert len(children) == 1, children
    for line in Path(f"/proc/{children[0]}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _get(server, host, path, **kwargs):
    return requests.get(f"{server.url}{path}", headers={"Host": host}, timeout=30, **kwargs)


def test_large_bodies_stream_with_bounded_memory(server, public_url):
    warm = _get(server, public_url, "/big?mb=1")
    assert warm.status_code == 200 and len(warm.content) == MB
    before = _worker_peak_rss(server)

    received = 0
    with _get(server, public_url, f"/big?mb={BIG_MB}", stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(BIG_MB * MB)
        for chunk in response.iter_content(256 * 1024):
            received += len(chunk)
    assert received == BIG_MB * MB

    def upload():
        block = b"u" * (256 * 1024)
        for _ in range(BIG_MB * MB // len(block)):
            yield block

    # A generator body goes out chunked: gunicorn de-chunks it, the proxy re-chunks it.
    posted = requests.post(
        f"{server.url}/count", data=upload(), headers={"Host": public_url}, timeout=60
    )
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"body_length": BIG_MB * MB}
    sized = requests.post(
        f"{server.url}/count",
        data=b"s" * (8 * MB),
        headers={"Host": public_url},
        timeout=60,
    )
    assert sized.json() == {"body_length": 8 * MB}

    growth = _worker_peak_rss(server) - before
    assert growth < GROWTH_LIMIT, f"worker peak memory grew by {growth / MB:.1f} MiB"


def test_slow_upstream_gives_504_and_frees_the_worker(server, public_url):
    slow = _get(server, public_url, "/slow?seconds=5")
    assert slow.status_code == 504
    assert slow.json()["error"]["code"] == "gateway_timeout"
    assert "1 s" in slow.json()["error"]["details"]
    assert _get(server, public_url, "/hello").json()["path"] == "/hello"
    assert requests.get(f"{server.url}/healthz", timeout=5).text == "OK"
