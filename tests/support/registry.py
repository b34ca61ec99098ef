"""A real OCI registry (Debian's docker-registry) on loopback, and images pushed to it by hand.

Fixtures (enabled for every test through `pytest_plugins` in tests/conftest.py):
- `registry`: an open registry for the session; `registry.host` is "127.0.0.1:PORT".
- `auth_registry`: one with htpasswd auth (`registry.username`, `registry.password`).
- `token_registry`: one with Docker's bearer-token auth; its token service (`registry.issuer`,
  another loopback port) takes the same kind of username and password.

`registry.push_image("team/app", "latest", files={"/etc/hello": "hi"})` builds a small image
(busybox-static with its applets in /bin, an /etc/os-release, then the given files as a layer on
top), pushes blobs and manifest through the distribution API (app/starter/oci.py, which builds the
offline starter image the same way) and returns the manifest digest. Nothing is downloaded; the
registry serves plain HTTP, so Podman needs it marked insecure.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from app.starter import oci
from app.starter.oci import OCI_INDEX, OCI_MANIFEST
from tests.support import processes
from tests.support.live_server import free_port

DOCKER_REGISTRY = "/usr/bin/docker-registry"
BUSYBOX = oci.BUSYBOX
HOW_TO_GET = "install Debian's docker-registry and busybox-static (bash .ci/services.sh)"

DEFAULT_OS_RELEASE = (
    'PRETTY_NAME="Busybox Test Linux 1.0"\n'
    'NAME="Busybox Test Linux"\nID=busyboxtest\nVERSION_ID=1.0\n'
    'HOME_URL="https://busybox.net/"\n'
)


def available() -> bool:
    return os.access(DOCKER_REGISTRY, os.X_OK) and os.access(BUSYBOX, os.X_OK)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Docker's token service on loopback: RS256 JWTs (x5c header) that the registry trusts."""

    service = "pycoderd-test-registry"
    name = "pycoderd-test-issuer"

    def __init__(self, root: Path, username: str, password: str):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.username, self.password = username, password
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pycoderd test tokens")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = root / "token.crt"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.requests: list[dict] = []  # what the service was asked, for assertions
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                account = issuer.check(self.headers.get("Authorization", ""))
                issuer.requests.append({"account": account, "scope": query.get("scope", [])})
                if account is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": issuer.token(query.get("scope", []), account)})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def check(self, authorization: str) -> str | None:
        """The account for a Basic header: "" for none, None for wrong credentials."""
        if not authorization:
            return ""
        try:
            user, _, password = (
                base64.b64decode(authorization.split(" ", 1)[1]).decode().partition(":")
            )
        except (IndexError, ValueError):
            return None
        return user if (user, password) == (self.username, self.password) else None

    def token(self, scopes: list[str], account: str) -> str:
        """A signed token; anonymous callers get no access at all."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        access = []
        for scope in scopes if account else []:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": self.name,
            "sub": account,
            "aud": self.service,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _BearerFromIssuer(requests.auth.AuthBase):
    """Push and pull with a token minted for the repository in the request's path."""

    def __init__(self, issuer: TokenIssuer, account: str):
        self.issuer, self.account = issuer, account

    def __call__(self, request):
        path = urllib.parse.urlsplit(request.url).path
        match = re.match(r"^/v2/(.+?)/(?:blobs|manifests|tags)/", path)
        scopes = [f"repository:{match.group(1)}:pull,push"] if match else []
        request.headers["Authorization"] = f"Bearer {self.issuer.token(scopes, self.account)}"
        return request


@dataclass
class Registry:
    """A running docker-registry; stop() ends it by pid."""

    host: str  # 127.0.0.1:PORT
    root: Path
    process: subprocess.Popen | None = None
    username: str = ""
    password: str = ""
    issuer: TokenIssuer | None = None
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth(self):
        if self.issuer is not None:
            return _BearerFromIssuer(self.issuer, self.username)
        return (self.username, self.password) if self.username else None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.issuer is not None:
            self.issuer.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def pusher(self) -> oci.Pusher:
        return oci.Pusher(self.url, self.auth, self._session)

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.pusher.request(method, path, **kwargs)

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload a blob unless the registry has it; return its digest."""
        return self.pusher.push_blob(repo, data)

    def push_manifest(self, repo: str, reference: str, manifest: dict, media_type: str) -> str:
        return self.pusher.push_manifest(repo, reference, manifest, media_type)

    def push_image(
        self,
        repo: str,
        tag: str,
        files: dict[str, bytes | str] | None = None,
        *,
        os_release: str | None = DEFAULT_OS_RELEASE,
        busybox: bool = True,
        cmd: list[str] | None = None,
        docker: bool = False,
    ) -> str:
        """Build and push an image to repo:tag; return the manifest digest ("sha256:…").

        Layers bottom-up: busybox (optional), /etc/os-release (unless None), `files`.
        `docker=True` pushes Docker schema 2 media types instead of OCI ones.
        """
        raw_layers = []
        if busybox:
            raw_layers.append(oci.busybox_layer())
        if os_release is not None:
            raw_layers.append(oci.files_layer({"/etc/os-release": os_release}))
        if files:
            raw_layers.append(oci.files_layer(files))
        return self.pusher.push_image(repo, tag, raw_layers, cmd or ["/bin/sh"], docker=docker)

    def push_index(self, repo: str, tag: str, manifest_digests: list[str]) -> str:
        """Push an OCI image index (amd64/linux entries) over already pushed manifests."""
        entries = []
        for digest in manifest_digests:
            manifest = self._request(
                "GET", f"/v2/{repo}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}
            )
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(manifest.content),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            )
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return self.push_manifest(repo, tag, index, OCI_INDEX)


def _htpasswd_line(username: str, password: str) -> str:
    import bcrypt  # test dependency; only the auth registry needs it

    return f"{username}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


def start(
    root: Path, *, username: str = "", password: str = "", token_auth: bool = False
) -> Registry:
    """Start docker-registry on a free loopback port, storing under `root`.

    With a username: htpasswd (basic) auth, or with `token_auth` a bearer-token service of
    its own on another loopback port that accepts that username and password.
    """
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    issuer = None
    if token_auth:
        issuer = TokenIssuer(root, username, password)
        config["auth"] = {
            "token": {
                "realm": f"{issuer.url}/token",
                "service": issuer.service,
                "issuer": issuer.name,
                "rootcertbundle": str(issuer.cert_path),
            }
        }
    elif username:
        (root / "htpasswd").write_text(_htpasswd_line(username, password))
        config["auth"] = {"htpasswd": {"realm": "pycoderd-test", "path": str(root / "htpasswd")}}
    (root / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    log = open(root / "registry.log", "w")  # noqa: SIM115 - closed with the process
    process = processes.start(
        [DOCKER_REGISTRY, "serve", str(root / "config.yml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    registry = Registry(
        host=f"127.0.0.1:{port}",
        root=root,
        process=process,
        username=username,
        password=password,
        issuer=issuer,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            status = requests.get(f"{registry.url}/v2/", timeout=2).status_code
            if status in (200, 401):
                return registry
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    registry.stop()
    raise RuntimeError(f"docker-registry did not start: {(root / 'registry.log').read_text()}")


def require_available() -> None:
    if available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"docker-registry/busybox missing under CI=true: {HOW_TO_GET}")
    pytest.skip(f"no local registry: {HOW_TO_GET}")


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """An open docker-registry on loopback for the whole session."""
    require_available()
    running = start(tmp_path_factory.mktemp("registry"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory):
    """A docker-registry with htpasswd (basic) auth; credentials on the object."""
    require_available()
    running = start(
        tmp_path_factory.mktemp("auth-registry"),
        username="pusher",
        password=secrets.token_urlsafe(12),
    )
    yield running
    running.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory):
    """A docker-registry with bearer-token auth; its token service is `registry.issuer`."""
    require_available()
    running = start(
        tmp_path_factory.mktemp("token-registry"),
        username="puller",
        password=secrets.token_urlsafe(12),
        token_auth=True,
    )
    yield running
    running.stop()
