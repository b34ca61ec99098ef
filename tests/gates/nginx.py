"""A private nginx (Debian's binary, its own config in a temporary directory) terminating TLS in
front of a pycoderd server; and a tiny HTTP(S) client that picks its loopback source address."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from tests.support import processes, tls

CONFIG = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log info;
{user}
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
{servers}
}}
"""

SERVER = """
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        location / {{
            proxy_pass {upstream};
            proxy_bind {bind};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
        }}
    }}
"""


def binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )


def self_signed(root: Path) -> None:
    cert, key = tls.self_signed("localhost")
    (root / "cert.pem").write_bytes(cert)
    (root / "key.pem").write_bytes(key)


class Nginx:
    """nginx with one TLS server per (port, proxy_bind source address) pair."""

    def __init__(self, root: Path, upstream: str, binds: dict[str, int]):
        self.binds = binds  # source address the proxy connects upstream from -> listen port
        root.mkdir(parents=True, exist_ok=True)
        self_signed(root)
        servers = "".join(
            SERVER.format(port=port, root=root, upstream=upstream, bind=bind)
            for bind, port in binds.items()
        )
        self.serve(root, servers, list(binds.values()))

    @classmethod
    def with_servers(cls, root: Path, servers: str, ports: list[int]) -> Nginx:
        """nginx with `servers` (text for its http block) listening on `ports`."""
        proxy = cls.__new__(cls)
        proxy.binds = {}
        root.mkdir(parents=True, exist_ok=True)
        proxy.serve(root, servers, ports)
        return proxy

    def serve(self, root: Path, servers: str, ports: list[int]) -> None:
        self.root = root
        user = "user root root;" if os.geteuid() == 0 else ""
        (root / "nginx.conf").write_text(CONFIG.format(root=root, servers=servers, user=user))
        # In the foreground (`daemon off;`), so the master gets the parent-death signal.
        self.process = processes.start(
            [binary(), "-p", str(root), "-c", str(root / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(root / "stderr.log", "w"),  # noqa: SIM115 - closed with the process
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        for port in ports:
            while not _listening(port):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError((root / "stderr.log").read_text() + self.error_log())
                time.sleep(0.1)

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        """Stop the master (by its pid; its workers follow)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def call(
    port: int,
    method: str,
    path: str,
    *,
    source: str,
    tls: bool,
    body: dict | None = None,
    headers: dict | None = None,
):
    """One request to 127.0.0.1:port from the loopback address `source`.

    Returns (status, headers as a list of pairs, parsed JSON body or text).
    """
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # our own throwaway certificate
        connection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=30, source_address=(source, 0), context=context
        )
    else:
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=30, source_address=(source, 0)
        )
    payload = json.dumps(body).encode() if body is not None else None
    request_headers = {"Content-Type": "application/json", **(headers or {})}
    try:
        connection.request(method, path, body=payload, headers=request_headers)
        response = connection.getresponse()
        raw = response.read().decode()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return response.status, response.getheaders(), parsed
    finally:
        connection.close()
