"""Issue 14 findings 4 and 5: dev URLs that lead back to pycoderd, and host mode's promise.

A PUBLIC dev URL on pycoderd's own port (host network) made the proxy call itself until the
timeout while /healthz stopped answering. Now pycoderd's own ports are refused as targets, and a
request that comes back through the proxy (any other way round: here a TCP forwarder) is 508.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from tests.devurls.conftest import dev_host, live_proxy, make_devurl, make_workspace
from tests.factories import make_user


class Forwarder:
    """A TCP relay on loopback to `port`: a workspace app that happens to lead to pycoderd."""

    def __init__(self, port: int):
        self.target = port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        self.sock.close()


@pytest.fixture
def server(app, tmp_path, pg_database):
    # The timeout the review met: a loop must end long before it.
    yield from live_proxy(tmp_path, pg_database, CODER_DEVURL_PROXY_TIMEOUT="30s")


def _port(server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _public(port: int, name: str) -> str:
    owner = make_user(username=f"{name}owner")
    workspace = make_workspace(owner, name=f"{name}ws")
    make_devurl(workspace, port, access="PUBLIC", name=name)
    return dev_host(f"{name}--{name}owner")


def _timed_get(server, host):
    started = time.monotonic()
    response = requests.get(f"{server.url}/", headers={"Host": host}, timeout=60)
    return response, time.monotonic() - started


def _healthy(server):
    started = time.monotonic()
    assert requests.get(f"{server.url}/healthz", timeout=5).text == "OK"
    assert time.monotonic() - started < 2


def test_a_public_dev_url_on_pycoderds_own_port_is_508(server):
    host = _public(_port(server), "self")
    response, took = _timed_get(server, host)
    assert response.status_code == 508, response.text
    assert response.json()["error"]["code"] == "loop_detected"
    assert "CODER_HTTP_ADDRESS" in response.json()["error"]["details"]
    assert took < 2
    _healthy(server)


def test_a_loop_through_another_hop_is_508(server):
    forwarder = Forwarder(_port(server))
    try:
        host = _public(forwarder.port, "round")
        threads = []
        results = []
        for _ in range(6):  # more than one visitor at once: no thread is held for long
            thread = threading.Thread(target=lambda: results.append(_timed_get(server, host)))
            thread.start()
            threads.append(thread)
        _healthy(server)
        for thread in threads:
            thread.join(timeout=30)
        assert len(results) == 6
        for response, took in results:
            assert response.status_code == 508, response.text
            assert "came back" in response.json()["error"]["details"]
            assert took < 5
    finally:
        forwarder.stop()
    _healthy(server)


def test_host_mode_says_it_is_single_tenant_at_start(server, tmp_path):
    log = (tmp_path / "server.log").read_text()
    assert "CODER_WORKSPACE_NETWORK=host is a single-tenant mode" in log


def test_a_hop_mark_of_another_deployment_is_passed_on(client, upstream):
    """A pycoderd developed inside a workspace sees the outer deployment's mark: not a loop."""
    host = _public(upstream.port, "inner")
    response = client.get("/", base_url=f"http://{host}", headers={"X-Pycoderd-Hop": "outer"})
    assert response.status_code == 200
    marks = response.json["headers"]["x-pycoderd-hop"].split(", ")
    assert marks[0] == "outer" and len(marks) == 2 and marks[1] != "outer"
    again = client.get("/", base_url=f"http://{host}", headers={"X-Pycoderd-Hop": marks[1]})
    assert again.status_code == 508
